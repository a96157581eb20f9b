-- tag-with-user.lua: tag every tunnel with who opened it, from which
-- machine and for which ssh host, so that DescribeTunnel and the AWS
-- console show it; log the tunnel id for the audit trail.
local isp = require "iot_ssh_proxy"

function on_open_tunnel(request, target)
  isp.tag_with_user(request)         -- iot-ssh-proxy:user, iot-ssh-proxy:host
  isp.set_tag(request, "iot-ssh-proxy:ssh-host", target.host)
end

function on_tunnel_opened(tunnel, target)
  isp.log("info", ("tunnel %s to %s opened by %s"):format(
    tunnel.tunnelId, target.thing, isp.username()))
end
