-- iot_ssh_proxy: helpers for iot-ssh-proxy hooks (README "Hooks").
--
--   local isp = require "iot_ssh_proxy"
--
-- Helpers that decide return `true` or `false, "reason"`, so a hook can
-- end with `return isp.allow_hosts(target, {...})`. Helpers that edit the
-- OpenTunnel request change the table in place and return it.

local core = require "iot_ssh_proxy.core"

local M = {
  version = core.version,   -- iot-ssh-proxy's version, e.g. "0.1.0"
  log = core.log,           -- log(level, message): "error", "info",
                            -- "verbose", "debug" (or 1..6); shown per -v
  array = core.array,       -- array(t): send t as a JSON list even if empty
  username = core.username, -- the local user running the proxy
  hostname = core.hostname, -- this machine's name
}

-- AWS limits on tags (TagResource): keys 1..128, values 0..256 characters,
-- at most 50 tags; the prefix "aws:" is reserved.
M.MAX_TAGS = 50
M.MAX_LIFETIME = 720

-- glob(s, pattern): OpenSSH-style pattern with * and ?, case-insensitive.
function M.glob(s, pattern)
  local p = { "^" }
  for ch in pattern:lower():gmatch(".") do
    if ch == "*" then
      p[#p + 1] = ".*"
    elseif ch == "?" then
      p[#p + 1] = "."
    elseif ch:match("%p") then
      p[#p + 1] = "%" .. ch
    else
      p[#p + 1] = ch
    end
  end
  p[#p + 1] = "$"
  return s:lower():find(table.concat(p)) ~= nil
end

-- host_matches(host, patterns): like an ssh_config Host line. patterns is
-- a list (or one string with patterns split by spaces or commas); a
-- pattern starting with "!" excludes. True when a positive pattern matches
-- and no negated one does.
function M.host_matches(host, patterns)
  if type(patterns) == "string" then
    local list = {}
    for p in patterns:gmatch("[^%s,]+") do list[#list + 1] = p end
    patterns = list
  end
  local hit = false
  for _, p in ipairs(patterns) do
    if p:sub(1, 1) == "!" then
      if M.glob(host, p:sub(2)) then return false end
    elseif M.glob(host, p) then
      hit = true
    end
  end
  return hit
end

-- allow_hosts(target, patterns): true, or false and a reason when
-- target.host is not matched.
function M.allow_hosts(target, patterns)
  if M.host_matches(target.host, patterns) then return true end
  return false, ("host %s is not in the allowed hosts"):format(target.host)
end

-- deny_hosts(target, patterns): false and a reason when target.host is
-- matched, true otherwise.
function M.deny_hosts(target, patterns)
  if M.host_matches(target.host, patterns) then
    return false, ("host %s is denied by policy"):format(target.host)
  end
  return true
end

-- get_tag(request, key): the value of tag key, or nil.
function M.get_tag(request, key)
  for _, t in ipairs(request.tags or {}) do
    if t.key == key then return t.value end
  end
  return nil
end

-- set_tag(request, key, value): sets or replaces one tag. Raises an error
-- for a key or value AWS would refuse, so mistakes show at once.
function M.set_tag(request, key, value)
  value = tostring(value)
  if type(key) ~= "string" or #key < 1 or #key > 128 then
    error("tag key must have 1 to 128 characters", 2)
  end
  if key:lower():sub(1, 4) == "aws:" then
    error("tag keys starting with aws: are reserved by AWS", 2)
  end
  if #value > 256 then
    error(("tag %s: value longer than 256 characters"):format(key), 2)
  end
  request.tags = request.tags or core.array()
  for _, t in ipairs(request.tags) do
    if t.key == key then
      t.value = value
      return request
    end
  end
  if #request.tags >= M.MAX_TAGS then
    error(("tag %s: a tunnel has at most %d tags"):format(key, M.MAX_TAGS), 2)
  end
  request.tags[#request.tags + 1] = { key = key, value = value }
  return request
end

-- cap_lifetime(request, minutes): the tunnel lives at most minutes (AWS's
-- default, when the request names none, is 720).
function M.cap_lifetime(request, minutes)
  minutes = math.tointeger(minutes)
  if not minutes or minutes < 1 or minutes > M.MAX_LIFETIME then
    error("cap_lifetime: minutes must be an integer from 1 to 720", 2)
  end
  request.timeoutConfig = request.timeoutConfig or {}
  local cur = request.timeoutConfig.maxLifetimeTimeoutMinutes or M.MAX_LIFETIME
  request.timeoutConfig.maxLifetimeTimeoutMinutes = math.min(cur, minutes)
  return request
end

-- require_env(name, pattern): the value of environment variable name, or
-- nil and a reason when it is unset, empty, or does not match the Lua
-- pattern (anchor it: "^[A-Z]+%-%d+$").
function M.require_env(name, pattern)
  local v = os.getenv(name)
  if not v or v == "" then
    return nil, ("set %s first (e.g. %s=OPS-123 ssh host)"):format(name, name)
  end
  if pattern and not v:find(pattern) then
    return nil, ("%s=%q does not match %s"):format(name, v, pattern)
  end
  return v
end

-- tag_from_env(request, name, key, pattern): requires environment
-- variable name (see require_env) and tags the tunnel key=value (key
-- defaults to name). true, or false and a reason.
function M.tag_from_env(request, name, key, pattern)
  local v, why = M.require_env(name, pattern)
  if not v then return false, why end
  M.set_tag(request, key or name, v)
  return true
end

-- tag_with_user(request): tags who opened the tunnel and from where:
-- iot-ssh-proxy:user and iot-ssh-proxy:host.
function M.tag_with_user(request)
  M.set_tag(request, "iot-ssh-proxy:user", core.username())
  M.set_tag(request, "iot-ssh-proxy:host", core.hostname())
  return request
end

return M
