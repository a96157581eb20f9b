#!/bin/bash
# hooks_emulator: the OpenTunnel request the hooks shape is the one AWS
# gets. hookcat (the hooks run as iot-ssh-proxy runs them, then
# OpenTunnel through libist) talks to the emulator; DescribeTunnel through
# the real AWS CLI shows the hooks' thing, tags, lifetime and description.
# A denial, an unsafe hooks file or a request AWS would refuse sends
# nothing at all.
. "$(dirname "$0")/lib.sh"
: "${IST_HOOKCAT:?set by ctest}"

start_emulator
export AWS_ENDPOINT_URL=$EMU_URL AWS_CA_BUNDLE=$IST_CA
mkdir -m 700 "$T/hooks"
hooks=$T/hooks/hooks.lua
cat > "$hooks" <<'LUA'
local isp = require "iot_ssh_proxy"
function on_resolve(t)
  t.thing = t.host:match("^([%w-]+)%.tunnel$") or t.thing
end
function on_open_tunnel(r, t)
  local ok, why = isp.tag_from_env(r, "TICKET", "ticket", "^[A-Z]+%-%d+$")
  if not ok then return false, why end
  isp.tag_with_user(r)
  isp.cap_lifetime(r, 45)
  r.description = "ssh " .. t.host .. " for " .. isp.get_tag(r, "ticket")
  if os.getenv("BREAK_TAG") then r.tags[1].key = "no spaces!" end
end
function on_tunnel_opened(tn, t)
  local f = assert(io.open(os.getenv("AUDIT"), "a"))
  f:write(tn.tunnelId, " ", tn.tunnelArn, " ", tn.region, "\n")
  f:close()
end
LUA
chmod 644 "$hooks"

count_tunnels() {
	aws_emu iotsecuretunneling list-tunnels > "$T/list.json" ||
		fail "list-tunnels"
	"$IST_PY" -c 'import json, sys
print(len(json.load(open(sys.argv[1]))["tunnelSummaries"]))' "$T/list.json"
}

# 1. Edits reach AWS.
TICKET=OPS-7 AUDIT=$T/audit "$IST_HOOKCAT" --hooks "$hooks" --open \
	kiosk-17.tunnel 22 root 0 2> "$T/hc1.err" ||
	fail "hookcat: $(cat "$T/hc1.err")"
id=$(sed -n 's/^hookcat: opened //p' "$T/hc1.err")
[ -n "$id" ] || fail "no tunnel id: $(cat "$T/hc1.err")"
aws_emu iotsecuretunneling describe-tunnel --tunnel-id "$id" \
	> "$T/desc.json" || fail "describe-tunnel"
assert_eq "$(json_get "$T/desc.json" tunnel.destinationConfig)" \
	'{"services": ["SSH"], "thingName": "kiosk-17"}' "destinationConfig"
assert_eq "$(json_get "$T/desc.json" \
	tunnel.timeoutConfig.maxLifetimeTimeoutMinutes)" 45 "lifetime"
assert_eq "$(json_get "$T/desc.json" tunnel.description)" \
	"ssh kiosk-17.tunnel for OPS-7" "description"
"$IST_PY" - "$T/desc.json" "$(hostname)" <<'PY' || fail "tags: $(json_get "$T/desc.json" tunnel.tags)"
import json, sys
tags = {t["key"]: t["value"]
        for t in json.load(open(sys.argv[1]))["tunnel"]["tags"]}
assert tags == {"ticket": "OPS-7", "iot-ssh-proxy:user": "root",
                "iot-ssh-proxy:host": sys.argv[2]}, tags
PY
assert_eq "$(cat "$T/audit")" \
	"$id arn:aws:iot:us-east-1:123456789012:tunnel/$id us-east-1" "audit"
assert_eq "$(count_tunnels)" 1 "tunnels after the first"

# 2. A denial sends nothing.
rc=0
env -u TICKET AUDIT=$T/audit "$IST_HOOKCAT" --hooks "$hooks" --open \
	kiosk-17.tunnel 22 root 0 2> "$T/hc2.err" || rc=$?
assert_eq "$rc" 4 "exit code of a denial"
assert_contains "$(cat "$T/hc2.err")" \
	"on_open_tunnel denied the tunnel: set TICKET first"

# 3. Neither does a request AWS would refuse, named by its field.
rc=0
TICKET=OPS-8 BREAK_TAG=1 AUDIT=$T/audit "$IST_HOOKCAT" --hooks "$hooks" \
	--open kiosk-17.tunnel 22 root 0 2> "$T/hc3.err" || rc=$?
assert_eq "$rc" 1 "exit code of a refused request"
assert_contains "$(cat "$T/hc3.err")" "AWS would refuse"
assert_contains "$(cat "$T/hc3.err")" "tags[0].key"

# 4. Nor an unsafe hooks file.
chmod 664 "$hooks"
rc=0
TICKET=OPS-9 AUDIT=$T/audit "$IST_HOOKCAT" --hooks "$hooks" --open \
	kiosk-17.tunnel 22 root 0 2> "$T/hc4.err" || rc=$?
assert_eq "$rc" 3 "exit code of an unsafe hooks file"
assert_contains "$(cat "$T/hc4.err")" "refusing hooks file $hooks"

assert_eq "$(count_tunnels)" 1 "tunnels at the end"
echo "hooks_emulator: ok"
