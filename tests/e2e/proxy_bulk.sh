#!/bin/bash
# 64 MiB of random data each way through the tunnel, compared by SHA-256
# (back-pressure in both directions, bounded memory, no byte lost).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

start_tunnel_world
head -c $((64 << 20)) /dev/urandom > "$T/up.bin"
want=$(sha256sum < "$T/up.bin" | cut -d' ' -f1)

got=$(ssh_dev kiosk-17 'sha256sum | cut -d" " -f1' < "$T/up.bin")
assert_eq "$got" "$want" "upload sha256"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (upload)"

ssh_dev kiosk-17 "cat $T/up.bin" > "$T/down.bin"
got=$(sha256sum < "$T/down.bin" | cut -d' ' -f1)
assert_eq "$got" "$want" "download sha256"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (download)"
echo "ok"
