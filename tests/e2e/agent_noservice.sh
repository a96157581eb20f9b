#!/bin/bash
# Nothing listens where the agent maps the service: the agent says so,
# the source gets a reset, and the proxy exits 5 with a message pointing
# at the device's service instead of leaving ssh with a bare EOF.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

make_ca
start_emulator
SSHD_PORT=$(free_port)	# nothing listens there
open_oneshot_tunnel kiosk-17
write_ssh_config --tunnel-id "$TUNNEL_ID" --token-file "$T/$TUNNEL_ID.src.tok"
ssh_dev kiosk-17 true 2> /dev/null && fail "ssh succeeded"
assert_eq "$(last_proxy_rc)" 5 "proxy exit status"
assert_contains "$(last_proxy_err)" "before sending anything" "proxy message"
assert_contains "$(cat "$AGENT_LOG")" "cannot connect to the local service" \
	"agent log"
kill -0 "$AGENT_PID" || fail "the agent left the tunnel"
echo "ok"
