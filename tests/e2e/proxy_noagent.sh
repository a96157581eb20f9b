#!/bin/bash
# Nobody joins as destination: exit 4 after --wait, tunnel closed.
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
id=$(tunnels_for kiosk-17 | head -n 1)
[ -n "$id" ] || fail "no tunnel"
wait_tunnel_status "$id" CLOSED
echo "ok"
