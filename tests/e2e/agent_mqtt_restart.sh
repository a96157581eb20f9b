#!/bin/bash
# The MQTT broker restarts: the agent notices, reconnects with backoff,
# subscribes again, and the next tunnel's notification reaches it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

start_tunnel_world -v
kill "$MQTT_PID"
wait "$MQTT_PID" 2> /dev/null || true
wait_for "$AGENT_LOG" "MQTT connection to 127.0.0.1:$MQTT_PORT lost"
bg /usr/sbin/mosquitto -c "$T/mosquitto.conf" 2>> "$T/mosquitto.log"
i=0
while [ "$(grep -c "waiting on" "$AGENT_LOG")" -lt 2 ]; do
	i=$((i + 1))
	[ "$i" -lt 600 ] || fail "the agent did not subscribe again"
	sleep 0.1
done
# The emulator reconnects on its own; wait for it before opening.
i=0
while [ "$(grep -c "MQTT: connected" "$EMU_LOG")" -lt 2 ]; do
	i=$((i + 1))
	[ "$i" -lt 600 ] || fail "the emulator did not reconnect"
	sleep 0.1
done
out=$(ssh_dev kiosk-17 'echo after-restart')
assert_eq "$out" after-restart "ssh output"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"
echo "ok"
