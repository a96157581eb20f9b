#!/bin/bash
# bench/run.sh [--quick]: how fast ssh goes through iot-ssh-proxy, next to
# references measured in the same run (see bench/README.md).
#
# Builds a release build in build-bench/, starts the tunnel world of the
# end-to-end tests on 127.0.0.1 (sshd, mosquitto, iot-tunnel-emulator,
# iot-tunnel-agent; tests/e2e/lib.sh and lib-ssh.sh) and measures three
# paths to the same sshd, round by round:
#   (a) ssh direct,
#   (b) ssh with ProxyCommand nc 127.0.0.1 PORT (the reference),
#   (c) ssh with ProxyCommand iot-ssh-proxy, through the emulator and the
#       agent.
# Prints Markdown tables: the figures with the ratios (c)/(b) and (c)/(a);
# the resource use of the ProxyCommands, the emulator and the agent; a
# timeline of one session setup through (c) (-v); the protocol core's
# instructions per byte (bench/core.c under callgrind).
# Everything it starts is stopped by PID on exit (lib.sh's trap).
set -eu
cd "$(dirname "$0")/.."

rounds=5
case "${1:-}" in
--quick) rounds=3 ;;
"") ;;
*) echo "usage: bench/run.sh [--quick]" >&2; exit 1 ;;
esac

./scripts/install-deps.sh
echo "bench: building (Release) in build-bench/" >&2
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
	> /dev/null
cmake --build build-bench -j2 > /dev/null
IST_SRC=$PWD
IST_BIN=$PWD/build-bench/bin
export IST_SRC IST_BIN

. tests/e2e/lib.sh
. tests/e2e/lib-ssh.sh

echo "bench: starting sshd, mosquitto, the emulator and the agent" >&2
start_tunnel_world

# Three hosts for the same sshd, each with the options of lib-ssh.sh's
# config ("Host *", which must come last: the first value found wins).
# (b) and (c) run under bench/ru-wrap.sh alike, for their resource use.
BENCH_RU=$T/ru
mkdir -p "$BENCH_RU"
export BENCH_RU
wrap=$IST_SRC/bench/ru-wrap.sh
proxy="$IST_BIN/iot-ssh-proxy --user %r $(proxy_env)"
{
	cat <<CONF
Host direct
	HostName 127.0.0.1
	Port $SSHD_PORT
	ProxyCommand none
Host nc
	HostName 127.0.0.1
	Port $SSHD_PORT
	ProxyCommand $wrap nc 127.0.0.1 $SSHD_PORT
Host kiosk-17
	ProxyCommand $wrap $proxy -v %h %p 2>> $T/proxy-v.log
Host kiosk-17-v
	ProxyCommand $proxy -vv --thing kiosk-17 %h %p
CONF
	cat "$T/ssh_config"
} > "$T/bench_ssh_config"

head -c $((64 << 20)) /dev/urandom > "$T/bulk.bin"

"$IST_PY" "$IST_SRC/bench/sshbench.py" --config "$T/bench_ssh_config" \
	--rounds "$rounds" --file "$T/bulk.bin" --ru-dir "$BENCH_RU" \
	--agent-pid "$AGENT_PID" --emu-pid "$EMU_PID" \
	--timeline kiosk-17-v --timeline-ref direct \
	--core "$IST_BIN/ist-bench-core" --proxy-log "$T/proxy-v.log"
