#!/bin/bash
# The emulator's command line: --plain, the "listening" line, refusals of
# bad options and unsafe credential files, a port in use, clean exit on
# SIGTERM.
. "$(dirname "$0")/lib.sh"

EMU=$IST_BIN/iot-tunnel-emulator
make_ca

# --version, bad usage
assert_contains "$("$EMU" --version)" "iot-tunnel-emulator "
rc=0; "$EMU" --bogus > /dev/null 2> "$T/err.txt" || rc=$?
assert_eq "$rc" 2 "exit code for a bad option"
assert_contains "$(cat "$T/err.txt")" "usage:"

# TLS needs a certificate; a wrong one is reported.
rc=0; "$EMU" > /dev/null 2> "$T/err.txt" || rc=$?
assert_eq "$rc" 1 "exit code without a certificate"
assert_contains "$(cat "$T/err.txt")" "--tls-cert"
rc=0; "$EMU" --tls-cert /nonexistent --tls-key "$IST_KEY" > /dev/null \
	2> "$T/err.txt" || rc=$?
assert_eq "$rc" 1 "exit code with a missing certificate"
assert_contains "$(cat "$T/err.txt")" "certificate"

# Credentials: a group-writable file is refused; a bad line is reported
# without echoing it (it holds a secret).
printf 'AKIAEXAMPLE:topsecret\n' > "$T/creds"
chmod 664 "$T/creds"
rc=0; "$EMU" --plain --credentials-file "$T/creds" > /dev/null \
	2> "$T/err.txt" || rc=$?
assert_eq "$rc" 1 "exit code for an unsafe credentials file"
assert_contains "$(cat "$T/err.txt")" "writable by group or others"
printf '# keys\nAKIAEXAMPLE-topsecret-no-colon\n' > "$T/creds"
chmod 600 "$T/creds"
rc=0; "$EMU" --plain --credentials-file "$T/creds" > /dev/null \
	2> "$T/err.txt" || rc=$?
assert_eq "$rc" 1 "exit code for a bad credentials line"
assert_contains "$(cat "$T/err.txt")" "credentials line 2"
assert_not_contains "$(cat "$T/err.txt")" "topsecret" "error message"

# --plain: http:// on the picked port, API answering.
bg "$EMU" --plain --listen 127.0.0.1:0 > "$T/plain.out" 2> "$T/plain.log"
pid=$BG_PID
wait_for "$T/plain.out" "listening "
line=$(cat "$T/plain.out")
[[ $line =~ ^listening\ http://127\.0\.0\.1:[0-9]+$ ]] ||
	fail "listening line: '$line'"
assert_eq "$(wc -l < "$T/plain.out" | tr -d ' ')" 1 "stdout lines"
port=${line##*:}
out=$("$IST_PY" - "$port" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
c.request("POST", "/", body=b"{}", headers={
    "X-Amz-Target": "IoTSecuredTunneling.ListTunnels",
    "Content-Type": "application/x-amz-json-1.1"})
r = c.getresponse()
print(r.status, r.read().decode())
PY
)
assert_contains "$out" "403 " "unsigned request"
assert_contains "$out" "MissingAuthenticationTokenException"

# Both planes over plain http/ws; without keys any signature passes.
EMU_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=AKIAANY \
AWS_SECRET_ACCESS_KEY=any AWS_CONFIG_FILE=/dev/null \
AWS_SHARED_CREDENTIALS_FILE=/dev/null "$IST_PY" - <<'PY' ||
import os, sys
sys.path.insert(0, os.path.join(os.environ["IST_SRC"], "tests/e2e"))
import tunnel_client as tc
t = tc.api().open_tunnel(destinationConfig={"services": ["SSH"]})
ws = tc.connect(token=t["sourceAccessToken"])
assert isinstance(ws, tc.WS), ws
assert ws.recv_msgs(1)[0]["availableServiceIds"] == ["SSH"]
ws.close()
PY
	fail "plain API and data plane"

# The same port again: a clear error, exit 1.
rc=0; "$EMU" --plain --listen "127.0.0.1:$port" > /dev/null \
	2> "$T/err.txt" || rc=$?
assert_eq "$rc" 1 "exit code for a port in use"
assert_contains "$(cat "$T/err.txt")" "cannot"

# IPv6 (where the machine has ::1): the URL carries brackets.
if grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null
then
	bg "$EMU" --plain --listen '[::1]:0' > "$T/v6.out" 2> "$T/v6.log"
	wait_for "$T/v6.out" "listening "
	[[ $(cat "$T/v6.out") =~ ^listening\ http://\[::1\]:[0-9]+$ ]] ||
		fail "IPv6 listening line: '$(cat "$T/v6.out")'"
fi

# SIGTERM: exits 0.
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
assert_eq "$rc" 0 "exit code after SIGTERM"
assert_contains "$(cat "$T/plain.log")" "stopping"
echo PASS
