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
# A reader that stalls: ssh stops reading, the proxy's stdout backs up
# and it must pause the WebSocket, then resume, losing nothing. Without
# the fixes in docs/libwebsockets.md this hangs: BUG A (a partial write to stdout never
# re-armed) or BUG B (a pause inside a TLS receive spinning for ever).
ssh_dev kiosk-17 "cat $T/up.bin" | "$IST_PY" -c 'import sys, time
out = open(sys.argv[1], "wb")
time.sleep(3)
n = 0
while True:
    b = sys.stdin.buffer.read1(65536)
    if not b:
        break
    out.write(b)
    n += len(b)
    if n < (8 << 20):
        time.sleep(0.002)' "$T/slow.bin"
got=$(sha256sum < "$T/slow.bin" | cut -d' ' -f1)
assert_eq "$got" "$want" "download sha256 (slow reader)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (slow reader)"
echo "ok"
