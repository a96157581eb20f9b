#!/bin/bash
# bench/emu_relay.sh [MIB]: the emulator's own cost of relaying (CPU s per
# GiB, peak RSS), with two Python clients and no proxy or agent; MIB MiB
# (1024) through a TLS emulator from $IST_BIN (build/bin). See
# bench/emu_relay.py. Optional PERF=FILE records a perf profile of the
# emulator (perf record -g) meanwhile.
set -eu
IST_SRC=$(cd "$(dirname "$0")/.." && pwd)
export IST_SRC
. "$IST_SRC/tests/e2e/lib.sh"
start_emulator
perf_pid=
if [ -n "${PERF:-}" ]; then
	perf record -g -o "$PERF" -p "$EMU_PID" 2> /dev/null &
	perf_pid=$!
	sleep 0.5
fi
"$IST_PY" "$IST_SRC/bench/emu_relay.py" "${1:-1024}"
if [ -n "$perf_pid" ]; then
	kill -INT "$perf_pid"
	wait "$perf_pid" || true
fi
