#!/bin/bash
# Bug "tunnelId cut or printed raw": an id over 127 characters was cut to
# fit a buffer, so DescribeTunnel and CloseTunnel acted on another id, and
# one with control characters reached the terminal raw (escape injection).
# Both are refused, from --tunnel-id (exit 1) and from an OpenTunnel
# answer (exit 2, no call with another id), and shown with '?' for each
# byte that is not printable.
. "$(dirname "$0")/lib.sh"

has_ctl() {
	LC_ALL=C grep -q "$(printf '[\001-\010\016-\037\177]')" "$1"
}

# --tunnel-id: 129 characters (the model allows 128), then escapes.
export AWSIOT_TUNNEL_ACCESS_TOKEN=src-token-SECRET
for id in "$(printf 'a%.0s' $(seq 129))" "$(printf 'id\033]0;owned\007')"; do
	rc=0
	"$IST_BIN/iot-ssh-proxy" --no-hooks --region us-east-1 \
		--tunnel-id "$id" kiosk-17 < /dev/null > "$T/out" \
		2> "$T/err" || rc=$?
	assert_eq "$rc" 1 "proxy exit status (--tunnel-id)"
	assert_contains "$(cat "$T/err")" "--tunnel-id" "message"
	has_ctl "$T/err" && fail "control characters on stderr: $(cat -v "$T/err")"
done
assert_contains "$(cat "$T/err")" "id?]0;owned?" "sanitized id"
# Exactly 128 characters is a valid id: not refused as an option (it
# fails later, on the data plane nobody listens on).
rc=0
"$IST_BIN/iot-ssh-proxy" --no-hooks --region us-east-1 --wait 1 \
	--proxy-endpoint "127.0.0.1:$(free_port)" \
	--tunnel-id "$(printf 'b%.0s' $(seq 128))" kiosk-17 < /dev/null \
	> "$T/out" 2> "$T/err" || rc=$?
assert_not_contains "$(cat "$T/err")" "characters long" "128-character id"
unset AWSIOT_TUNNEL_ACCESS_TOKEN

# From OpenTunnel: a hostile API on plain HTTP.
export AWS_ACCESS_KEY_ID=AKIAHOSTILEAPI00000 AWS_SECRET_ACCESS_KEY=secret
: > "$T/aws-config"
: > "$T/aws-credentials"
export AWS_CONFIG_FILE=$T/aws-config AWS_SHARED_CREDENTIALS_FILE=$T/aws-credentials
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN || true
for mode in long-id escape-id; do
	rm -f "$T/port" "$T/api.log"
	bg "$IST_PY" "$IST_SRC/tests/e2e/hostile_api.py" "$T/port" \
		"$T/api.log" "$mode"
	api=$BG_PID
	wait_for "$T/port" ""
	while [ ! -s "$T/port" ]; do sleep 0.1; done
	rc=0
	"$IST_BIN/iot-ssh-proxy" --no-hooks --region us-east-1 -vvvv \
		--api-endpoint "http://127.0.0.1:$(cat "$T/port")" \
		--proxy-endpoint "127.0.0.1:$(free_port)" kiosk-17 \
		< /dev/null > "$T/out" 2> "$T/err" || rc=$?
	assert_eq "$rc" 2 "proxy exit status ($mode): $(cat "$T/err")"
	assert_contains "$(cat "$T/err")" "cannot use" "message ($mode)"
	has_ctl "$T/err" && fail "control characters on stderr ($mode): $(cat -v "$T/err")"
	# OpenTunnel only: no DescribeTunnel or CloseTunnel on another id.
	assert_eq "$("$IST_PY" -c 'import json, sys
print(",".join(json.loads(l)["target"].rpartition(".")[2]
    for l in open(sys.argv[1])))' "$T/api.log")" OpenTunnel "calls ($mode)"
	kill "$api"
	wait "$api" 2>/dev/null || true
done
echo "ok"
