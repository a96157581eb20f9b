#!/bin/bash
# --keep-tunnel leaves the tunnel OPEN; --tunnel-id ID --rotate joins it
# again with a fresh source token, and leaves it open (not ours to close).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

start_tunnel_world
write_ssh_config --keep-tunnel
out=$(ssh_dev kiosk-17 'echo first')
assert_eq "$out" first "first session"
id=$(tunnels_for kiosk-17 | head -n 1)
[ -n "$id" ] || fail "no tunnel"
sleep 1
assert_eq "$(tunnel_status "$id")" OPEN "status after --keep-tunnel"

write_ssh_config --tunnel-id "$id" --rotate
out=$(ssh_dev kiosk-17 'echo second')
assert_eq "$out" second "second session on the same tunnel"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"
assert_eq "$(tunnels_for kiosk-17 | wc -l)" 1 "tunnels opened"
assert_eq "$(tunnel_status "$id")" OPEN "status after --tunnel-id"
aws_emu iotsecuretunneling close-tunnel --tunnel-id "$id" > /dev/null
echo "ok"
