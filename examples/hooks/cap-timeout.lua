-- cap-timeout.lua: no tunnel lives longer than an hour (AWS's default is
-- 12 hours), and production things get 15 minutes.
local isp = require "iot_ssh_proxy"

function on_open_tunnel(request, target)
  isp.cap_lifetime(request, 60)
  if isp.host_matches(target.thing, "*-prod-*") then
    isp.cap_lifetime(request, 15)
  end
end
