#!/bin/bash
# Issues 10 and 13: one hostile tunnel ends that tunnel only. The MQTT
# agent serves a quiet tunnel, then gets a second one whose service sends
# a 4 MiB frame (libwebsockets 4.1.6 corrupted the heap on it, taking down
# every tunnel): the second ends with a message naming the size, the first
# stays, the agent stays up and serves a third.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-hostile.sh"

make_ca
start_mosquitto
start_hostile hold,big:4194304,hold
bg "$IST_BIN/iot-tunnel-agent" --thing kiosk-17 \
	--mqtt-endpoint "127.0.0.1:$MQTT_PORT" --service "SSH=127.0.0.1:1" \
	--ca-file "$IST_CA" --proxy-endpoint "127.0.0.1:$HOSTILE_PORT" -v \
	2> "$T/agent.log"
AGENT_PID=$BG_PID
wait_for "$T/agent.log" "waiting on"
topic='$aws/things/kiosk-17/tunnels/notify'
notify() {
	mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t "$topic" -m \
		'{"clientAccessToken":"AQGAAXnotreal","clientMode":"destination","region":"us-east-1","services":["SSH"]}'
}
notify
wait_for "$HOSTILE_LOG" "holding"
notify
wait_for "$T/agent.log" "WebSocket frame of 4194304 bytes, over the 131076-byte limit"
kill -0 "$AGENT_PID" || fail "the agent died"
assert_eq "$(grep -c 'ended' "$T/agent.log")" 1 "tunnels ended"
assert_not_contains "$(cat "$T/agent.log")" "tunnel 1: ended" "the quiet tunnel"
notify
i=0
while [ "$(grep -c '^holding' "$HOSTILE_LOG")" -lt 2 ]; do
	i=$((i + 1))
	[ "$i" -lt 300 ] || fail "no third tunnel: $(cat "$T/agent.log")"
	sleep 0.1
done
kill -0 "$AGENT_PID" || fail "the agent died"
assert_not_contains "$(cat "$T/agent.log")" "tunnel 1: ended" "the quiet tunnel"
assert_not_contains "$(cat "$T/agent.log")" "AQGAAXnotreal" "agent log"
echo "ok"
