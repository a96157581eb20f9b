#!/bin/bash
# At the highest verbosity (-vvvv, libwebsockets' own logging included),
# neither program's stderr nor --log-file holds a secret: the AWS secret
# access key, the session token, a tunnel access token or a client token;
# and no process's command line holds a token. (The environment of the
# proxy's and agent's children: proxy_token_env.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

# no_secret FILE WHAT SECRET...: none of the SECRETs is in FILE.
no_secret() {
	local f=$1 what=$2 s
	shift 2
	for s in "$@"; do
		[ -n "$s" ] || continue
		grep -qF -- "$s" "$f" && fail "$what holds a secret (${#s} bytes)"
	done
	return 0
}

# Credentials with a session token, known to the emulator.
_ist_make_creds
secret=$(cat "$T/secret")
export AWS_SESSION_TOKEN=session-token-SECRET-$RANDOM$RANDOM
(umask 077; printf '%s:%s:%s\n' "$EMU_AKID" "$secret" "$AWS_SESSION_TOKEN" \
	> "$T/emu-credentials")
start_tunnel_world
# The emulator's tunnel tokens, like AWS's, start with AQGAA.

# 1. A whole session: the proxy at -vvvv to stderr and to --log-file,
# the agent at its highest verbosity (started again).
kill "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
start_agent kiosk-17 -vvvv
write_ssh_config -vvvv
out=$(ssh_dev kiosk-17 'echo verbose')
assert_eq "$out" verbose "ssh output (-vvvv)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (-vvvv)"
assert_contains "$(last_proxy_err)" "lws: " "-vvvv output"
cp "$T/proxy.last.err" "$T/p1.err"
# shellcheck disable=SC2046
"$IST_BIN/iot-ssh-proxy" $(proxy_env) -vvvv --log-file "$T/p2.log" \
	--wait 2 kiosk-none < /dev/null > /dev/null 2> "$T/p2.err" || true
assert_contains "$(cat "$T/p2.log")" "did not join" "--log-file"
for f in "$T/p1.err" "$T/p2.err" "$T/p2.log" "$AGENT_LOG"; do
	no_secret "$f" "$(basename "$f")" "$secret" "$AWS_SESSION_TOKEN" AQGAA
done
assert_contains "$(cat "$AGENT_LOG")" "lws: " "agent -vvvv output"

# 2. Client tokens: a data plane that records each handshake (and
# refuses it with 503, so that both programs retry and log more).
rm -f "$T/rec.port"
bg "$IST_PY" "$IST_SRC/tests/e2e/ws_recorder.py" "$T/rec.port" "$T/rec.log"
while [ ! -s "$T/rec.port" ]; do sleep 0.1; done
rec=127.0.0.1:$(cat "$T/rec.port")
(umask 077; echo AQGAAsource-token-SECRET-7 > "$T/s.tok"
 echo AQGAAdest-token-SECRET-8 > "$T/d.tok")
"$IST_BIN/iot-ssh-proxy" --no-hooks --ca-file "$IST_CA" \
	--api-endpoint "$EMU_URL" --proxy-endpoint "ws://$rec" -vvvv \
	--tunnel-id 00000000-0000-0000-0000-000000000000 \
	--token-file "$T/s.tok" kiosk-17 < /dev/null > /dev/null \
	2> "$T/p3.err" &
proxy=$!
bg "$IST_BIN/iot-tunnel-agent" --token-file "$T/d.tok" \
	--proxy-endpoint "ws://$rec" -vvvvv 2> "$T/a3.err"
agent=$BG_PID
# Two handshakes from each, then their command lines while they run.
i=0
while [ "$(cat "$T/rec.log" 2>/dev/null | grep -c client-token || true)" \
    -lt 4 ]; do
	i=$((i + 1))
	[ "$i" -lt 600 ] || fail "no handshakes recorded"
	sleep 0.1
done
for p in "$proxy" "$agent"; do
	tr '\0' ' ' < "/proc/$p/cmdline" > "$T/cmdline.$p"
	no_secret "$T/cmdline.$p" "command line" AQGAA
done
kill "$proxy" "$agent"
wait "$proxy" 2>/dev/null || true
wait "$agent" 2>/dev/null || true
ctoks=$("$IST_PY" -c 'import json, sys
for l in open(sys.argv[1]):
    print(json.loads(l).get("client-token", ""))' "$T/rec.log" | sort -u)
[ -n "$ctoks" ] || fail "no client tokens recorded"
for f in "$T/p3.err" "$T/a3.err"; do
	# shellcheck disable=SC2086
	no_secret "$f" "$(basename "$f")" $ctoks AQGAA "$secret" \
		"$AWS_SESSION_TOKEN"
done
assert_contains "$(cat "$T/p3.err")" "503" "proxy retries"
echo "ok"
