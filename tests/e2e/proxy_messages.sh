#!/bin/bash
# The messages a new user meets (issue 12's rough edges), each shown with
# the real parts: the emulator over TLS, a real pty, a dead proxy port.
#   - run from a terminal, the proxy says it is a ProxyCommand and how to
#     use it, and opens no (billed) tunnel;
#   - IOT_SSH_PROXY_VERBOSE=N is -v N times, without touching ssh_config;
#   - an unreachable HTTPS_PROXY is named as the proxy (without its
#     password);
#   - a CA the system does not know (API or data plane): use --ca-file
#     or AWS_CA_BUNDLE;
#   - a bad session token, a wrong region, a wrong secret and a skewed
#     clock each get their own hint, not the secret-key one for all;
#   - no "give the region option", no "OpenTunnel: OpenTunnel failed:",
#     no "HTTP status) 403.".
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

P=$IST_BIN/iot-ssh-proxy
make_ca
start_emulator --admin
unset HTTPS_PROXY https_proxy NO_PROXY no_proxy AWS_CA_BUNDLE
emu="--no-hooks --api-endpoint $EMU_URL --proxy-endpoint 127.0.0.1:$EMU_PORT"

# run_proxy ARGS...: the proxy with stdin from /dev/null; RC, ERR, OUT.
run_proxy() {
	RC=0
	"$P" "$@" < /dev/null > "$T/out" 2> "$T/err" || RC=$?
	ERR=$(cat "$T/err")
	OUT=$(cat "$T/out")
}

# -- from a terminal: a pty on stdin (and stdout), as in a shell
"$IST_PY" - "$P" $emu --ca-file "$IST_CA" kiosk-17 22 > "$T/pty.out" <<'PY'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
while True:
    try:
        b = os.read(fd, 4096)
    except OSError:
        break
    if not b:
        break
    out += b
_, st = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
sys.stdout.write("rc=%d\n" % os.waitstatus_to_exitcode(st))
PY
pty_out=$(cat "$T/pty.out")
assert_contains "$pty_out" "iot-ssh-proxy: stdin is a terminal: this is an OpenSSH ProxyCommand" \
	"tty refusal"
assert_contains "$pty_out" "ProxyCommand iot-ssh-proxy --user %r %h %p" \
	"tty refusal shows the ssh_config line"
assert_contains "$pty_out" "then run: ssh kiosk-17" "tty refusal"
assert_contains "$pty_out" "rc=1" "tty refusal: exit status"
assert_eq "$(count_tunnels)" 0 "tunnels opened from a terminal"

# -- IOT_SSH_PROXY_VERBOSE: no device joins; the verbose lines show
run_proxy $emu --ca-file "$IST_CA" --wait 1 nodevice 22
assert_eq "$RC" 4 "no device: exit status"
assert_not_contains "$ERR" "target: thing nodevice" "default verbosity"
IOT_SSH_PROXY_VERBOSE=2 run_proxy $emu --ca-file "$IST_CA" --wait 1 \
	nodevice 22
assert_eq "$RC" 4 "IOT_SSH_PROXY_VERBOSE=2: exit status"
assert_contains "$ERR" "iot-ssh-proxy: target: thing nodevice" \
	"IOT_SSH_PROXY_VERBOSE=2 (verbose)"
assert_contains "$ERR" "iot-ssh-proxy: OpenTunnel: POST $EMU_URL/" \
	"IOT_SSH_PROXY_VERBOSE=2 (debug1)"
IOT_SSH_PROXY_VERBOSE=lots run_proxy $emu --ca-file "$IST_CA" --wait 1 \
	nodevice 22
assert_contains "$ERR" "IOT_SSH_PROXY_VERBOSE=lots ignored: expected 0 to 4" \
	"bad IOT_SSH_PROXY_VERBOSE"
"$P" --help > "$T/help"
assert_contains "$(cat "$T/help")" "IOT_SSH_PROXY_VERBOSE=N" "--help"

# -- a retried call: one "OpenTunnel failed", not "OpenTunnel: OpenTunnel"
emu_admin fail '{"count":1,"status":500,"operation":"OpenTunnel"}' > /dev/null
run_proxy $emu --ca-file "$IST_CA" --wait 1 -v nodevice 22
assert_contains "$ERR" "iot-ssh-proxy: OpenTunnel failed: InternalFailure" \
	"retry message"
assert_contains "$ERR" "; retrying" "retry message"
assert_not_contains "$ERR" "OpenTunnel: OpenTunnel" "retry message"

# -- an HTTPS proxy nobody listens on: named as the proxy
dead=$(free_port)
HTTPS_PROXY=http://alice:pr0xy-s3cret@127.0.0.1:$dead run_proxy $emu \
	--ca-file "$IST_CA" --wait 1 kiosk-17 22
assert_eq "$RC" 2 "dead HTTPS_PROXY: exit status"
assert_contains "$ERR" "through the HTTPS proxy 127.0.0.1:$dead (from HTTPS_PROXY/https_proxy)" \
	"dead HTTPS_PROXY"
assert_contains "$ERR" "list the host in NO_PROXY" "dead HTTPS_PROXY"
assert_not_contains "$ERR" "pr0xy-s3cret" "proxy password"
assert_not_contains "$ERR" "alice" "proxy user"

# -- a CA the system store does not have
run_proxy $emu --wait 1 kiosk-17 22
assert_eq "$RC" 2 "unknown CA: exit status"
assert_contains "$ERR" "trust it with --ca-file FILE or AWS_CA_BUNDLE" \
	"unknown CA"
AWS_CA_BUNDLE=$IST_CA run_proxy $emu --wait 1 nodevice 22
assert_eq "$RC" 4 "AWS_CA_BUNDLE is the fix"
# the data plane alone (--tunnel-id with a token file: no API call)
(umask 077; echo AQGAAnotarealtoken > "$T/src.tok")
run_proxy $emu --tunnel-id 00000000-0000-0000-0000-000000000000 \
	--token-file "$T/src.tok" --wait 1 kiosk-17 22
assert_eq "$RC" 5 "unknown CA, data plane: exit status"
assert_contains "$ERR" "TLS with the tunnel service at 127.0.0.1:$EMU_PORT failed" \
	"unknown CA, data plane"
assert_contains "$ERR" "--ca-file FILE or AWS_CA_BUNDLE" "unknown CA, data plane"
assert_not_contains "$ERR" "AQGAAnotarealtoken" "token in a message"

# -- credentials and region: each its own hint
AWS_SESSION_TOKEN=not-the-token run_proxy $emu --ca-file "$IST_CA" \
	--wait 1 kiosk-17 22
assert_eq "$RC" 2 "bad session token: exit status"
assert_contains "$ERR" "UnrecognizedClientException" "bad session token"
assert_contains "$ERR" "the session token or access key id is not valid" \
	"bad session token"
assert_contains "$ERR" "a new AWS_SESSION_TOKEN" "bad session token"
assert_not_contains "$ERR" "secret access key" "bad session token"
assert_not_contains "$ERR" "not-the-token" "bad session token"

run_proxy $emu --ca-file "$IST_CA" --region eu-west-1 --wait 1 kiosk-17 22
assert_eq "$RC" 2 "wrong region: exit status"
assert_contains "$ERR" "signed for region eu-west-1, which $EMU_URL does not serve" \
	"wrong region"
assert_contains "$ERR" "check --region, AWS_REGION" "wrong region"
assert_not_contains "$ERR" "secret access key" "wrong region"

AWS_SECRET_ACCESS_KEY=wrong$AWS_SECRET_ACCESS_KEY run_proxy $emu \
	--ca-file "$IST_CA" --wait 1 kiosk-17 22
assert_eq "$RC" 2 "wrong secret: exit status"
assert_contains "$ERR" "check the secret access key" "wrong secret"

# -- no region anywhere: the option is named as users type it
AWS_REGION= AWS_DEFAULT_REGION= run_proxy $emu --ca-file "$IST_CA" \
	kiosk-17 22
assert_eq "$RC" 1 "no region: exit status"
assert_contains "$ERR" "no AWS region: use --region, set AWS_REGION" \
	"no region"
assert_not_contains "$ERR" "give the" "no region"

# -- an instance-metadata endpoint that answers 403: "HTTP status 403)"
imds_port=$(free_port)
"$IST_PY" - "$imds_port" > "$T/imds.log" 2>&1 <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        self.send_response(403)
        self.send_header("Content-Length", "9")
        self.end_headers()
        self.wfile.write(b"forbidden")
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
_ist_pids+=("$!")
for _ in $(seq 100); do
	"$IST_PY" -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
		"$imds_port" 2>/dev/null && break
	sleep 0.1
done
AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY= AWS_EC2_METADATA_DISABLED= \
AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$imds_port \
	run_proxy $emu --ca-file "$IST_CA" kiosk-17 22
assert_eq "$RC" 2 "no credentials: exit status"
assert_contains "$ERR" "(no IMDSv2 token from http://127.0.0.1:$imds_port: HTTP status 403)" \
	"IMDS 403"
assert_not_contains "$ERR" "HTTP status)" "IMDS 403"
# the five runs with thing nodevice, nothing else
assert_eq "$(count_tunnels)" 5 "tunnels opened"
echo "ok: messages"
