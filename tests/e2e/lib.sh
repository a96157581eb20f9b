# lib.sh: the shared end-to-end test harness (bash). Source it first:
#
#   . "$(dirname "$0")/lib.sh"
#   make_ca; start_emulator; aws_emu iotsecuretunneling list-tunnels
#
# It makes a temp dir $T (removed on exit unless IST_KEEP=1), kills
# every process started through it (by PID) on exit, and offers:
#   fail MSG / assert_eq GOT WANT [WHAT] / assert_contains HAY NEEDLE [WHAT]
#   assert_not_contains HAY NEEDLE [WHAT]
#   free_port                 a free TCP port on 127.0.0.1
#   wait_listening PID LOG TEXT  until a server logs that it listens
#   make_ca                   throwaway CA: IST_CA, IST_CERT, IST_KEY
#   start_mosquitto           MQTT_HOST, MQTT_PORT, MQTT_PID
#   start_emulator [ARGS]     EMU_URL, EMU_PORT, EMU_PID, EMU_LOG and
#                             AWS_* variables for the clients
#   aws_emu ARGS              /usr/bin/aws against the emulator
#   emu_open_tunnel FILE [ARGS]  open-tunnel, answer in FILE (tokens stay
#                             there), TUNNEL_ID set
#   start_sshd                a real sshd on a free port: SSHD_PORT,
#                             SSH_CONFIG (ssh -F "$SSH_CONFIG" sshd-test)
#   emu_admin PATH [JSON]     POST /admin/PATH (start with --admin)
#   json_get FILE PATH        a value from JSON (a.b.0.c), "" if absent
#   bg CMD...                 run in background, registered for cleanup
#   wait_for FILE TEXT [SECS] until FILE contains TEXT
# Secrets (AWS keys, tunnel tokens) stay in files and the environment,
# never on a command line.

set -Eeuo pipefail

IST_SRC=${IST_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
IST_BIN=${IST_BIN:-$IST_SRC/build/bin}
IST_TESTDATA=${IST_TESTDATA:-$IST_SRC/tests/data}
IST_PY=/usr/bin/python3
IST_AWS=/usr/bin/aws
export IST_SRC IST_BIN IST_TESTDATA

T=$(mktemp -d "${TMPDIR:-/tmp}/ist-e2e.XXXXXX")
export T
_ist_pids=()

_ist_cleanup() {
	local rc=$? p i=0
	# lib-ssh.sh's ProxyCommand wrappers outlive ssh while the proxy
	# closes its tunnel: let them finish (30 s at most) before their
	# servers and $T go, or they linger, writing into a removed $T.
	for p in "$T"/proxy.??????; do
		while [ -e "$p" ] && [ ! -e "$p.rc" ] && [ "$i" -lt 300 ]; do
			sleep 0.1
			i=$((i + 1))
		done
	done
	for p in "${_ist_pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${_ist_pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [ "$rc" -ne 0 ]; then
		for p in "$T"/*.log; do
			[ -f "$p" ] || continue
			echo "---- $(basename "$p") (last 40 lines)" >&2
			tail -n 40 "$p" >&2
		done
	fi
	if [ "${IST_KEEP:-0}" = 1 ]; then
		echo "kept $T" >&2
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap _ist_cleanup EXIT
trap 'exit 130' INT TERM
# set -e ends a test at a failing command without a word: say which one,
# also inside functions and subshells (-E); a background job that fails
# says so too, which only matters when the test fails
# (a test that fails in CI must say why from its output alone).
trap 'echo "e2e: exit $? at ${BASH_SOURCE[0]##*/}:$LINENO: $BASH_COMMAND" >&2' ERR

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

assert_eq() {
	[ "$1" = "$2" ] || fail "${3:-value}: expected '$2', got '$1'"
}

assert_contains() {
	case "$1" in
	*"$2"*) ;;
	*) fail "${3:-output}: '$2' not found in: $(printf %s "$1" | head -c 2000)" ;;
	esac
}

assert_not_contains() {
	case "$1" in
	*"$2"*) fail "${3:-output}: must not contain '$(printf %s "$2" | head -c 40)...'" ;;
	*) ;;
	esac
}

free_port() {
	"$IST_PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# bg CMD...: starts CMD in the background and registers it for cleanup.
# The PID is in $BG_PID.
bg() {
	"$@" &
	BG_PID=$!
	_ist_pids+=("$BG_PID")
}

# wait_for FILE TEXT [SECS]: polls until FILE contains TEXT (60 s by
# default: a deadline, not a timing assert; CI machines are loaded).
wait_for() {
	local file=$1 text=$2 secs=${3:-60} i=0
	while [ "$i" -lt $((secs * 10)) ]; do
		if [ -f "$file" ] && grep -qF -- "$text" "$file"; then
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	fail "timed out after ${secs}s waiting for '$text' in $file"
}

# wait_listening PID LOG TEXT [TEXT2]: waits until LOG has a line with
# TEXT (and TEXT2), the server's word that it has bound its port; 1 if
# PID exits first. free_port only finds a port that was free: another
# test may bind it before our server does, which then exits ("Address
# already in use"); the caller then starts it again on a new port.
# Connecting to the port is no proof: it may be the other test's server.
wait_listening() {
	local pid=$1 log=$2 text=$3 text2=${4:-} i=0
	while ! grep -F -- "$text" "$log" 2>/dev/null |
	    grep -qF -- "$text2"; do
		kill -0 "$pid" 2>/dev/null || return 1
		i=$((i + 1))
		[ "$i" -lt 600 ] || fail "timed out waiting for '$text' in $log"
		sleep 0.1
	done
}

make_ca() {
	"$IST_SRC/scripts/make-test-ca.sh" "$T/ca" >/dev/null
	IST_CA=$T/ca/ca.pem
	IST_CA_DIR=$T/ca/ca.d
	IST_CERT=$T/ca/server.pem
	IST_KEY=$T/ca/server.key
	export IST_CA IST_CA_DIR IST_CERT IST_KEY
}

start_mosquitto() {
	local tries=0
	MQTT_HOST=127.0.0.1
	while :; do
		MQTT_PORT=$(free_port)
		cat > "$T/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
CONF
		bg /usr/sbin/mosquitto -c "$T/mosquitto.conf" \
			2> "$T/mosquitto.log"
		MQTT_PID=$BG_PID
		# "running" comes once the listener is bound.
		wait_listening "$MQTT_PID" "$T/mosquitto.log" \
			"mosquitto version" " running" && break
		tries=$((tries + 1))
		[ "$tries" -lt 5 ] ||
			fail "mosquitto exited: $(cat "$T/mosquitto.log")"
	done
	export MQTT_HOST MQTT_PORT MQTT_PID
}

# Random credentials for this test run, in a file the emulator reads and
# in the environment for the AWS CLI and SDKs (no ~/.aws, no profile).
_ist_make_creds() {
	[ -f "$T/emu-credentials" ] && return 0
	EMU_AKID=AKIA$("$IST_PY" -c 'import secrets, string
print("".join(secrets.choice(string.ascii_uppercase + "234567")
    for _ in range(16)))')
	(umask 077
	 "$IST_PY" -c 'import secrets; print(secrets.token_urlsafe(30))' \
	    > "$T/secret")
	(umask 077; printf '%s:%s\n' "$EMU_AKID" "$(cat "$T/secret")" \
	    > "$T/emu-credentials")
	export EMU_AKID
	export AWS_ACCESS_KEY_ID=$EMU_AKID
	AWS_SECRET_ACCESS_KEY=$(cat "$T/secret")
	export AWS_SECRET_ACCESS_KEY
	unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE || true
	export AWS_CONFIG_FILE=$T/aws-config
	export AWS_SHARED_CREDENTIALS_FILE=$T/aws-credentials
	: > "$AWS_CONFIG_FILE"
	: > "$AWS_SHARED_CREDENTIALS_FILE"
	export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
	export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=
	export AWS_MAX_ATTEMPTS=${AWS_MAX_ATTEMPTS:-3}
}

# start_emulator [ARGS]: TLS emulator on a free port with this run's
# credentials; waits for its "listening" line. Log: $T/emulator.log.
start_emulator() {
	[ -n "${IST_CA:-}" ] || make_ca
	_ist_make_creds
	EMU_LOG=$T/emulator.log
	: > "$T/emulator.out"
	bg "$IST_BIN/iot-tunnel-emulator" --listen 127.0.0.1:0 \
		--tls-cert "$IST_CERT" --tls-key "$IST_KEY" \
		--credentials-file "$T/emu-credentials" "$@" \
		> "$T/emulator.out" 2> "$EMU_LOG"
	EMU_PID=$BG_PID
	local i=0
	while ! grep -q '^listening ' "$T/emulator.out"; do
		kill -0 "$EMU_PID" 2>/dev/null ||
			fail "emulator exited: $(cat "$EMU_LOG")"
		i=$((i + 1))
		[ "$i" -lt 600 ] || fail "emulator did not start"
		sleep 0.1
	done
	EMU_URL=$(sed -n 's/^listening //p' "$T/emulator.out" | sed -n 1p)
	EMU_PORT=${EMU_URL##*:}
	export EMU_URL EMU_PORT EMU_PID EMU_LOG
}

aws_emu() {
	"$IST_AWS" --endpoint-url "$EMU_URL" --ca-bundle "$IST_CA" \
		--region us-east-1 --output json "$@"
}

# emu_open_tunnel FILE [open-tunnel ARGS]: the answer (with the tokens)
# goes to FILE, never to a command line; sets TUNNEL_ID.
emu_open_tunnel() {
	local out=$1
	shift
	aws_emu iotsecuretunneling open-tunnel "$@" > "$out" ||
		fail "open-tunnel $*"
	TUNNEL_ID=$(json_get "$out" tunnelId)
	export TUNNEL_ID
}

# start_sshd: sshd on 127.0.0.1:$SSHD_PORT with its own config, host key
# and authorized key (user key $T/sshd/id) in $T/sshd, as root
# (TESTING-NOTES.md). $SSH_CONFIG has a Host "sshd-test" for it.
# Log: $T/sshd.log.
start_sshd() {
	local d=$T/sshd tries=0
	mkdir -p "$d" /run/sshd
	chmod 700 "$d"
	ssh-keygen -q -t ed25519 -N '' -f "$d/hostkey"
	ssh-keygen -q -t ed25519 -N '' -f "$d/id"
	cp "$d/id.pub" "$d/authorized_keys"
	while :; do
		SSHD_PORT=$(free_port)
		cat > "$d/sshd_config" <<CONF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $d/hostkey
AuthorizedKeysFile $d/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
PermitRootLogin prohibit-password
CONF
		bg /usr/sbin/sshd -D -f "$d/sshd_config" -E "$T/sshd.log"
		SSHD_PID=$BG_PID
		wait_listening "$SSHD_PID" "$T/sshd.log" \
			"Server listening on 127.0.0.1 port $SSHD_PORT." && break
		tries=$((tries + 1))
		[ "$tries" -lt 5 ] || fail "sshd exited: $(cat "$T/sshd.log")"
	done
	SSH_CONFIG=$d/ssh_config
	cat > "$SSH_CONFIG" <<CONF
Host sshd-test
	HostName 127.0.0.1
	Port $SSHD_PORT
	User $(id -un)
	IdentityFile $d/id
	IdentitiesOnly yes
	StrictHostKeyChecking no
	UserKnownHostsFile /dev/null
	LogLevel ERROR
	BatchMode yes
CONF
	export SSHD_PORT SSHD_PID SSH_CONFIG
}

# emu_admin PATH [JSON]: prints the answer; fails the test on non-2xx.
emu_admin() {
	local body=${2:-'{}'}
	"$IST_PY" - "$EMU_URL/admin/$1" "$body" "$IST_CA" <<'PY'
import ssl, sys, urllib.request, urllib.error
url, body, ca = sys.argv[1:4]
ctx = ssl.create_default_context(cafile=ca)
req = urllib.request.Request(url, data=body.encode(), method="POST",
    headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, context=ctx, timeout=60) as r:
        print(r.read().decode())
except urllib.error.HTTPError as e:
    print("admin %s: %d %s" % (url, e.code, e.read().decode()),
        file=sys.stderr)
    sys.exit(1)
PY
}

# json_get FILE PATH: "tunnel.status", "tunnelSummaries.0.tunnelId".
json_get() {
	"$IST_PY" - "$1" "$2" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    if isinstance(v, list):
        v = v[int(k)] if int(k) < len(v) else None
    elif isinstance(v, dict):
        v = v.get(k)
    if v is None:
        break
if v is None:
    print("")
elif isinstance(v, bool):
    print("true" if v else "false")
elif isinstance(v, (dict, list)):
    print(json.dumps(v, sort_keys=True))
else:
    print(v)
PY
}
