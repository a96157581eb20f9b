#!/bin/bash
# The agent on MQTT with mutual TLS, as with AWS IoT Core: a broker that
# requires a client certificate; the agent presents the device's and the
# ssh session works; without one the broker refuses it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

make_ca
start_sshd

# The device's certificate, from the test CA.
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/device.key" -out "$T/device.csr" -subj "/CN=kiosk-17" \
	2> /dev/null
printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' \
	> "$T/device.ext"
openssl x509 -req -in "$T/device.csr" -CA "$IST_CA" -CAkey "$T/ca/ca.key" \
	-CAcreateserial -out "$T/device.pem" -days 1 -extfile "$T/device.ext" \
	2> /dev/null

# One broker: plain for the emulator, TLS with client certificates for
# the agent. It stays root (a test broker on loopback) so that it can
# read the key files in the private test folder.
MQTT_HOST=127.0.0.1
MQTT_PORT=$(free_port)
TLS_PORT=$(free_port)
cat > "$T/mosquitto.conf" <<CONF
user root
per_listener_settings true
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
listener $TLS_PORT 127.0.0.1
allow_anonymous true
cafile $IST_CA
certfile $IST_CERT
keyfile $IST_KEY
require_certificate true
CONF
bg /usr/sbin/mosquitto -c "$T/mosquitto.conf"
for port in "$MQTT_PORT" "$TLS_PORT"; do
	i=0
	while ! "$IST_PY" -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' \
	    "$port" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -lt 600 ] || fail "mosquitto did not start"
		sleep 0.1
	done
done
start_emulator --mqtt "127.0.0.1:$MQTT_PORT"
write_ssh_config

# Without a client certificate: refused, and the agent says so.
bg "$IST_BIN/iot-tunnel-agent" --thing kiosk-17 \
	--mqtt-endpoint "127.0.0.1:$TLS_PORT" --mqtt-ca "$IST_CA" \
	2> "$T/agent-nocert.log"
nocert=$BG_PID
wait_for "$T/agent-nocert.log" "check --mqtt-ca"
assert_not_contains "$(cat "$T/agent-nocert.log")" "waiting on" \
	"agent without a certificate"
kill "$nocert"

MQTT_PORT=$TLS_PORT start_agent kiosk-17 --mqtt-ca "$IST_CA" \
	--mqtt-cert "$T/device.pem" --mqtt-key "$T/device.key" \
	--mqtt-endpoint "127.0.0.1:$TLS_PORT"
out=$(ssh_dev kiosk-17 'echo over-mqtts')
assert_eq "$out" over-mqtts "ssh output"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"
echo "ok"
