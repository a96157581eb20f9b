#!/bin/bash
# Bug "the one-shot agent lingers after a timer-driven end": when its
# tunnel ended inside a timer callback (here: the last of its handshake
# attempts, each failing at once on a name that does not resolve), the
# loop was not woken and the agent exited only at its next timer, about
# 25 s later. Now it exits when the tunnel ends: 10 s after the "ended"
# line is a deadline that the old 25 s linger fails. The attempts
# themselves take about 90 s (backoff 1+2+4+8+16+30+30 s).
. "$(dirname "$0")/lib.sh"

rm -f "$T/agent.log"
AWSIOT_TUNNEL_ACCESS_TOKEN=not-a-real-token AWS_REGION=us-east-1 \
	bg "$IST_BIN/iot-tunnel-agent" --proxy-endpoint nosuchhost.invalid:443 \
	-v 2> "$T/agent.log"
agent=$BG_PID
wait_for "$T/agent.log" "tunnel 1: ended" 200
i=0
while kill -0 "$agent" 2>/dev/null; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || fail "the agent was still running 10 s after its tunnel ended"
	sleep 0.1
done
rc=0
wait "$agent" || rc=$?
assert_eq "$rc" 5 "agent exit status"
echo "ok"
