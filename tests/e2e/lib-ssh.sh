# lib-ssh.sh: ssh through iot-ssh-proxy, end to end (bash). Source it
# after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"; . "$(dirname "$0")/lib-ssh.sh"
#   start_tunnel_world          # sshd, mosquitto, emulator, agent
#   out=$(ssh_dev kiosk-17 'uname -s')
#
# It offers:
#   start_sshd (lib.sh)       sshd on 127.0.0.1:$SSHD_PORT, keys in $T/sshd
#   write_ssh_config [ARGS]   $T/ssh_config: every host goes through
#                             iot-ssh-proxy (extra proxy ARGS appended);
#                             the proxy's stderr goes to $T/proxy.<n>.err,
#                             its exit status to $T/proxy.<n>.rc
#   start_agent THING [ARGS]  iot-tunnel-agent on MQTT for THING
#   start_tunnel_world        all of the above, agent for kiosk-17
#   open_oneshot_tunnel THING [SERVICE...]  a tunnel (services: SSH by
#                             default) opened with the AWS CLI and a
#                             one-shot agent in it (no MQTT): TUNNEL_ID,
#                             AGENT_PID, AGENT_LOG, $T/<id>.src.tok
#   ssh_dev HOST CMD...       ssh -F $T/ssh_config HOST CMD
#   last_proxy_rc / last_proxy_err   of the latest ssh_dev's proxy
#   tunnels_for THING         tunnel ids of THING (newest first)
#   count_tunnels             how many tunnels the emulator has (any state)
#   open_tunnels_of THING     its OPEN tunnels' ids
#   tunnel_status ID          OPEN or CLOSED (DescribeTunnel, AWS CLI)
#   wait_tunnel_status ID S   until ID is S (the proxy closes the tunnel
#                             after ssh has already returned)
#   proxy_env                 the options that point the proxy at the
#                             emulator (for direct runs)

SSH=/usr/bin/ssh

proxy_env() {
	printf '%s' "--no-hooks --ca-file $IST_CA --api-endpoint $EMU_URL" \
		" --proxy-endpoint 127.0.0.1:$EMU_PORT"
}

# The wrapper ignores SIGHUP so that it can record the proxy's exit
# status: ssh hangs up on the wrapper, and the proxy ends on stdin EOF.
write_ssh_config() {
	cat > "$T/proxy-wrap.sh" <<'WRAP'
#!/bin/sh
trap '' HUP
n=$(mktemp "$IST_T/proxy.XXXXXX")
"$IST_BIN/iot-ssh-proxy" "$@" 2> "$n.err"
rc=$?
echo "$rc" > "$n.rc"
ln -sf "$n.err" "$IST_T/proxy.last.err"
ln -sf "$n.rc" "$IST_T/proxy.last.rc"
exit "$rc"
WRAP
	chmod +x "$T/proxy-wrap.sh"
	cat > "$T/ssh_config" <<CONF
Host *
	User root
	IdentityFile $T/sshd/id
	IdentitiesOnly yes
	StrictHostKeyChecking no
	UserKnownHostsFile /dev/null
	LogLevel ERROR
	BatchMode yes
	ProxyCommand $T/proxy-wrap.sh --user %r $(proxy_env) $* %h %p
CONF
	export IST_T=$T
}

start_agent() {
	local thing=$1
	shift
	AGENT_LOG=$T/agent.$thing.log
	bg "$IST_BIN/iot-tunnel-agent" --thing "$thing" \
		--mqtt-endpoint "127.0.0.1:$MQTT_PORT" \
		--service "SSH=127.0.0.1:$SSHD_PORT" \
		--ca-file "$IST_CA" --proxy-endpoint "127.0.0.1:$EMU_PORT" \
		-v "$@" 2> "$AGENT_LOG"
	AGENT_PID=$BG_PID
	wait_for "$AGENT_LOG" "waiting on"
	export AGENT_PID AGENT_LOG
}

start_tunnel_world() {
	make_ca
	start_sshd
	start_mosquitto
	start_emulator --mqtt "127.0.0.1:$MQTT_PORT" "$@"
	write_ssh_config
	start_agent kiosk-17
}

open_oneshot_tunnel() {
	local thing=$1 svcs
	shift
	[ $# -gt 0 ] || set -- SSH
	svcs=$(printf '"%s",' "$@")
	(umask 077
	 aws_emu iotsecuretunneling open-tunnel --destination-config \
		"{\"thingName\":\"$thing\",\"services\":[${svcs%,}]}" \
		> "$T/open.json")
	TUNNEL_ID=$(json_get "$T/open.json" tunnelId)
	(umask 077
	 json_get "$T/open.json" destinationAccessToken \
		> "$T/$TUNNEL_ID.dest.tok"
	 json_get "$T/open.json" sourceAccessToken > "$T/$TUNNEL_ID.src.tok")
	rm -f "$T/open.json"
	AGENT_LOG=$T/agent.$TUNNEL_ID.log
	bg "$IST_BIN/iot-tunnel-agent" --token-file "$T/$TUNNEL_ID.dest.tok" \
		--service "SSH=127.0.0.1:$SSHD_PORT" --ca-file "$IST_CA" \
		--proxy-endpoint "127.0.0.1:$EMU_PORT" -vv 2> "$AGENT_LOG"
	AGENT_PID=$BG_PID
	wait_for "$AGENT_LOG" "connected as destination"
	export TUNNEL_ID AGENT_PID AGENT_LOG
}

ssh_dev() {
	rm -f "$T/proxy.last.rc" "$T/proxy.last.err"
	"$SSH" -F "$T/ssh_config" "$@"
}

# The proxy may still be closing the tunnel when ssh returns: wait for
# its status (at most 60 s).
last_proxy_rc() {
	local i=0
	while [ ! -e "$T/proxy.last.rc" ] && [ "$i" -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	cat "$T/proxy.last.rc" 2>/dev/null || echo none
}

last_proxy_err() {
	cat "$T/proxy.last.err" 2>/dev/null || true
}

# Take the first with "sed -n 1p", not "head -n 1": head exits early and,
# under pipefail, the writer's SIGPIPE fails the test.
tunnels_for() {
	aws_emu iotsecuretunneling list-tunnels --thing-name "$1" \
		> "$T/list.json"
	"$IST_PY" -c 'import json, sys
for t in json.load(open(sys.argv[1])).get("tunnelSummaries", []):
    print(t["tunnelId"])' "$T/list.json"
}

count_tunnels() {
	aws_emu iotsecuretunneling list-tunnels > "$T/all.json" ||
		fail "list-tunnels"
	"$IST_PY" -c 'import json, sys
print(len(json.load(open(sys.argv[1]))["tunnelSummaries"]))' "$T/all.json"
}

# open_tunnels_of THING: its OPEN tunnels' ids (during a session: the
# session's own).
open_tunnels_of() {
	tunnels_for "$1" > /dev/null
	"$IST_PY" -c 'import json, sys
for t in json.load(open(sys.argv[1])).get("tunnelSummaries", []):
    if t["status"] == "OPEN":
        print(t["tunnelId"])' "$T/list.json"
}

tunnel_status() {
	aws_emu iotsecuretunneling describe-tunnel --tunnel-id "$1" \
		> "$T/describe.json"
	json_get "$T/describe.json" tunnel.status
}

wait_tunnel_status() {
	local id=$1 want=$2 i=0 got
	while :; do
		got=$(tunnel_status "$id")
		[ "$got" = "$want" ] && return 0
		i=$((i + 1))
		[ "$i" -lt 300 ] || fail "tunnel $id: status $got, wanted $want"
		sleep 0.2
	done
}
