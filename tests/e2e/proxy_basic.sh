#!/bin/bash
# ssh runs a command on the "device" through a tunnel opened on demand:
# output and exit status come back, the tunnel is described as who
# opened it for what, and it is CLOSED afterwards, both when ssh hangs up
# on the proxy (SIGHUP) and when the proxy sees stdin end.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

start_tunnel_world

out=$(ssh_dev kiosk-17 'echo hello-from-device; uname -s')
assert_eq "$out" "hello-from-device
$(uname -s)" "ssh output"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"
id=$(tunnels_for kiosk-17 | sed -n 1p)
[ -n "$id" ] || fail "no tunnel was opened for kiosk-17"
wait_tunnel_status "$id" CLOSED
desc=$(json_get "$T/describe.json" tunnel.description)
assert_eq "$desc" "ssh root@kiosk-17 via iot-ssh-proxy" "description"
assert_eq "$(json_get "$T/describe.json" tunnel.destinationConfig.thingName)" \
	kiosk-17 "thing"

# The remote exit status passes through.
set +e
ssh_dev kiosk-17 'exit 7'
rc=$?
set -e
assert_eq "$rc" 7 "remote exit status"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (exit 7)"

# Plain ProxyCommand, no wrapper: ssh SIGHUPs the proxy at the end.
sed "s|ProxyCommand $T/proxy-wrap.sh|ProxyCommand $IST_BIN/iot-ssh-proxy|" \
	"$T/ssh_config" > "$T/ssh_config.hup"
out=$("$SSH" -F "$T/ssh_config.hup" kiosk-17 'echo second' 2>"$T/ssh2.err")
assert_eq "$out" second "ssh output (SIGHUP path)"
n=$(tunnels_for kiosk-17 | wc -l)
assert_eq "$n" 3 "tunnels opened"
for id in $(tunnels_for kiosk-17); do
	wait_tunnel_status "$id" CLOSED
done

# At the highest verbosity no tunnel token (the emulator's start with
# AQGAA, like AWS's) shows in the proxy's or the agent's messages.
write_ssh_config -vvvv
out=$(ssh_dev kiosk-17 'echo verbose')
assert_eq "$out" verbose "ssh output (-vvvv)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (-vvvv)"
err=$(last_proxy_err)
assert_contains "$err" "lws: " "-vvvv output"
assert_not_contains "$err" "AQGAA" "proxy messages"
assert_not_contains "$(cat "$AGENT_LOG")" "AQGAA" "agent messages"
echo "ok"
