#!/bin/bash
# A data-plane handshake refused with 5xx is retried with backoff and the
# same client token; one refused with 4xx is not retried: the proxy says
# so, closes the tunnel it opened and exits 5 (PROTOCOL.md section 2).
# The same for the agent (destination).
# The emulator's handshake fault refuses the source's handshakes only;
# its log compares each attempt's client token with the previous one
# without writing the token.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

start_tunnel_world --admin
write_ssh_config -v

# Two 503s, then the third attempt goes through.
emu_admin handshake '{"count": 2, "status": 503, "side": "source"}' \
	> /dev/null
out=$(ssh_dev kiosk-17 'echo after-retries' 2> "$T/ssh.err") ||
	fail "ssh failed: $(cat "$T/ssh.err"); proxy: $(last_proxy_err)"
assert_eq "$out" after-retries "ssh output"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"
err=$(last_proxy_err)
assert_contains "$err" "WebSocket handshake with HTTP 503; trying again" \
	"proxy log"
id=$(tunnels_for kiosk-17 | sed -n 1p)
log=$(cat "$EMU_LOG")
assert_contains "$log" \
	"tunnel $id: source handshake 1 refused with 503 (client token: first)"
assert_contains "$log" \
	"tunnel $id: source handshake 2 refused with 503 (client token: same)"
assert_contains "$log" \
	"tunnel $id: source handshake accepted after 2 refused (client token: same)"
assert_not_contains "$log" "handshake 3 refused" "emulator log"
# The device's handshake was not touched.
assert_not_contains "$log" "destination handshake" "emulator log"
wait_tunnel_status "$id" CLOSED

# A 4xx: one attempt, a clear message, exit 5, the tunnel closed.
emu_admin handshake '{"count": 5, "status": 400, "side": "source"}' \
	> /dev/null
rc=0
ssh_dev kiosk-17 'echo must-not-run' > "$T/out" 2> "$T/ssh.err" || rc=$?
[ "$rc" -ne 0 ] || fail "ssh succeeded through a refused handshake"
assert_eq "$(cat "$T/out")" "" "ssh output"
assert_eq "$(last_proxy_rc)" 5 "proxy exit status"
err=$(last_proxy_err)
assert_contains "$err" \
	"refused the WebSocket handshake with HTTP 400 (a 4xx is final" \
	"proxy message"
assert_not_contains "$err" "trying again" "proxy message"
assert_not_contains "$err" "attempts" "proxy message"
id2=$(tunnels_for kiosk-17 | sed -n 1p)
[ "$id2" != "$id" ] || fail "no second tunnel"
log=$(cat "$EMU_LOG")
assert_contains "$log" \
	"tunnel $id2: source handshake 1 refused with 400 (client token: first)"
assert_not_contains "$log" "tunnel $id2: source handshake 2" "emulator log"
wait_tunnel_status "$id2" CLOSED

# The agent shares the handshake code: the same two cases as destination.
# agent_oneshot ATTEMPT: a tunnel (no thing: the MQTT agent stays out)
# and a one-shot agent in it; sets id, apid, alog.
agent_oneshot() {
	(umask 077
	 aws_emu iotsecuretunneling open-tunnel \
		--destination-config services=SSH > "$T/open.json")
	id=$(json_get "$T/open.json" tunnelId)
	(umask 077
	 json_get "$T/open.json" destinationAccessToken > "$T/$1.dest.tok")
	rm -f "$T/open.json"
	alog=$T/agent.$1.log
	bg "$IST_BIN/iot-tunnel-agent" --token-file "$T/$1.dest.tok" \
		--service "SSH=127.0.0.1:$SSHD_PORT" --ca-file "$IST_CA" \
		--proxy-endpoint "127.0.0.1:$EMU_PORT" -v 2> "$alog"
	apid=$BG_PID
}
emu_admin handshake '{"count": 2, "side": "destination"}' > /dev/null
agent_oneshot retry
wait_for "$alog" "connected as destination"
log=$(cat "$EMU_LOG")
assert_contains "$log" "tunnel $id: destination handshake 2 refused with \
503 (client token: same)"
assert_contains "$log" "tunnel $id: destination handshake accepted after \
2 refused (client token: same)"
assert_eq "$(grep -c 'trying again' "$alog")" 2 "agent retries"

emu_admin handshake '{"count": 5, "status": 429, "side": "destination"}' \
	> /dev/null
agent_oneshot refused
rc=0
wait "$apid" || rc=$?
assert_eq "$rc" 5 "agent exit status"
assert_contains "$(cat "$alog")" \
	"refused the WebSocket handshake with HTTP 429 (a 4xx is final"
assert_not_contains "$(cat "$alog")" "trying again" "agent log"
log=$(cat "$EMU_LOG")
assert_contains "$log" "tunnel $id: destination handshake 1 refused"
assert_not_contains "$log" "tunnel $id: destination handshake 2" \
	"emulator log"
echo "PASS"
