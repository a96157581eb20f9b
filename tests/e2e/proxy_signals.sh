#!/bin/bash
# Every way out at every phase closes the tunnel the proxy opened and
# exits with its documented code (README "Exit codes": 0 on SIGHUP from
# ssh, SIGINT and SIGTERM; 4 when the device does not join in --wait):
#  - OpenTunnel: a signal while the API is slow to answer (the emulator's
#    delay fault): the tunnel it then gets is closed, exit 0;
#  - waiting for SERVICE_IDS (the emulator's service-ids fault holds it
#    back): SIGHUP, exit 0; --wait, exit 4;
#  - waiting for the device (nobody joins): SIGHUP, exit 0; --wait, exit 4;
#  - streaming: SIGTERM mid-session, exit 0.
# The TCP, TLS and upgrade phases are in proxy_handshake_hang.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

start_tunnel_world --admin
mkfifo "$T/in"

# start_proxy THING [ARGS]: the proxy on its own, stdin held open; PID
# in $PROXY, messages in $T/THING.err, stream in $T/THING.out.
start_proxy() {
	local thing=$1
	shift
	# shellcheck disable=SC2046
	"$IST_BIN/iot-ssh-proxy" $(proxy_env) -vvv "$@" "$thing" 0<> "$T/in" \
		> "$T/$thing.out" 2> "$T/$thing.err" &
	PROXY=$!
}

# ends THING SIGNAL WANT_RC: the proxy ends with WANT_RC after SIGNAL
# (none: on its own) and THING's tunnel is CLOSED.
ends() {
	local thing=$1 sig=$2 want=$3 rc=0 id
	[ "$sig" = none ] || kill -"$sig" "$PROXY"
	wait "$PROXY" || rc=$?
	assert_eq "$rc" "$want" "exit status ($thing, $sig): $(tail -5 "$T/$thing.err")"
	id=$(tunnels_for "$thing" | sed -n 1p)
	[ -n "$id" ] || fail "no tunnel for $thing"
	wait_tunnel_status "$id" CLOSED
	assert_not_contains "$(cat "$T/$thing.err")" "could not close" \
		"proxy messages ($thing)"
}

# 1. OpenTunnel answers after 4 s; the signal comes while it waits.
for sig in HUP TERM; do
	thing=kiosk-open-$sig
	emu_admin delay '{"ms": 4000, "count": 1, "operation": "OpenTunnel"}' \
		> /dev/null
	start_proxy "$thing"
	wait_for "$T/$thing.err" "OpenTunnel: POST"
	ends "$thing" "$sig" 0
done

# 2. Joined, but SERVICE_IDS never comes.
thing=kiosk-ids-HUP
emu_admin service-ids '{"count": 1, "side": "source"}' > /dev/null
start_proxy "$thing" --wait 120
wait_for "$T/$thing.err" "as source (channel-id"
assert_not_contains "$(cat "$T/$thing.err")" "tunnel service: SSH" \
	"SERVICE_IDS held back"
ends "$thing" HUP 0
thing=kiosk-ids-timeout
emu_admin service-ids '{"count": 1, "side": "source"}' > /dev/null
start_proxy "$thing" --wait 2
ends "$thing" none 4

# 3. Waiting for the device (no agent for this thing).
thing=kiosk-wait-HUP
start_proxy "$thing" --wait 120
wait_for "$T/$thing.err" "tunnel service: SSH"
ends "$thing" HUP 0
thing=kiosk-wait-timeout
start_proxy "$thing" --wait 2
ends "$thing" none 4
assert_contains "$(cat "$T/$thing.err")" "did not join" "--wait message"

# 4. Streaming: sshd's banner has come through the agent.
thing=kiosk-17
start_proxy "$thing"
wait_for "$T/$thing.out" "SSH-2.0-"
ends "$thing" TERM 0
echo "ok"
