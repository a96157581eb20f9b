#!/bin/bash
# What the tunnel service (the emulator's fault injection) sends the
# proxy mid-session: a text frame, a malformed frame, an oversized DATA,
# a WebSocket message over 131076 bytes and a SESSION_RESET each end the
# session with exit 5 and a message naming the problem, and the tunnel is
# closed. A STREAM_RESET after data is the device's normal end: exit 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

start_tunnel_world --admin
check() {
	local what=$1 want_rc=$2 text=$3 id
	rm -f "$T/proxy.last.rc" "$T/out"
	"$SSH" -F "$T/ssh_config" kiosk-17 'echo started; exec sleep 60' \
		> "$T/out" 2> "$T/ssh.err" &
	local ssh_pid=$!
	wait_for "$T/out" started
	id=$(open_tunnels_of kiosk-17)
	emu_admin send "{\"tunnelId\":\"$id\",\"side\":\"source\",\"what\":\"$what\"}" \
		> /dev/null
	wait "$ssh_pid" || true
	assert_eq "$(last_proxy_rc)" "$want_rc" "proxy exit status ($what)"
	assert_contains "$(last_proxy_err)" "$text" "proxy message ($what)"
	wait_tunnel_status "$id" CLOSED
}
check text 5 "text WebSocket message"
check malformed 5 "protocol violation by the peer"
check oversized 5 "protocol violation by the peer"
check huge 5 "over 131076 bytes"
check session-reset 5 "SESSION_RESET"
rm -f "$T/proxy.last.rc" "$T/proxy.last.err"
check stream-reset 0 ""
echo "ok"
