#!/bin/bash
# Hostile or broken notifications on the agent's topic: each is refused
# with a message and the agent carries on; a notify with a token the
# service refuses ends that tunnel only. Then a real session works.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

start_tunnel_world
topic='$aws/things/kiosk-17/tunnels/notify'
pub() {
	mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t "$topic" "$@"
}
pub -m 'not json'
pub -m '[1,2,3]'
pub -m '{"clientMode":"destination","region":"us-east-1"}'
pub -m '{"clientAccessToken":"x","clientMode":"source","region":"us-east-1"}'
pub -m '{"clientAccessToken":"x","clientMode":"destination","region":"../../etc"}'
# Over our 16 KiB check but within the packet size the agent asks the
# broker for (MQTT v5): delivered, and refused by the agent.
head -c 16500 /dev/zero | tr '\0' a > "$T/big"
pub -f "$T/big"
# Services the agent does not map, one with a terminal escape: logged
# (that one as nothing), and the tunnel's SERVICE_IDS decide.
pub -m "$(printf '{"clientAccessToken":"AQGAAXunknown","clientMode":"destination","region":"us-east-1","services":["NOPE","\033[2J"]}')"
pub -m '{"clientAccessToken":"AQGAAXbogus","clientMode":"destination","region":"us-east-1","services":["SSH"]}'
wait_for "$AGENT_LOG" "HTTP 401"
log=$(cat "$AGENT_LOG")
assert_contains "$log" "not a JSON object" "agent log"
assert_contains "$log" "no clientAccessToken" "agent log"
assert_contains "$log" 'clientMode is not "destination"' "agent log"
assert_contains "$log" "bad region" "agent log"
assert_contains "$log" "payload of 16500 bytes" "agent log"
assert_not_contains "$log" "AQGAAXbogus" "agent log"
assert_not_contains "$log" "AQGAAXunknown" "agent log"
assert_not_contains "$log" "$(printf '\033')" "agent log"
kill -0 "$AGENT_PID" || fail "the agent died"

out=$(ssh_dev kiosk-17 'echo still-serving')
assert_eq "$out" still-serving "ssh output"
echo "ok"
