#!/bin/bash
# Bug "data then reset": a device that sends DATA and ends the connection
# at once (CONNECTION_RESET or STREAM_RESET right behind it, in one
# WebSocket message or in two) is a normal end: exit 0 and every byte on
# stdout. The proxy used to count bytes written to stdout, not bytes
# received, and exited 5 "the device ended the connection before sending
# anything". The device is tests/e2e/fake_device.py. Also: the stream id
# the proxy picks with --tunnel-id is within 1..2^28-1.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

make_ca
start_emulator
# stdin stays open (a FIFO opened for reading and writing): only the
# device ends the session.
mkfifo "$T/in"
for script in data-reset-one data-reset-two data-sreset-one; do
	(umask 077
	 aws_emu iotsecuretunneling open-tunnel --destination-config \
		'{"thingName":"kiosk-dr","services":["SSH"]}' > "$T/open.json")
	id=$(json_get "$T/open.json" tunnelId)
	(umask 077
	 json_get "$T/open.json" destinationAccessToken > "$T/dest.tok"
	 json_get "$T/open.json" sourceAccessToken > "$T/src.tok")
	rm -f "$T/open.json" "$T/ready"
	bg "$IST_PY" "$IST_SRC/tests/e2e/fake_device.py" "$T/dest.tok" \
		"$T/ready" "$script" > "$T/dev.out" 2> "$T/dev.log"
	dev=$BG_PID
	wait_for "$T/ready" joined
	rc=0
	# shellcheck disable=SC2046
	"$IST_BIN/iot-ssh-proxy" $(proxy_env) --tunnel-id "$id" \
		--token-file "$T/src.tok" -vv kiosk-dr 0<> "$T/in" \
		> "$T/out" 2> "$T/err" || rc=$?
	assert_eq "$rc" 0 "proxy exit status ($script): $(cat "$T/err")"
	assert_eq "$(cat "$T/out")" "hello" "bytes on stdout ($script)"
	assert_not_contains "$(cat "$T/err")" "before sending anything" \
		"proxy message ($script)"
	# Bug "stream ids the AWS SDK cannot answer on": with --tunnel-id
	# the first stream id came from time % 10^9; it must stay within
	# 2^28 - 1 (include/ist/session.h).
	sid=$(sed -n 's/^stream \([0-9]*\) .*/\1/p' "$T/dev.out")
	[ -n "$sid" ] && [ "$sid" -ge 1 ] && [ "$sid" -le 268435455 ] ||
		fail "stream id '$sid' outside 1..268435455"
	kill "$dev" 2>/dev/null || true
	aws_emu iotsecuretunneling close-tunnel --tunnel-id "$id" > /dev/null
done
echo "ok"
