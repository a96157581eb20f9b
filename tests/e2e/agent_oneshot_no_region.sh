#!/bin/bash
# Bug "the one-shot agent with --proxy-endpoint still demands --region":
# with the data plane given there is nothing to use a region for. With no
# region anywhere (no --region, AWS_REGION, AWS_DEFAULT_REGION or profile)
# the one-shot agent joins and carries ssh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

make_ca
start_sshd
start_emulator
(umask 077
 aws_emu iotsecuretunneling open-tunnel \
	--destination-config thingName=kiosk-nr,services=SSH > "$T/open.json")
id=$(json_get "$T/open.json" tunnelId)
(umask 077
 json_get "$T/open.json" destinationAccessToken > "$T/dest.tok"
 json_get "$T/open.json" sourceAccessToken > "$T/src.tok")
rm -f "$T/open.json"

mkdir -m 700 "$T/home"
bg env -u AWS_REGION -u AWS_DEFAULT_REGION -u AWS_CONFIG_FILE \
	-u AWS_SHARED_CREDENTIALS_FILE HOME="$T/home" \
	"$IST_BIN/iot-tunnel-agent" --token-file "$T/dest.tok" \
	--service "SSH=127.0.0.1:$SSHD_PORT" --ca-file "$IST_CA" \
	--proxy-endpoint "127.0.0.1:$EMU_PORT" -vv 2> "$T/agent.log"
agent=$BG_PID
wait_for "$T/agent.log" "connected as destination"
assert_not_contains "$(cat "$T/agent.log")" "no AWS region" "agent log"

write_ssh_config --tunnel-id "$id" --token-file "$T/src.tok"
out=$(ssh_dev kiosk-nr 'echo no-region')
assert_eq "$out" "no-region" "ssh output"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"
aws_emu iotsecuretunneling close-tunnel --tunnel-id "$id" > /dev/null
rc=0
wait "$agent" || rc=$?
assert_eq "$rc" 0 "agent exit status"
echo "ok"
