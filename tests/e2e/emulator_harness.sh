#!/bin/bash
# The shared harness itself (lib.sh): sshd, json_get, emu_open_tunnel,
# and that cleanup kills what was started.
. "$(dirname "$0")/lib.sh"

start_sshd
out=$(ssh -F "$SSH_CONFIG" sshd-test 'echo hello-$((6 * 7))') ||
	fail "ssh to the test sshd"
assert_eq "$out" "hello-42" "ssh output"

start_emulator
emu_open_tunnel "$T/t.json" --destination-config thingName=a,services=SSH
[ -n "$TUNNEL_ID" ] || fail "no TUNNEL_ID"
assert_eq "$(json_get "$T/t.json" tunnelId)" "$TUNNEL_ID"
assert_eq "$(json_get "$T/t.json" nothing.here)" "" "absent path"

# A child shell using the harness leaves no process behind.
pids=$(bash -c '. "$IST_SRC/tests/e2e/lib.sh"; start_mosquitto;
	start_emulator; echo "$MQTT_PID $EMU_PID"')
for p in $pids; do
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$p" 2>/dev/null && fail "process $p left running"
done
echo PASS
