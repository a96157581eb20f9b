#!/bin/bash
# Fault injection (POST /admin/..., --admin): failed and delayed API
# calls seen through the real AWS CLI, then the data-plane faults
# (emulator_faults.py): drop, stall, bandwidth cap, injected frames,
# lifetime expiry.
. "$(dirname "$0")/lib.sh"

start_emulator -v --admin

# Without --admin the endpoints do not exist: checked on a second one.
# (Here: /admin/ is only served from loopback, which we are.)
cli() { aws_emu iotsecuretunneling "$@"; }

# The next call fails with 500; a client that does not retry sees it.
emu_admin fail '{"count": 1, "status": 500, "type": "InternalFailure"}' \
	> /dev/null
rc=0
AWS_MAX_ATTEMPTS=1 cli list-tunnels > /dev/null 2> "$T/err.txt" || rc=$?
[ "$rc" -ne 0 ] || fail "injected 500 not seen"
assert_contains "$(cat "$T/err.txt")" "InternalFailure"
AWS_MAX_ATTEMPTS=1 cli list-tunnels > /dev/null || fail "only one failure"

# ThrottlingException twice: the CLI retries (3 attempts) and succeeds.
emu_admin fail '{"count": 2, "type": "ThrottlingException"}' > /dev/null
AWS_MAX_ATTEMPTS=3 cli list-tunnels > /dev/null ||
	fail "CLI did not retry through 2 throttles"
emu_admin fail '{"count": 1, "type": "ThrottlingException"}' > /dev/null
rc=0
AWS_MAX_ATTEMPTS=1 cli list-tunnels > /dev/null 2> "$T/err.txt" || rc=$?
[ "$rc" -ne 0 ] || fail "throttle not seen"
assert_contains "$(cat "$T/err.txt")" "(ThrottlingException)"

# Limited to one operation: other calls pass, that one fails once.
emu_admin fail '{"count": 1, "type": "ThrottlingException",
	"operation": "OpenTunnel"}' > /dev/null
AWS_MAX_ATTEMPTS=1 cli list-tunnels > /dev/null ||
	fail "ListTunnels hit by an OpenTunnel fault"
rc=0
AWS_MAX_ATTEMPTS=1 cli open-tunnel > /dev/null 2> "$T/err.txt" || rc=$?
[ "$rc" -ne 0 ] || fail "OpenTunnel fault not applied"
assert_contains "$(cat "$T/err.txt")" "(ThrottlingException)"
AWS_MAX_ATTEMPTS=1 cli open-tunnel > /dev/null || fail "second OpenTunnel"

# A delayed answer: a client with a shorter read timeout gives up.
emu_admin delay '{"ms": 4000, "count": 1}' > /dev/null
rc=0
AWS_MAX_ATTEMPTS=1 cli --cli-read-timeout 1 list-tunnels > /dev/null \
	2> "$T/err.txt" || rc=$?
[ "$rc" -ne 0 ] || fail "delayed answer came in time"
assert_contains "$(cat "$T/err.txt")" "Read timeout"
AWS_MAX_ATTEMPTS=1 cli --cli-read-timeout 3 list-tunnels > /dev/null ||
	fail "delay applied to more than one call"

# Bad admin requests are refused with a reason.
rc=0
emu_admin drop '{"tunnelId": "nope", "side": "source"}' 2> "$T/err.txt" ||
	rc=$?
[ "$rc" -ne 0 ] || fail "drop of an unknown tunnel accepted"
assert_contains "$(cat "$T/err.txt")" "404"

"$IST_PY" "$IST_SRC/tests/e2e/emulator_faults.py" "$@" ||
	fail "data-plane faults"
assert_not_contains "$(cat "$EMU_LOG")" "AQGAA" "emulator log"
echo PASS
