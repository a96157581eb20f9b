#!/bin/bash
# The proxy's WebSocket drops while it waits for the device (no stream
# yet, nothing of ssh's lost): it joins again with its client token and
# the session goes ahead once the device is there.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

make_ca
start_sshd
start_emulator --admin
(umask 077
 aws_emu iotsecuretunneling open-tunnel \
	--destination-config thingName=kiosk-17,services=SSH > "$T/open.json")
id=$(json_get "$T/open.json" tunnelId)
(umask 077
 json_get "$T/open.json" destinationAccessToken > "$T/dest.tok"
 json_get "$T/open.json" sourceAccessToken > "$T/src.tok")
rm -f "$T/open.json"

write_ssh_config --tunnel-id "$id" --token-file "$T/src.tok" -v
rm -f "$T/proxy.last.rc"
"$SSH" -F "$T/ssh_config" kiosk-17 'echo rejoined' > "$T/out" 2> "$T/ssh.err" &
ssh_pid=$!
i=0
while ! grep -q "waiting for thing kiosk-17" "$T"/proxy.*.err 2> /dev/null; do
	i=$((i + 1))
	[ "$i" -lt 600 ] || fail "the proxy is not waiting"
	sleep 0.1
done
emu_admin drop "{\"tunnelId\":\"$id\",\"side\":\"source\",\"abrupt\":true}" \
	> /dev/null
i=0
while ! grep -q "joining again" "$T"/proxy.*.err 2> /dev/null; do
	i=$((i + 1))
	[ "$i" -lt 600 ] || fail "the proxy did not notice the drop"
	sleep 0.1
done

bg "$IST_BIN/iot-tunnel-agent" --token-file "$T/dest.tok" \
	--service "SSH=127.0.0.1:$SSHD_PORT" --ca-file "$IST_CA" \
	--proxy-endpoint "127.0.0.1:$EMU_PORT" 2> "$T/agent.log"
wait "$ssh_pid" || fail "ssh failed: $(cat "$T/ssh.err")"
assert_eq "$(cat "$T/out")" rejoined "ssh output"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"
assert_contains "$(last_proxy_err)" "stream to SSH started" "proxy log"
echo "ok"
