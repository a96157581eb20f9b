#!/bin/bash
# MQTT notify: OpenTunnel with a thingName, and RotateTunnelAccessToken
# with DESTINATION/ALL plus destinationConfig, publish the destination
# token to $aws/things/{thing}/tunnels/notify at QoS 1 on a real
# mosquitto; the published token opens the tunnel's destination side.
. "$(dirname "$0")/lib.sh"

start_mosquitto
start_emulator -v --mqtt "127.0.0.1:$MQTT_PORT"

topic='$aws/things/kiosk-17/tunnels/notify'
sub=$T/sub.txt
# %q: the QoS it arrived with (the lower of publish and subscribe).
bg mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t "$topic" \
	-t probe/ready -F '%q %t %p' > "$sub"
# Subscribed once a probe comes through.
i=0
until grep -q probe/ready "$sub"; do
	mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -t probe/ready -m x
	i=$((i + 1))
	[ "$i" -lt 600 ] || fail "mosquitto_sub did not subscribe"
	sleep 0.1
done
probes=$(grep -c probe/ready "$sub")

nth_notify() { # N: the Nth notify payload
	grep -F "$topic" "$sub" | sed -n "${1}p" | cut -d' ' -f3-
}

# A tunnel without a thing publishes nothing; one with a thing does.
aws_emu iotsecuretunneling open-tunnel --destination-config services=SSH \
	> "$T/open0.json" || fail "open without thing"
aws_emu iotsecuretunneling open-tunnel \
	--destination-config thingName=kiosk-17,services=SSH,VNC \
	> "$T/open.json" || fail "open"
id=$(json_get "$T/open.json" tunnelId)
wait_for "$sub" "$topic"
line=$(grep -F "$topic" "$sub" | sed -n 1p)
assert_eq "${line%% *}" 1 "QoS"
nth_notify 1 > "$T/n1.json"
assert_eq "$(json_get "$T/n1.json" clientAccessToken)" \
	"$(json_get "$T/open.json" destinationAccessToken)" "notified token"
assert_eq "$(json_get "$T/n1.json" clientMode)" destination "clientMode"
assert_eq "$(json_get "$T/n1.json" region)" us-east-1 "region"
assert_eq "$(json_get "$T/n1.json" services)" '["SSH", "VNC"]' "services"

# Rotating SOURCE publishes nothing, DESTINATION with a config does.
aws_emu iotsecuretunneling rotate-tunnel-access-token --tunnel-id "$id" \
	--client-mode SOURCE > /dev/null || fail "rotate SOURCE"
aws_emu iotsecuretunneling rotate-tunnel-access-token --tunnel-id "$id" \
	--client-mode DESTINATION \
	--destination-config thingName=kiosk-17,services=SSH,VNC \
	> "$T/rot.json" || fail "rotate DESTINATION"
i=0
until [ "$(grep -cF "$topic" "$sub")" -ge 2 ]; do
	i=$((i + 1)); [ "$i" -lt 600 ] || fail "no second notify"
	sleep 0.1
done
nth_notify 2 > "$T/n2.json"
assert_eq "$(json_get "$T/n2.json" clientAccessToken)" \
	"$(json_get "$T/rot.json" destinationAccessToken)" "rotated token"
# ALL with a config publishes too; ALL without one does not.
aws_emu iotsecuretunneling rotate-tunnel-access-token --tunnel-id "$id" \
	--client-mode ALL > /dev/null || fail "rotate ALL bare"
aws_emu iotsecuretunneling rotate-tunnel-access-token --tunnel-id "$id" \
	--client-mode ALL --destination-config thingName=kiosk-17,services=SSH,VNC \
	> "$T/rot3.json" || fail "rotate ALL"
i=0
until [ "$(grep -cF "$topic" "$sub")" -ge 3 ]; do
	i=$((i + 1)); [ "$i" -lt 600 ] || fail "no third notify"
	sleep 0.1
done
nth_notify 3 > "$T/n3.json"
assert_eq "$(json_get "$T/n3.json" clientAccessToken)" \
	"$(json_get "$T/rot3.json" destinationAccessToken)" "ALL token"
# Two publications were skipped: exactly three arrived, no more later
# (the probes and the three were all delivered in publish order).
assert_eq "$(grep -cF "$topic" "$sub")" 3 "notify count"
assert_eq "$(grep -c probe/ready "$sub")" "$probes" "probe count"

# The token from MQTT is the one the data plane takes.
"$IST_PY" - "$T/n3.json" <<'PY' || fail "connect with the notified token"
import json, os, sys
sys.path.insert(0, os.path.join(os.environ["IST_SRC"], "tests/e2e"))
import tunnel_client as tc
n = json.load(open(sys.argv[1]))
ws = tc.connect("destination", token=n["clientAccessToken"])
assert isinstance(ws, tc.WS), ws
m = ws.recv_msgs(1)[0]
assert m["availableServiceIds"] == ["SSH", "VNC"], m
ws.close()
PY
assert_not_contains "$(cat "$EMU_LOG")" "AQGAA" "emulator log"
assert_contains "$(cat "$EMU_LOG")" "destination token published to"
echo PASS
