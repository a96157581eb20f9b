#!/bin/bash
# stdin ends before the tunnel is even up: every byte still reaches the
# device. With 60000 bytes in a pipe whose writer is gone while the proxy
# is still connecting, lws 4.1.6 would close fd 0 with the bytes unread
# (BUG C in docs/libwebsockets.md); 300000 bytes also take the normal path. Uses
# a non-SSH service (--service SINK) that the agent maps to a plain TCP
# sink storing what it gets.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

make_ca
start_mosquitto
start_emulator --mqtt "127.0.0.1:$MQTT_PORT"
SSHD_PORT=1	# unused: the agent below maps SINK only
SINK_PORT=$(free_port)
bg "$IST_PY" -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(4)
open(sys.argv[2] + ".ready", "w").close()
n = 0
while True:
    c, _ = s.accept()
    n += 1
    with open("%s.%d" % (sys.argv[2], n), "wb") as f:
        while True:
            b = c.recv(65536)
            if not b:
                break
            f.write(b)
    c.close()
    open("%s.%d.done" % (sys.argv[2], n), "w").close()' \
	"$SINK_PORT" "$T/sink"
i=0
while [ ! -e "$T/sink.ready" ]; do
	i=$((i + 1))
	[ "$i" -lt 600 ] || fail "the sink did not start"
	sleep 0.1
done
start_agent sink-1 --service "SINK=127.0.0.1:$SINK_PORT"

n=0
for size in 60000 300000; do
	n=$((n + 1))
	head -c "$size" /dev/urandom > "$T/in.$n"
	rc=0
	# shellcheck disable=SC2046
	cat "$T/in.$n" | "$IST_BIN/iot-ssh-proxy" $(proxy_env) \
		--service SINK sink-1 > "$T/out.$n" 2> "$T/proxy.$n.err" ||
		rc=$?
	assert_eq "$rc" 0 "proxy exit status ($size bytes)"
	i=0
	while [ ! -e "$T/sink.$n.done" ]; do
		i=$((i + 1))
		[ "$i" -lt 600 ] || fail "the sink did not see the end"
		sleep 0.1
	done
	assert_eq "$(sha256sum < "$T/sink.$n" | cut -d' ' -f1)" \
		"$(sha256sum < "$T/in.$n" | cut -d' ' -f1)" \
		"bytes at the device ($size)"
done
echo "ok"
