#!/bin/bash
# HTTPS_PROXY applies to the WebSocket too (lws only knows a lowercase
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
PROXY_PORT=$(free_port)
bg "$IST_PY" -c 'import socket, sys, threading
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def serve(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(4096)
        if not d:
            return
        buf += d
    line = buf.split(b"\r\n", 1)[0].decode()
    with open(sys.argv[2], "a") as f:
        f.write(buf.decode(errors="replace").replace("\r\n", " | ") + "\n")
    method, target = line.split()[:2]
    if method != "CONNECT":
        c.sendall(b"HTTP/1.1 405 no\r\n\r\n")
        return
    host, port = target.rsplit(":", 1)
    u = socket.create_connection((host, int(port)))
    c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    pipe(u, c)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
open(sys.argv[2], "a").close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()' \
	"$PROXY_PORT" "$T/connects.log"
i=0
while [ ! -e "$T/connects.log" ]; do
	i=$((i + 1))
	[ "$i" -lt 600 ] || fail "the CONNECT proxy did not start"
	sleep 0.1
done

HTTPS_PROXY=http://127.0.0.1:$PROXY_PORT NO_PROXY= http_proxy=http://127.0.0.1:1 \
	start_agent kiosk-17 --region us-east-1
out=$(HTTPS_PROXY=http://127.0.0.1:$PROXY_PORT NO_PROXY= \
	http_proxy=http://127.0.0.1:1 ssh_dev kiosk-17 'echo via-proxy')
assert_eq "$out" via-proxy "ssh output"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"
# The API calls (src/aws/http.c) and the WebSocket (lws, "User-agent: lws")
# both went through it.
log=$(cat "$T/connects.log")
assert_contains "$log" "CONNECT 127.0.0.1:$EMU_PORT HTTP/1.1 | Host: 127.0.0.1:$EMU_PORT | Proxy-Connection" \
	"CONNECT from the API client"
assert_contains "$log" "CONNECT 127.0.0.1:$EMU_PORT HTTP/1.1 | Host: 127.0.0.1:$EMU_PORT | User-agent: lws" \
	"CONNECT from the WebSocket"
# The agent's WebSocket went through it, its local connection did not.
n=$(grep -c "User-agent: lws" "$T/connects.log" || true)
assert_eq "$n" 2 "CONNECTs by lws (proxy and agent)"
assert_not_contains "$log" "CONNECT 127.0.0.1:$SSHD_PORT" "local connection"
echo "ok"
