# lib-hostile.sh: the programs against a hostile data plane
# (hostile_dataplane.py) started by the test (bash). Source it after
# lib.sh and make_ca. No API is needed: the proxy joins with --tunnel-id
# and a token file, the agent is one-shot.
#
#   start_hostile MODE [ARGS]  HOSTILE_PORT, HOSTILE_PID, HOSTILE_LOG
#   stop_hostile
#   hostile_proxy MODE [PROXY ARGS]   runs the proxy against MODE: RC,
#                             ERR (its stderr); stdin stays open
#   hostile_agent MODE [AGENT ARGS]   the one-shot agent: RC, ERR
#   check_big_frames proxy|agent RC   one frame of each size to the
#                             program; RC: its exit status when the
#                             service closes normally (6 proxy, 0 agent)

start_hostile() {
	local mode=$1
	shift
	HOSTILE_LOG=$T/hostile.log
	: > "$T/hostile.out"
	bg "$IST_PY" "$IST_SRC/tests/e2e/hostile_dataplane.py" \
		--cert "$IST_CERT" --key "$IST_KEY" --mode "$mode" "$@" \
		> "$T/hostile.out" 2> "$HOSTILE_LOG"
	HOSTILE_PID=$BG_PID
	wait_for "$T/hostile.out" listening 30
	HOSTILE_PORT=$(sed -n 's/^listening //p' "$T/hostile.out")
}

# After an upgrade the server logs how the client's side ended ("client
# close N", ...) from its own thread: give it that moment (10 s at most)
# before the kill, or a loaded machine loses the line a test asserts.
_hostile_client_end() {
	local i=0
	grep -q '^reading client frames' "$HOSTILE_LOG" 2>/dev/null || return 0
	while [ "$i" -lt 100 ] && ! grep -qE \
	    'client close|client closed|client connection error' \
	    "$HOSTILE_LOG" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
}

stop_hostile() {
	kill "$HOSTILE_PID" 2>/dev/null || true
	wait "$HOSTILE_PID" 2>/dev/null || true
}

# A writer that never writes: the proxy's stdin stays open (ssh silent).
_hostile_stdin() {
	[ -p "$T/stdin.fifo" ] && return 0
	mkfifo "$T/stdin.fifo"
	bg sh -c 'exec sleep 3600 > "$0"' "$T/stdin.fifo"
}

_hostile_token() {
	[ -f "$T/fake.tok" ] || (umask 077; echo "not-a-real-token" > "$T/fake.tok")
}

hostile_proxy() {
	local mode=$1
	shift
	_hostile_stdin
	_hostile_token
	start_hostile "$mode" "${HOSTILE_ARGS[@]}"
	RC=0
	AWS_REGION=us-east-1 timeout 120 "$IST_BIN/iot-ssh-proxy" --no-hooks \
		--tunnel-id 00000000-0000-0000-0000-000000000000 \
		--token-file "$T/fake.tok" --ca-file "$IST_CA" \
		--proxy-endpoint "127.0.0.1:$HOSTILE_PORT" "$@" kiosk-17 \
		< "$T/stdin.fifo" > "$T/proxy.out" 2> "$T/proxy.err" || RC=$?
	ERR=$(cat "$T/proxy.err")
	_hostile_client_end
	stop_hostile
}

hostile_agent() {
	local mode=$1
	shift
	_hostile_token
	start_hostile "$mode" "${HOSTILE_ARGS[@]}"
	RC=0
	AWS_REGION=us-east-1 timeout 120 "$IST_BIN/iot-tunnel-agent" --token-file "$T/fake.tok" \
		--service "SSH=127.0.0.1:1" --ca-file "$IST_CA" \
		--proxy-endpoint "127.0.0.1:$HOSTILE_PORT" "$@" \
		< /dev/null > /dev/null 2> "$T/agent.err" || RC=$?
	ERR=$(cat "$T/agent.err")
	_hostile_client_end
	stop_hostile
}

check_big_frames() {
	local prog=$1 closed_rc=$2 n
	HOSTILE_ARGS=(--service-ids)
	for n in 65537 131076; do
		"hostile_$prog" "big:$n"
		# Valid (stale) messages, then a close 1000.
		assert_eq "$RC" "$closed_rc" "exit status, frame of $n bytes"
		assert_not_contains "$ERR" "over 131076" "message ($n)"
		assert_contains "$ERR" "closed the WebSocket (status 1000)" \
			"message ($n)"
	done
	for n in 131077 1048576 4194304 9223372036854775807; do
		"hostile_$prog" "big:$n"
		assert_eq "$RC" 5 "exit status, frame of $n bytes"
		assert_contains "$ERR" \
			"WebSocket frame of $n bytes, over the 131076-byte limit" \
			"message ($n)"
		assert_contains "$(cat "$HOSTILE_LOG")" "client close 1009" \
			"close code ($n)"
	done
}
