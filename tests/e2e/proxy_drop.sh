#!/bin/bash
# The emulator drops the proxy's WebSocket in the middle of a transfer
# (fault injection), once without a close frame and once with 1001: the
# proxy exits 5 saying the connection was lost, and closes the tunnel.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

start_tunnel_world --admin
for mode in true false; do
	rm -f "$T/proxy.last.rc" "$T/down"
	"$SSH" -F "$T/ssh_config" kiosk-17 'exec head -c 500000000 /dev/zero' \
		> "$T/down" 2> "$T/ssh.err" &
	ssh_pid=$!
	i=0
	while [ -z "$(open_tunnels_of kiosk-17)" ]; do
		i=$((i + 1))
		[ "$i" -lt 600 ] || fail "no tunnel opened"
		sleep 0.1
	done
	id=$(open_tunnels_of kiosk-17)
	emu_admin bandwidth "{\"tunnelId\":\"$id\",\"bytesPerSecond\":1000000}" \
		> /dev/null
	i=0
	while [ "$(stat -c %s "$T/down" 2>/dev/null || echo 0)" -lt 200000 ]; do
		i=$((i + 1))
		[ "$i" -lt 600 ] || fail "no data came through"
		sleep 0.1
	done
	emu_admin drop "{\"tunnelId\":\"$id\",\"side\":\"source\",\"abrupt\":$mode}" \
		> /dev/null
	wait "$ssh_pid" || true
	assert_eq "$(last_proxy_rc)" 5 "proxy exit status (abrupt $mode)"
	err=$(last_proxy_err)
	assert_contains "$err" "tunnel $id:" "proxy message"
	if [ "$mode" = true ]; then
		assert_contains "$err" "connection to the tunnel service was lost" \
			"proxy message"
	else
		assert_contains "$err" "closed the WebSocket with status 1001" \
			"proxy message"
	fi
	wait_tunnel_status "$id" CLOSED
	size=$(stat -c %s "$T/down")
	[ "$size" -lt 500000000 ] || fail "the transfer was not cut"
done
echo "ok"
