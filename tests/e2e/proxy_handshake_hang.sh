#!/bin/bash
# Issue 13 item 2 and issue 10 (a hang-up while the handshake hangs): a
# data plane that accepts TCP (and TLS) and never answers the upgrade.
# The handshake is bounded (the attempt ends with a message, then the
# retry policy applies); a SIGHUP (ssh's normal end) during the hang ends
# iot-ssh-proxy with status 0, no crash, and the tunnel it opened CLOSED;
# SIGTERM does the same for the agent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"
. "$(dirname "$0")/lib-hostile.sh"

make_ca
start_emulator
_hostile_stdin
_hostile_token
HOSTILE_ARGS=()

# $1: hostile mode, $2: text to wait for in the proxy's stderr before the
# SIGHUP ("" for none: as soon as the server holds the connection).
hang_proxy() {
	local mode=$1 wait_text=$2 pid id rc=0
	start_hostile "$mode"
	"$IST_BIN/iot-ssh-proxy" --no-hooks --ca-file "$IST_CA" \
		--api-endpoint "$EMU_URL" \
		--proxy-endpoint "127.0.0.1:$HOSTILE_PORT" -v kiosk-17 \
		< "$T/stdin.fifo" > /dev/null 2> "$T/hang.err" &
	pid=$!
	wait_for "$HOSTILE_LOG" "hanging" 30
	if [ -n "$wait_text" ]; then
		wait_for "$T/hang.err" "$wait_text" 40
	fi
	kill -HUP "$pid"
	wait "$pid" || rc=$?
	assert_eq "$rc" 0 "proxy exit status after SIGHUP ($mode)"
	id=$(sed -n 's/.*OpenTunnel: opened tunnel \([0-9a-f-]*\).*/\1/p' \
		"$T/hang.err")
	[ -n "$id" ] || fail "no tunnel id in: $(cat "$T/hang.err")"
	assert_contains "$(cat "$T/hang.err")" "CloseTunnel: closed tunnel $id" \
		"proxy message ($mode)"
	assert_eq "$(tunnel_status "$id")" CLOSED "tunnel status ($mode)"
	stop_hostile
}

# TLS accepted, the upgrade never answered: the attempt ends within the
# bound with a message and is retried; the SIGHUP comes after that.
hang_proxy hang "did not complete the WebSocket handshake within 20 s (waiting for the answer to the WebSocket upgrade); trying again"
# TCP accepted, TLS never answered: SIGHUP at once.
hang_proxy hang-tcp ""

# The agent (one-shot): the same bound, then SIGTERM (systemd's stop).
start_hostile hang
AWS_REGION=us-east-1 "$IST_BIN/iot-tunnel-agent" --token-file "$T/fake.tok" \
	--service "SSH=127.0.0.1:1" --ca-file "$IST_CA" \
	--proxy-endpoint "127.0.0.1:$HOSTILE_PORT" -v \
	< /dev/null > /dev/null 2> "$T/agent.err" &
pid=$!
wait_for "$T/agent.err" "did not complete the WebSocket handshake within 20 s" 40
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
assert_eq "$rc" 0 "agent exit status after SIGTERM"
stop_hostile
echo "ok"
