#!/bin/bash
# The agent serves a V3 source with several connections on one stream,
# each its own TCP connection to the local service, and refuses a service
# it does not map. The source is tests/e2e/tunnel_client.py.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

make_ca
start_sshd
start_emulator
open_oneshot_tunnel kiosk-v3 SSH VNC
"$IST_PY" "$IST_SRC/tests/e2e/agent_v3.py" "$T/$TUNNEL_ID.src.tok" ||
	fail "V3 source cases"
log=$(cat "$AGENT_LOG")
assert_contains "$log" "connection 2 for SSH" "agent log"
assert_contains "$log" "does not serve" "agent log"
echo "ok"
