#!/bin/bash
# The proxy runs the Lua hooks, through a real ssh (ProxyCommand) into
# the emulator and the agent's sshd: on_resolve maps the ssh host to a
# thing, on_open_tunnel shapes the request and DescribeTunnel (AWS CLI)
# shows the thing, tags, lifetime and description AWS got;
# on_tunnel_opened and on_tunnel_closed audit. A denial (either hook),
# a request AWS would refuse and a hooks file others can write stop the
# proxy with exit 3 and the reason, and open no tunnel.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

start_tunnel_world
unset TICKET BREAK_TAG
export AUDIT=$T/audit
mkdir -m 700 "$T/hooks"
hooks=$T/hooks/hooks.lua
cat > "$hooks" <<'LUA'
local isp = require "iot_ssh_proxy"
function on_resolve(t)
  if t.host == "blocked" then
    return false, "blocked is off limits"
  end
  t.thing = t.host:match("^([%w-]+)%.tunnel$") or t.thing
end
function on_open_tunnel(r, t)
  local ok, why = isp.tag_from_env(r, "TICKET", "ticket", "^[A-Z]+%-%d+$")
  if not ok then return false, why end
  isp.tag_with_user(r)
  isp.cap_lifetime(r, 45)
  r.description = isp.get_tag(r, "ticket") .. ": " .. r.description
  if os.getenv("BREAK_TAG") then r.tags[1].key = "no spaces!" end
end
local function audit(...)
  local f = assert(io.open(os.getenv("AUDIT"), "a"))
  f:write(table.concat({ ... }, " "), "\n")
  f:close()
end
function on_tunnel_opened(tn, t)
  audit("opened", tn.tunnelId, tn.tunnelArn, tn.region)
end
function on_tunnel_closed(s, t)
  audit("closed", s.tunnelId, s.bytes_sent, s.bytes_received, s.reason)
end
LUA
chmod 644 "$hooks"
sed "s|--no-hooks|--hooks $hooks -v|" "$T/ssh_config" > "$T/ssh_config.hooks"
cp "$T/ssh_config.hooks" "$T/ssh_config"

# denied WHAT HOST TEXT...: ssh fails, the proxy exits 3
# with every text on its stderr, and no tunnel was opened.
denied() {
	local what=$1 host=$2 before t
	shift 2
	before=$(count_tunnels)
	set +e
	ssh_dev "$host" true 2> "$T/ssh.err"
	set -e
	assert_eq "$(last_proxy_rc)" 3 "proxy exit status ($what)"
	for t in "$@"; do
		assert_contains "$(last_proxy_err)" "$t" "$what"
	done
	assert_eq "$(count_tunnels)" "$before" "tunnels after: $what"
}

# 1. The hooks' edits reach AWS; the audit hooks see the tunnel.
out=$(TICKET=OPS-7 ssh_dev kiosk-17.tunnel 'echo via-hook')
assert_eq "$out" via-hook "ssh output"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"
id=$(tunnels_for kiosk-17 | sed -n 1p)
[ -n "$id" ] || fail "no tunnel for the mapped thing"
wait_tunnel_status "$id" CLOSED
assert_eq "$(json_get "$T/describe.json" tunnel.destinationConfig)" \
	'{"services": ["SSH"], "thingName": "kiosk-17"}' "destinationConfig"
assert_eq "$(json_get "$T/describe.json" \
	tunnel.timeoutConfig.maxLifetimeTimeoutMinutes)" 45 "lifetime"
assert_eq "$(json_get "$T/describe.json" tunnel.description)" \
	"OPS-7: ssh root@kiosk-17.tunnel via iot-ssh-proxy" "description"
"$IST_PY" - "$T/describe.json" "$(hostname)" <<'PY' ||
import json, sys
tags = {t["key"]: t["value"]
        for t in json.load(open(sys.argv[1]))["tunnel"]["tags"]}
assert tags == {"ticket": "OPS-7", "iot-ssh-proxy:user": "root",
                "iot-ssh-proxy:host": sys.argv[2]}, tags
PY
	fail "tags: $(json_get "$T/describe.json" tunnel.tags)"
assert_eq "$(sed -n 1p "$AUDIT")" \
	"opened $id arn:aws:iot:us-east-1:123456789012:tunnel/$id us-east-1" \
	"on_tunnel_opened audit"
# closed ID BYTES_SENT BYTES_RECEIVED REASON: bytes went both ways.
read -r word cid sent rcvd reason < <(sed -n 2p "$AUDIT")
# ssh closing stdin and sshd's close coming back through the device race:
# either is a normal end.
case "$reason" in
"ssh closed" | "device closed") ;;
*) fail "on_tunnel_closed reason: '$reason'" ;;
esac
assert_eq "$word $cid" "closed $id" "on_tunnel_closed audit"
[ "${sent%.*}" -gt 0 ] && [ "${rcvd%.*}" -gt 0 ] ||
	fail "on_tunnel_closed bytes: $(sed -n 2p "$AUDIT")"
assert_contains "$(last_proxy_err)" "hooks: loaded $hooks" "-v output"
assert_eq "$(count_tunnels)" 1 "tunnels after the first"

# 2. Denials, from on_resolve (no ticket needed to be refused) and from
#    on_open_tunnel: hook, file, line and reason; nothing sent.
TICKET=OPS-8 denied "on_resolve denial" blocked \
	"$hooks:4: on_resolve denied the tunnel: blocked is off limits"
denied "on_open_tunnel denial" kiosk-17.tunnel \
	"$hooks:10: on_open_tunnel denied the tunnel: set TICKET first"
# 3. Neither does a request AWS would refuse; the field is named.
BREAK_TAG=1 TICKET=OPS-8 denied "refused request" \
	kiosk-17.tunnel "$hooks:" "AWS would refuse" "tags[0].key"
assert_eq "$(wc -l < "$AUDIT")" 2 "audit lines after the refusals"
# The same hooks still let a good request through.
TICKET=OPS-9 ssh_dev kiosk-17.tunnel true ||
	fail "allowed host refused: $(last_proxy_err)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (allowed again)"
assert_eq "$(count_tunnels)" 2 "tunnels after the second"

# 4. A hooks file others (or the group) can write is refused.
for mode in 664 666; do
	chmod "$mode" "$hooks"
	TICKET=OPS-10 denied "unsafe hooks file ($mode)" \
		kiosk-17.tunnel "refusing hooks file $hooks"
done
assert_eq "$(tunnels_for kiosk-17 | wc -l)" 2 "tunnels for kiosk-17"
echo "ok"
