#!/bin/sh
# The README's demo command. The demo (ssh through a tunnel to a local
# "device") is not built yet: see README "Status".
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
echo "demo: not available yet: iot-ssh-proxy, the agent and the emulator are still being built (README, Status)" >&2
exit 1
