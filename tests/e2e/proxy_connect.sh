#!/bin/bash
# The WebSocket's HTTP CONNECT is ours now (lws 4.1.6 cannot do it for a
# raw connection): a proxy answer split across TCP segments works (it
# broke TLS under lws), proxy credentials go as Basic auth, and a 407 is
# final with a hint where the credentials go.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-hostile.sh"

make_ca
start_proxy() {
	: > "$T/cproxy.out"
	bg "$IST_PY" "$IST_SRC/tests/e2e/connect_proxy.py" "$1" \
		"$T/connects.log" > "$T/cproxy.out"
	CPROXY_PID=$BG_PID
	wait_for "$T/cproxy.out" listening 30
	CPROXY_PORT=$(sed -n 's/^listening //p' "$T/cproxy.out")
}

# Split answer: the WebSocket gets through (the hostile server's text
# frame is what ends it).
start_proxy split
HOSTILE_ARGS=()
HTTPS_PROXY=http://user:pw@127.0.0.1:$CPROXY_PORT NO_PROXY= hostile_proxy text
assert_eq "$RC" 5 "exit status (split answer)"
assert_contains "$ERR" "sent a text WebSocket message" "message (split answer)"
log=$(cat "$T/connects.log")
assert_contains "$log" "CONNECT 127.0.0.1:$HOSTILE_PORT HTTP/1.1 | Host: 127.0.0.1:$HOSTILE_PORT | Proxy-Authorization: <set> | User-Agent: iot-tunnel-ws" \
	"CONNECT request"
assert_not_contains "$(cat "$T/proxy.err")" "pw" "proxy message"
kill "$CPROXY_PID"

# Bug "ws proxy credentials not percent-decoded": the WebSocket sent
# "us%40er:p%20w" as the user and password; it sends what HTTPS_PROXY
# means, as the API client does (this proxy takes "us@er" and "p w" only).
: > "$T/connects.log"
start_proxy auth
HTTPS_PROXY=http://us%40er:p%20w@127.0.0.1:$CPROXY_PORT NO_PROXY= hostile_proxy text
assert_eq "$RC" 5 "exit status (percent-encoded credentials)"
assert_contains "$ERR" "sent a text WebSocket message" \
	"message (percent-encoded credentials)"
assert_not_contains "$(cat "$T/proxy.err")" "p%20w" "proxy message"
kill "$CPROXY_PID"

# 407: final, with a hint.
: > "$T/connects.log"
start_proxy 407
HTTPS_PROXY=http://127.0.0.1:$CPROXY_PORT NO_PROXY= hostile_proxy text
assert_eq "$RC" 5 "exit status (407)"
assert_contains "$ERR" "refused CONNECT to 127.0.0.1:$HOSTILE_PORT with HTTP 407 (it wants credentials" \
	"message (407)"
assert_not_contains "$ERR" "trying again" "message (407)"
assert_eq "$(wc -l < "$T/connects.log")" 1 "CONNECT attempts (407)"
echo "ok"
