#!/bin/bash
# Issue 13 items 10 and 11: WebSocket-level faults of the data plane, each
# refused by iot-ssh-proxy with exit 5 and a message naming what the peer
# did (not "connection lost", not retried as a network error), and our
# close frame carrying the matching status.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-hostile.sh"

make_ca
HOSTILE_ARGS=()
check() {
	local mode=$1 text=$2 close=$3
	# --wait 5: a text frame before SERVICE_IDS used to exit 4 (the
	# device did not join) because lws waited for a close ack.
	hostile_proxy "$mode" --wait 5
	assert_eq "$RC" 5 "exit status ($mode)"
	assert_contains "$ERR" "$text" "message ($mode)"
	assert_not_contains "$ERR" "connection to the tunnel service was lost" \
		"message ($mode)"
	assert_not_contains "$ERR" "trying again" "message ($mode)"
	if [ -n "$close" ]; then
		assert_contains "$(cat "$HOSTILE_LOG")" "client close $close" \
			"close status ($mode)"
	fi
}
check masked "sent a masked WebSocket binary frame" 1002
check rsv "WebSocket frame with reserved bits set" 1002
check op3 "the reserved opcode 3" 1002
check cont "continuation frame with no message started" 1002
check close1 "close frame with a 1-byte payload" 1002
check ping200 "ping frame with a payload over 125 bytes" 1002
check len63 "length of 9223372036854775808 (the top bit" 1002
check text "sent a text WebSocket message" 1003
# The handshake: final, not retried.
check subprotocol \
	"did not accept subprotocol aws.iot.securetunneling-3.0 (it answered \"aws.iot.securetunneling-2.0\")" ""
assert_eq "$(grep -c '^request ' "$HOSTILE_LOG")" 1 "attempts (subprotocol)"
check http09 "which is not HTTP/1.1" ""
assert_eq "$(grep -c '^request ' "$HOSTILE_LOG")" 1 "attempts (HTTP/0.9)"
# A ping is answered with its payload; a close 1000 is the tunnel closed.
hostile_proxy ping
assert_eq "$RC" 6 "exit status (ping, then close 1000)"
assert_contains "$(cat "$HOSTILE_LOG")" "client pong 5" "pong"
assert_contains "$(cat "$HOSTILE_LOG")" "client close 1000" "close echoed"
# The request carried our headers and no Origin.
assert_contains "$(cat "$HOSTILE_LOG")" "header access-token present" "request"
assert_contains "$(cat "$HOSTILE_LOG")" "header client-token present" "request"
assert_contains "$(cat "$HOSTILE_LOG")" "header origin absent" "request"
echo "ok"
