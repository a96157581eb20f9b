#!/bin/bash
# The README's demo: ssh to a pretend device through a tunnel, all on this
# machine. Installs what is missing, builds, starts sshd (the "device"),
# mosquitto, iot-tunnel-emulator (the AWS service) and iot-tunnel-agent on
# 127.0.0.1, runs ssh with iot-ssh-proxy as its ProxyCommand, shows what
# the device answered and what became of the tunnel, and stops everything
# it started (by PID). Uses the end-to-end test harness (tests/e2e).
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
echo "demo: building" >&2
cmake -S . -B build >/dev/null
cmake --build build -j2 >/dev/null
IST_SRC=$PWD
IST_BIN=$PWD/build/bin
export IST_SRC IST_BIN

. tests/e2e/lib.sh
. tests/e2e/lib-ssh.sh

echo "demo: starting sshd, mosquitto, the emulator and the agent on 127.0.0.1" >&2
start_tunnel_world
write_ssh_config -v
echo "demo: ssh -F $T/ssh_config kiosk-17 (ProxyCommand: iot-ssh-proxy -v)" >&2
echo
ssh_dev kiosk-17 'echo "device $(hostname) says: $(uname -srm)"; echo "its sshd saw the client at ${SSH_CLIENT%% *} (the agent)"'
id=$(tunnels_for kiosk-17 | sed -n 1p)
wait_tunnel_status "$id" CLOSED
last_proxy_rc > /dev/null
echo
echo "what iot-ssh-proxy did (-v):"
sed 's/^/  /' "$T/proxy.last.err"
echo "tunnel $id: $(json_get "$T/describe.json" tunnel.description), now $(json_get "$T/describe.json" tunnel.status)"
echo
echo "demo: done; stopping everything it started" >&2
