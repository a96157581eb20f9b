#!/bin/bash
# Hostile and broken clients (garbage, oversized headers, truncated
# requests, connections dropped mid-message) do not take the emulator
# down; it still serves both planes afterwards and exits cleanly.
. "$(dirname "$0")/lib.sh"

start_emulator
"$IST_PY" "$IST_SRC/tests/e2e/emulator_robustness.py" ||
	fail "robustness cases"
kill -0 "$EMU_PID" || fail "the emulator died"
aws_emu iotsecuretunneling list-tunnels > /dev/null || fail "API after"
kill -TERM "$EMU_PID"
rc=0; wait "$EMU_PID" || rc=$?
assert_eq "$rc" 0 "exit status after SIGTERM"
echo PASS
