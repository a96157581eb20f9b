#!/bin/bash
# Nobody joins as destination: exit 4 after --wait, tunnel closed; and
# --log-file takes the messages; -q drops the progress line.
rc=0
# shellcheck disable=SC2046
"$IST_BIN/iot-ssh-proxy" $(proxy_env) --wait 3 -q --log-file "$T/p.log" \
	kiosk-19 < /dev/null > "$T/p.out" 2> "$T/p.err" || rc=$?
assert_eq "$rc" 4 "proxy exit status (--log-file)"
assert_contains "$(cat "$T/p.log")" "iot-ssh-proxy: thing kiosk-19 did not join" \
	"log file"
assert_eq "$(cat "$T/p.err")" "" "stderr with --log-file -q"
assert_eq "$(wc -c < "$T/p.out")" 0 "stdout"

# SIGTERM while waiting closes the tunnel as well.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

make_ca
start_sshd
start_emulator
write_ssh_config --wait 3
set +e
ssh_dev kiosk-17 true 2> "$T/ssh.err"
set -e
assert_eq "$(last_proxy_rc)" 4 "proxy exit status"
assert_contains "$(last_proxy_err)" "did not join" "proxy message"
id=$(tunnels_for kiosk-17 | sed -n 1p)
[ -n "$id" ] || fail "no tunnel"
wait_tunnel_status "$id" CLOSED

# --log-file takes the messages; -q drops the progress line.
rc=0
# shellcheck disable=SC2046
"$IST_BIN/iot-ssh-proxy" $(proxy_env) --wait 3 -q --log-file "$T/p.log" \
	kiosk-19 < /dev/null > "$T/p.out" 2> "$T/p.err" || rc=$?
assert_eq "$rc" 4 "proxy exit status (--log-file)"
assert_contains "$(cat "$T/p.log")" "iot-ssh-proxy: thing kiosk-19 did not join" \
	"log file"
assert_eq "$(cat "$T/p.err")" "" "stderr with --log-file -q"
assert_eq "$(wc -c < "$T/p.out")" 0 "stdout"

# SIGTERM while waiting for the device: the tunnel is closed too.
# shellcheck disable=SC2046
"$IST_BIN/iot-ssh-proxy" $(proxy_env) --wait 120 kiosk-18 < /dev/null \
	> /dev/null 2> "$T/term.err" &
pid=$!
i=0
while [ -z "$(tunnels_for kiosk-18)" ]; do
	i=$((i + 1))
	[ "$i" -lt 600 ] || fail "no tunnel for kiosk-18"
	sleep 0.1
done
wait_for "$T/term.err" "waiting for thing kiosk-18"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
assert_eq "$rc" 0 "proxy exit status after SIGTERM"
wait_tunnel_status "$(tunnels_for kiosk-18)" CLOSED
echo "ok"
