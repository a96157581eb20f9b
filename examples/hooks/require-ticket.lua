-- require-ticket.lua: no tunnel without a change ticket:
--   TICKET=OPS-1234 ssh kiosk-17
-- The ticket becomes a tag and the tunnel's description.
local isp = require "iot_ssh_proxy"

function on_open_tunnel(request, target)
  local ok, why = isp.tag_from_env(request, "TICKET", "ticket",
    "^[A-Z]+%-%d+$")
  if not ok then
    return false, why
  end
  request.description = ("%s: ssh %s by %s"):format(
    isp.get_tag(request, "ticket"), target.host, isp.username())
end
