#!/bin/bash
# One-shot agent (destination token on stdin, no MQTT) and the proxy
# joining an open tunnel with a source token from a file (--tunnel-id
# --token-file): a tunnel opened with the AWS CLI carries ssh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

make_ca
start_sshd
start_emulator
(umask 077
 aws_emu iotsecuretunneling open-tunnel \
	--destination-config thingName=kiosk-17,services=SSH > "$T/open.json")
id=$(json_get "$T/open.json" tunnelId)
(umask 077
 json_get "$T/open.json" destinationAccessToken > "$T/dest.tok"
 json_get "$T/open.json" sourceAccessToken > "$T/src.tok")

# The token on stdin (--token-file -).
bg sh -c 'exec "$@" < "$0"' "$T/dest.tok" \
	"$IST_BIN/iot-tunnel-agent" --token-file - \
	--service "SSH=127.0.0.1:$SSHD_PORT" --ca-file "$IST_CA" \
	--proxy-endpoint "127.0.0.1:$EMU_PORT" -vv 2> "$T/agent.log"
AGENT_PID=$BG_PID
wait_for "$T/agent.log" "connected as destination"

write_ssh_config --tunnel-id "$id" --token-file "$T/src.tok"
out=$(ssh_dev kiosk-17 'echo one-shot; echo $((6 * 7))')
assert_eq "$out" "one-shot
42" "ssh output"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"
# Not opened by the proxy: still open, and the agent still in it.
assert_eq "$(tunnel_status "$id")" OPEN "tunnel status"
kill -0 "$AGENT_PID" || fail "the agent left after the session"

# Closing the tunnel ends the one-shot agent with status 0.
aws_emu iotsecuretunneling close-tunnel --tunnel-id "$id" > /dev/null
rc=0
wait "$AGENT_PID" || rc=$?
assert_eq "$rc" 0 "agent exit status"
log=$(cat "$T/agent.log" "$T"/proxy.*.err)
assert_not_contains "$log" "$(cat "$T/dest.tok")" "logs"
assert_not_contains "$log" "$(cat "$T/src.tok")" "logs"
echo "ok"
