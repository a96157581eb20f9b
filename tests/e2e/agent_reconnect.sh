#!/bin/bash
# The agent's WebSocket is dropped (no close frame): it reconnects with
# its client token and the same tunnel carries the next ssh session; when
# the tunnel is closed the agent leaves it and keeps listening.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

count() {
	grep -c -- "$2" "$1" || true
}

start_tunnel_world --admin
write_ssh_config --keep-tunnel
out=$(ssh_dev kiosk-17 'echo first')
assert_eq "$out" first "first session"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"
id=$(tunnels_for kiosk-17 | sed -n 1p)
assert_eq "$(count "$AGENT_LOG" "connected as destination")" 1 "joins"

emu_admin drop "{\"tunnelId\":\"$id\",\"side\":\"destination\",\"abrupt\":true}" \
	> /dev/null
i=0
while [ "$(count "$AGENT_LOG" "connected as destination")" -lt 2 ]; do
	i=$((i + 1))
	[ "$i" -lt 600 ] || fail "the agent did not reconnect"
	sleep 0.1
done
assert_contains "$(cat "$AGENT_LOG")" "trying again" "agent log"

write_ssh_config --tunnel-id "$id" --rotate
out=$(ssh_dev kiosk-17 'echo second')
assert_eq "$out" second "session after the reconnect"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"

aws_emu iotsecuretunneling close-tunnel --tunnel-id "$id" > /dev/null
wait_for "$AGENT_LOG" "ended"
kill -0 "$AGENT_PID" || fail "the agent exited"
write_ssh_config
out=$(ssh_dev kiosk-17 'echo third')
assert_eq "$out" third "a new tunnel after the close"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"
echo "ok"
