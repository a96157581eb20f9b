-- map-host-to-thing.lua: "ssh kiosk-17.eu" reaches thing kiosk-17 in
-- eu-west-1; only kiosks and gateways are reachable; old gateways run the
-- AWS IoT Device Client, which speaks the V1 tunnel protocol only.
local isp = require "iot_ssh_proxy"

local regions = { eu = "eu-west-1", us = "us-east-1", ap = "ap-southeast-2" }

function on_resolve(target)
  local name, zone = target.host:match("^([%w_:-]+)%.(%a+)$")
  if name and regions[zone] then
    target.thing = name
    target.region = regions[zone]
  end
  if isp.host_matches(target.thing, "gateway-v1-*") then
    target.destination_client_type = "V1"
  end
  if not isp.host_matches(target.thing, { "kiosk-*", "gateway-*" }) then
    return false, ("%s is not a kiosk or a gateway"):format(target.thing)
  end
end
