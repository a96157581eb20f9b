#!/bin/bash
# The emulator's data plane: handshake checks and refusals, client tokens,
# SERVICE_IDS, relaying in order across any fragmentation, STREAM_RESET
# cases, protocol violations, CloseTunnel, rotation, back-pressure.
# The cases are in emulator_dataplane.py (a stdlib WebSocket client).
. "$(dirname "$0")/lib.sh"

# A lifetime minute lasts 1 s here (case_lifetime_expiry); others use 720.
start_emulator -vv --seconds-per-minute 1
"$IST_PY" "$IST_SRC/tests/e2e/emulator_dataplane.py" "$@" ||
	fail "data plane cases"
# No access token in the log.
assert_not_contains "$(cat "$EMU_LOG")" "AQGAA" "emulator log"
echo PASS
