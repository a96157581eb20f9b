#!/bin/bash
# Issues 9 and 10: one binary WebSocket frame of any length the format can
# express (up to 2^63-1), from the service to iot-tunnel-agent (one-shot). Up to the
# service's own limit (131076) it is a message like any other; over it,
# the session ends at once with exit 5 and a message naming the size,
# before any payload is buffered (libwebsockets 4.1.6 corrupted its heap
# on these).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-hostile.sh"

make_ca
HOSTILE_ARGS=(--service-ids)
for n in 65537 131076; do
	hostile_agent "big:$n"
	# Valid (stale) messages, then a close 1000: the one-shot agent is done.
	assert_eq "$RC" 0 "exit status, frame of $n bytes"
	assert_not_contains "$ERR" "over 131076" "message ($n)"
	assert_contains "$ERR" "closed the WebSocket (status 1000)" "message ($n)"
done
for n in 131077 1048576 4194304 9223372036854775807; do
	hostile_agent "big:$n"
	assert_eq "$RC" 5 "exit status, frame of $n bytes"
	assert_contains "$ERR" "WebSocket frame of $n bytes, over the 131076-byte limit" \
		"message ($n)"
	assert_contains "$(cat "$HOSTILE_LOG")" "client close 1009" \
		"close code ($n)"
done
echo "ok"
