#!/bin/bash
# HTTPS_PROXY applies to the WebSocket too (lws would only know a lowercase
# http_proxy of its own): an ssh session goes through a CONNECT proxy for
# both the API and the data plane, and a lowercase http_proxy pointing
# nowhere is not used.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

make_ca
start_sshd
start_mosquitto
start_emulator --mqtt "127.0.0.1:$MQTT_PORT"
write_ssh_config
bg "$IST_PY" "$IST_SRC/tests/e2e/connect_proxy.py" plain "$T/connects.log" \
	> "$T/cproxy.out"
wait_for "$T/cproxy.out" listening 30
PROXY_PORT=$(sed -n 's/^listening //p' "$T/cproxy.out")

HTTPS_PROXY=http://127.0.0.1:$PROXY_PORT NO_PROXY= http_proxy=http://127.0.0.1:1 \
	start_agent kiosk-17 --region us-east-1
out=$(HTTPS_PROXY=http://127.0.0.1:$PROXY_PORT NO_PROXY= \
	http_proxy=http://127.0.0.1:1 ssh_dev kiosk-17 'echo via-proxy')
assert_eq "$out" via-proxy "ssh output"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"
# The API calls (src/aws/http.c) and the WebSocket (ours, "User-Agent:
# iot-tunnel-ws") both went through it.
log=$(cat "$T/connects.log")
assert_contains "$log" "CONNECT 127.0.0.1:$EMU_PORT HTTP/1.1 | Host: 127.0.0.1:$EMU_PORT | Proxy-Connection" \
	"CONNECT from the API client"
assert_contains "$log" "CONNECT 127.0.0.1:$EMU_PORT HTTP/1.1 | Host: 127.0.0.1:$EMU_PORT | User-Agent: iot-tunnel-ws" \
	"CONNECT from the WebSocket"
# The agent's WebSocket went through it, its local connection did not.
n=$(grep -c "User-Agent: iot-tunnel-ws" "$T/connects.log" || true)
assert_eq "$n" 2 "CONNECTs by the WebSocket (proxy and agent)"
assert_not_contains "$log" "CONNECT 127.0.0.1:$SSHD_PORT" "local connection"
echo "ok"
