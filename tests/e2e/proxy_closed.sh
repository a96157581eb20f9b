#!/bin/bash
# CloseTunnel from elsewhere during a session: the proxy exits 6 with a
# message saying so, and the agent stays ready for the next tunnel.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

start_tunnel_world
rm -f "$T/proxy.last.rc"
"$SSH" -F "$T/ssh_config" kiosk-17 'echo started; exec sleep 60' \
	> "$T/out" 2> "$T/ssh.err" &
ssh_pid=$!
wait_for "$T/out" started
id=$(tunnels_for kiosk-17 | sed -n 1p)
aws_emu iotsecuretunneling close-tunnel --tunnel-id "$id" > /dev/null
wait "$ssh_pid" || true
assert_eq "$(last_proxy_rc)" 6 "proxy exit status"
assert_contains "$(last_proxy_err)" "closed" "proxy message"

# The agent is still listening: the next session works.
out=$(ssh_dev kiosk-17 'echo again')
assert_eq "$out" again "next session"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (next session)"
echo "ok"
