#!/bin/bash
# The MQTT broker is not there when the emulator starts: the emulator
# keeps trying, holds the notification of a tunnel opened meanwhile, and
# publishes it once the broker is up. A persistent subscriber session
# (restored from the broker's persistence file) receives it, so nothing
# here depends on timing.
. "$(dirname "$0")/lib.sh"

topic='$aws/things/late-1/tunnels/notify'
port=$(free_port)
mkdir -p "$T/mq"
cat > "$T/mq.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence true
persistence_location $T/mq/
user root
log_dest stderr
CONF

# 1. A broker, a persistent QoS 1 subscription, then no broker.
bg /usr/sbin/mosquitto -c "$T/mq.conf" 2>> "$T/mosquitto.log"
mq=$BG_PID
i=0
until mosquitto_sub -h 127.0.0.1 -p "$port" -c -i late-sub -q 1 \
	-t "$topic" -E 2> /dev/null; do
	i=$((i + 1)); [ "$i" -lt 600 ] || fail "no broker"
	sleep 0.1
done
kill "$mq"; wait "$mq" 2>/dev/null || true
[ -s "$T/mq/mosquitto.db" ] || fail "the broker saved no session"

# 2. The emulator starts without a broker and opens a tunnel.
start_emulator -v --mqtt "127.0.0.1:$port"
assert_contains "$(cat "$EMU_LOG")" "cannot reach 127.0.0.1:$port"
aws_emu iotsecuretunneling open-tunnel \
	--destination-config thingName=late-1,services=SSH > "$T/open.json" ||
	fail "open-tunnel without a broker"
wait_for "$EMU_LOG" "waits for it"

# 3. The broker comes back; the held notification reaches the session.
bg /usr/sbin/mosquitto -c "$T/mq.conf" 2>> "$T/mosquitto.log"
wait_for "$EMU_LOG" "published 1 held notification"
mosquitto_sub -h 127.0.0.1 -p "$port" -c -i late-sub -q 1 -t "$topic" \
	-C 1 -W 10 > "$T/got.json" || fail "no notification for the session"
assert_eq "$(json_get "$T/got.json" clientAccessToken)" \
	"$(json_get "$T/open.json" destinationAccessToken)" "held token"

# 4. Later notifications go straight out.
bg mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -t "$topic" -t probe/late \
	-F '%t %p' > "$T/sub.txt"
i=0
until grep -q probe/late "$T/sub.txt"; do
	mosquitto_pub -h 127.0.0.1 -p "$port" -t probe/late -m x
	i=$((i + 1)); [ "$i" -lt 600 ] || fail "subscriber not ready"
	sleep 0.1
done
aws_emu iotsecuretunneling open-tunnel \
	--destination-config thingName=late-1,services=SSH > "$T/open2.json" ||
	fail "open-tunnel with the broker back"
wait_for "$T/sub.txt" "$(json_get "$T/open2.json" destinationAccessToken)"
assert_not_contains "$(cat "$EMU_LOG")" "AQGAA" "emulator log"
echo PASS
