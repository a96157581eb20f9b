#!/bin/bash
# A hostile source in one tunnel (tests/e2e/agent_hostile_source.py: a
# flood of CONNECTION_STARTs and STREAM_STARTs, stale resets, garbage)
# ends that tunnel at most: the MQTT agent stays up and serves the next
# tunnel. (A service that refuses connections: agent_noservice.sh; bad
# notifications: agent_notify.sh, agent_notify_huge.sh.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

start_tunnel_world
(umask 077
 aws_emu iotsecuretunneling open-tunnel --destination-config \
	'{"thingName":"kiosk-17","services":["SSH"]}' > "$T/open.json"
 json_get "$T/open.json" sourceAccessToken > "$T/src.tok")
id=$(json_get "$T/open.json" tunnelId)
rm -f "$T/open.json"
# The agent joins on the notify.
i=0
until aws_emu iotsecuretunneling describe-tunnel --tunnel-id "$id" |
    grep -q '"status": "CONNECTED"'; do
	i=$((i + 1))
	[ "$i" -lt 300 ] || fail "the agent did not join tunnel $id"
	sleep 0.2
done
"$IST_PY" "$IST_SRC/tests/e2e/agent_hostile_source.py" "$T/src.tok" ||
	fail "hostile source cases"
kill -0 "$AGENT_PID" || fail "the agent died"
aws_emu iotsecuretunneling close-tunnel --tunnel-id "$id" > /dev/null
out=$(ssh_dev kiosk-17 'echo next-tunnel')
assert_eq "$out" next-tunnel "ssh output"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"
kill -0 "$AGENT_PID" || fail "the agent died"
echo "ok"
