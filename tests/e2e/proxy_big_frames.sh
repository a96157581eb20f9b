#!/bin/bash
# Issues 9 and 10: one binary WebSocket frame of any length the format can
# express (up to 2^63-1), from the service to iot-ssh-proxy. Up to the
# service's own limit (131076) it is a message like any other; over it,
# the session ends at once with exit 5 and a message naming the size,
# before any payload is buffered (libwebsockets 4.1.6 corrupted its heap
# on these).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-hostile.sh"

make_ca
check_big_frames proxy 6
echo "ok"
