#!/bin/bash
# TLS to the tunnel service is verified, IPv6 literals included (lws
# 4.1.6's own TLS client skipped the name check for one:
# docs/libwebsockets.md):
#  - a certificate without the address is refused (exit 5, the reason);
#  - an unknown CA is refused;
#  - with a certificate for ::1, ssh works end to end over [::1] (API,
#    proxy and agent).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

make_ca
start_sshd
start_emulator	# on 127.0.0.1: the API for the refusal cases

# start_v6_emulator CERT KEY [ARGS]: another emulator on [::1] (same
# account).
start_v6_emulator() {
	local cert=$1 key=$2
	shift 2
	: > "$T/emu6.out"
	bg "$IST_BIN/iot-tunnel-emulator" --listen "[::1]:0" \
		--tls-cert "$cert" --tls-key "$key" \
		--credentials-file "$T/emu-credentials" "$@" \
		> "$T/emu6.out" 2> "$T/emulator6.log"
	local i=0
	while ! grep -q '^listening ' "$T/emu6.out"; do
		kill -0 "$BG_PID" 2>/dev/null || fail "emulator on ::1 exited"
		i=$((i + 1))
		[ "$i" -lt 600 ] || fail "emulator on ::1 did not start"
		sleep 0.1
	done
	EMU6_URL=$(sed -n 's/^listening //p' "$T/emu6.out" | sed -n 1p)
	EMU6_PORT=${EMU6_URL##*:}
}

proxy_direct() {
	rc=0
	"$IST_BIN/iot-ssh-proxy" --no-hooks --api-endpoint "$EMU_URL" \
		--tunnel-id 00000000-0000-0000-0000-000000000000 \
		--token-file "$T/fake.tok" "$@" kiosk-17 \
		< /dev/null > /dev/null 2> "$T/proxy.err" || rc=$?
}
(umask 077; echo "not-a-real-token" > "$T/fake.tok")

# 1. The test server certificate names 127.0.0.1 and localhost only.
start_v6_emulator "$IST_CERT" "$IST_KEY"
proxy_direct --ca-file "$IST_CA" --proxy-endpoint "[::1]:$EMU6_PORT"
assert_eq "$rc" 5 "exit status, certificate without ::1"
assert_contains "$(cat "$T/proxy.err")" "IP address mismatch" "message"

# 2. A CA we were not told to trust.
mkdir -p "$T/other"
"$IST_SRC/scripts/make-test-ca.sh" "$T/other" > /dev/null
proxy_direct --ca-file "$T/other/ca.pem" --proxy-endpoint "127.0.0.1:$EMU_PORT"
assert_eq "$rc" 5 "exit status, unknown CA"
assert_contains "$(cat "$T/proxy.err")" "TLS with the tunnel service" "message"

# 3. A certificate for ::1: everything over IPv6.
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/v6.key" -out "$T/v6.csr" -subj "/CN=ip6-localhost" \
	2> /dev/null
printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:::1\n' \
	> "$T/v6.ext"
openssl x509 -req -in "$T/v6.csr" -CA "$IST_CA" -CAkey "$T/ca/ca.key" \
	-CAcreateserial -out "$T/v6.pem" -days 1 -extfile "$T/v6.ext" \
	2> /dev/null
start_mosquitto
start_v6_emulator "$T/v6.pem" "$T/v6.key" --mqtt "127.0.0.1:$MQTT_PORT"
EMU_URL=$EMU6_URL
EMU_PORT=$EMU6_PORT
start_agent kiosk-17 --proxy-endpoint "[::1]:$EMU6_PORT"
write_ssh_config
sed -i "s|--proxy-endpoint 127.0.0.1:$EMU6_PORT|--proxy-endpoint [::1]:$EMU6_PORT|" \
	"$T/ssh_config"
out=$(ssh_dev kiosk-17 'echo over-ipv6')
assert_eq "$out" over-ipv6 "ssh output over [::1]"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status over [::1]"
assert_contains "$(cat "$AGENT_LOG")" "via ::1:$EMU6_PORT" "agent endpoint"
echo "ok"
