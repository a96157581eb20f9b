#!/bin/bash
# Command lines of iot-ssh-proxy and iot-tunnel-agent: usage errors exit
# 1 with a message saying what is wrong, before anything is contacted;
# --help lists the exit codes; --version; no token on a command line.
. "$(dirname "$0")/lib.sh"

P=$IST_BIN/iot-ssh-proxy
A=$IST_BIN/iot-tunnel-agent

# expect_usage WHAT TEXT CMD...: exit status 1, TEXT on stderr, no stdout.
expect_usage() {
	local what=$1 text=$2 rc=0
	shift 2
	"$@" < /dev/null > "$T/out" 2> "$T/err" || rc=$?
	assert_eq "$rc" 1 "$what: exit status"
	assert_contains "$(cat "$T/err")" "$text" "$what: message"
	assert_eq "$(wc -c < "$T/out")" 0 "$what: stdout"
}

# Nothing may reach AWS from these: no credentials, an endpoint that
# refuses connections.
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY=
export AWS_EC2_METADATA_DISABLED=true
ep="--api-endpoint http://127.0.0.1:9 --no-hooks"

expect_usage "no host" "expected HOST" "$P" $ep
expect_usage "bad port" "bad port" "$P" $ep kiosk-17 99999
expect_usage "too many args" "expected HOST" "$P" $ep a 22 extra
expect_usage "bad --wait" "--wait x" "$P" $ep --wait x kiosk-17
expect_usage "bad --timeout" "1 to 720" "$P" $ep --timeout 721 kiosk-17
expect_usage "bad --tag" "KEY=VALUE" "$P" $ep --tag novalue kiosk-17
expect_usage "bad client type" "v1, v2 or v3" "$P" $ep \
	--destination-client-type v4 kiosk-17
expect_usage "--rotate alone" "--rotate needs --tunnel-id" "$P" $ep \
	--rotate kiosk-17
expect_usage "--token-file alone" "--token-file needs --tunnel-id" "$P" $ep \
	--token-file /dev/null kiosk-17
expect_usage "unknown option" "usage:" "$P" $ep --access-token x kiosk-17
expect_usage "missing token file" "cannot read token file" "$P" $ep \
	--tunnel-id x --token-file "$T/none" kiosk-17
expect_usage "empty token" "AWSIOT_TUNNEL_ACCESS_TOKEN" env \
	AWSIOT_TUNNEL_ACCESS_TOKEN= "$P" $ep --tunnel-id x kiosk-17
expect_usage "missing CA" "none.pem" env \
	AWSIOT_TUNNEL_ACCESS_TOKEN=t "$P" $ep --tunnel-id x \
	--ca-file "$T/none.pem" kiosk-17
expect_usage "missing hooks file" "$T/none.lua" "$P" \
	--api-endpoint http://127.0.0.1:9 --hooks "$T/none.lua" kiosk-17

"$P" --help > "$T/help"
for code in 0 1 2 3 4 5 6; do
	grep -q "^  $code  " "$T/help" || fail "--help lacks exit code $code"
done
assert_contains "$("$P" --version)" "iot-ssh-proxy " "--version"

expect_usage "agent: no mode" "AWSIOT_TUNNEL_ACCESS_TOKEN" env \
	AWSIOT_TUNNEL_ACCESS_TOKEN= "$A"
expect_usage "agent: bad --service" "NAME=HOST:PORT" "$A" --service ssh \
	--thing t --mqtt-endpoint 127.0.0.1:9
expect_usage "agent: bad service port" "bad port" "$A" \
	--service SSH=127.0.0.1:0 --thing t --mqtt-endpoint 127.0.0.1:9
expect_usage "agent: no thing" "needs --thing" "$A" \
	--mqtt-endpoint 127.0.0.1:9
expect_usage "agent: bad thing" "not a thing name" "$A" --thing 'a/#' \
	--mqtt-endpoint 127.0.0.1:9
# What the systemd unit passes from an unfilled /etc/default file.
expect_usage "agent: empty thing" \
	"--thing is empty: give this device's thing name (for the systemd unit: THING_NAME in /etc/default/iot-tunnel-agent)" \
	"$A" --thing "" --mqtt-endpoint ""
expect_usage "agent: empty endpoint" "MQTT_ENDPOINT in /etc/default" \
	"$A" --thing t --mqtt-endpoint ""
expect_usage "agent: cert without key" "go together" "$A" --thing t \
	--mqtt-endpoint 127.0.0.1:9 --mqtt-cert /dev/null
"$A" --help > "$T/help"
assert_contains "$(cat "$T/help")" "--service NAME=HOST:PORT" "agent --help"
echo "ok"
