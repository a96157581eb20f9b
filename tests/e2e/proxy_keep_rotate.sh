#!/bin/bash
# --keep-tunnel leaves the tunnel OPEN; --tunnel-id ID --rotate joins it
# again with a fresh source token, and leaves it open (not ours to close).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

start_tunnel_world
write_ssh_config --keep-tunnel --timeout 30 --tag team=ops --tag ticket=OPS-1 \
	--description "'maintenance window'"
out=$(ssh_dev kiosk-17 'echo first')
assert_eq "$out" first "first session"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"
id=$(tunnels_for kiosk-17 | sed -n 1p)
[ -n "$id" ] || fail "no tunnel"
assert_eq "$(tunnel_status "$id")" OPEN "status after --keep-tunnel"
assert_eq "$(json_get "$T/describe.json" tunnel.timeoutConfig.maxLifetimeTimeoutMinutes)" \
	30 "lifetime (--timeout)"
assert_eq "$(json_get "$T/describe.json" tunnel.description)" \
	"maintenance window" "description (--description)"
tags=$(json_get "$T/describe.json" tunnel.tags)
assert_contains "$tags" '{"key": "team", "value": "ops"}' "tags"
assert_contains "$tags" '{"key": "ticket", "value": "OPS-1"}' "tags"

write_ssh_config --tunnel-id "$id" --rotate
out=$(ssh_dev kiosk-17 'echo second')
assert_eq "$out" second "second session on the same tunnel"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"
assert_eq "$(tunnels_for kiosk-17 | wc -l)" 1 "tunnels opened"
assert_eq "$(tunnel_status "$id")" OPEN "status after --tunnel-id"
aws_emu iotsecuretunneling close-tunnel --tunnel-id "$id" > /dev/null
echo "ok"
