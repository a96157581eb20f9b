#!/bin/bash
# The API client (src/aws/api.c through build/bin/ist-api-test) against the
# real emulator over TLS: the five operations, cross-checked with the AWS
# CLI; service errors with __type; the retry policy through the
# emulator's fault injection; no secret in logs at debug3.
. "$(dirname "$0")/lib.sh"

start_emulator -v --admin --max-open-tunnels 2
export AWS_ENDPOINT_URL=$EMU_URL AWS_CA_BUNDLE=$IST_CA
api() { "$IST_BIN/ist-api-test" "$@"; }

# OpenTunnel: the API shape, tokens to a file only.
cat > "$T/open.json" <<'JSON'
{"description": "e2e api", "tags": [{"key": "team", "value": "ops"}],
 "destinationConfig": {"thingName": "kiosk-17", "services": ["SSH"]},
 "timeoutConfig": {"maxLifetimeTimeoutMinutes": 30}}
JSON
id=$(api open "$T/open.json" "$T/tokens.json") || fail "open"
assert_eq "$id" "$(json_get "$T/tokens.json" tunnelId)" "tunnel id"
src=$(json_get "$T/tokens.json" sourceAccessToken)
dst=$(json_get "$T/tokens.json" destinationAccessToken)
[ -n "$src" ] && [ -n "$dst" ] || fail "tokens missing"
assert_eq "$(stat -c %a "$T/tokens.json")" "600" "token file mode"

# The AWS CLI sees what we opened, as we asked for it.
aws_emu iotsecuretunneling describe-tunnel --tunnel-id "$id" > "$T/cli.json"
assert_eq "$(json_get "$T/cli.json" tunnel.description)" "e2e api"
assert_eq "$(json_get "$T/cli.json" tunnel.destinationConfig.thingName)" \
	"kiosk-17"
assert_eq "$(json_get "$T/cli.json" tunnel.timeoutConfig.maxLifetimeTimeoutMinutes)" \
	"30"
assert_eq "$(json_get "$T/cli.json" tunnel.tags.0.key)" "team"

# DescribeTunnel and ListTunnels through our client.
api describe "$id" > "$T/desc.json" || fail "describe"
assert_eq "$(json_get "$T/desc.json" tunnelId)" "$id"
assert_eq "$(json_get "$T/desc.json" status)" "OPEN"
api list kiosk-17 10 > "$T/list.json" || fail "list"
assert_eq "$(json_get "$T/list.json" tunnelSummaries.0.tunnelId)" "$id"
api list other-thing > "$T/list2.json" || fail "list other"
assert_eq "$(json_get "$T/list2.json" tunnelSummaries.0.tunnelId)" ""

# RotateTunnelAccessToken: new tokens, different from the old ones.
echo '{"thingName": "kiosk-17", "services": ["SSH"]}' > "$T/dc.json"
api rotate "$id" ALL "$T/rot.json" "$T/dc.json" || fail "rotate"
nsrc=$(json_get "$T/rot.json" sourceAccessToken)
[ -n "$nsrc" ] && [ "$nsrc" != "$src" ] || fail "rotate gave no new token"
api rotate "$id" SOURCE "$T/rot2.json" || fail "rotate source"
assert_eq "$(json_get "$T/rot2.json" destinationAccessToken)" ""

# CloseTunnel, then delete: gone for the CLI as for us.
api close "$id" || fail "close"
api describe "$id" > "$T/desc.json"
assert_eq "$(json_get "$T/desc.json" status)" "CLOSED"
api close "$id" delete || fail "close delete"
rc=0
api describe "$id" 2> "$T/err.txt" || rc=$?
assert_eq "$rc" "20" "exit status (IST_ERR_NOTFOUND)"
assert_contains "$(cat "$T/err.txt")" \
	"DescribeTunnel failed: ResourceNotFoundException: "
assert_contains "$(cat "$T/err.txt")" "check the tunnel id"

# LimitExceededException (--max-open-tunnels 2): a hint, one attempt.
api open "$T/open.json" "$T/t1.json" > /dev/null || fail "open 1"
api open "$T/open.json" "$T/t2.json" > /dev/null || fail "open 2"
rc=0
api open "$T/open.json" "$T/t3.json" 2> "$T/err.txt" || rc=$?
assert_eq "$rc" "12" "exit status (IST_ERR_AWS)"
assert_contains "$(cat "$T/err.txt")" "OpenTunnel failed: LimitExceededException"
assert_contains "$(cat "$T/err.txt")" "close unused tunnels"
[ ! -e "$T/t3.json" ] || fail "tokens written on failure"
api close "$(json_get "$T/t1.json" tunnelId)" delete || fail "close t1"
api close "$(json_get "$T/t2.json" tunnelId)" delete || fail "close t2"

# Input checked before sending: the emulator never sees it.
echo '{"destinationConfig": {"services": ["no space"]}}' > "$T/bad.json"
before=$(grep -c 'OpenTunnel' "$EMU_LOG" || true)
rc=0
api open "$T/bad.json" "$T/t4.json" 2> "$T/err.txt" || rc=$?
assert_eq "$rc" "2" "exit status (IST_ERR_INVAL)"
assert_contains "$(cat "$T/err.txt")" "destinationConfig.services[0]"
assert_eq "$(grep -c 'OpenTunnel' "$EMU_LOG" || true)" "$before" \
	"requests seen by the emulator"

# Retries: 2 failures (500, then throttling) are absorbed by 3 attempts...
emu_admin fail '{"count": 2, "status": 500, "type": "InternalFailure"}' \
	> /dev/null
api list > /dev/null || fail "2 x 500 not retried through"
emu_admin fail '{"count": 2, "type": "ThrottlingException"}' > /dev/null
api list > /dev/null || fail "2 x throttling not retried through"
# ...3 are not, and exactly 3 attempts were made (the next call is clean).
emu_admin fail '{"count": 3, "type": "ThrottlingException"}' > /dev/null
rc=0
api list 2> "$T/err.txt" > /dev/null || rc=$?
assert_eq "$rc" "12" "exit status after 3 throttles"
assert_contains "$(cat "$T/err.txt")" "ListTunnels failed: ThrottlingException"
api list > /dev/null || fail "more than 3 attempts were made"
# A 4xx is never retried: the second injected failure hits the next call.
emu_admin fail '{"count": 2, "status": 403, "type": "AccessDeniedException"}' \
	> /dev/null
rc=0
api list 2> "$T/err.txt" > /dev/null || rc=$?
assert_eq "$rc" "12" "exit status (AccessDenied)"
assert_contains "$(cat "$T/err.txt")" "IAM permission iot:ListTunnels"
rc=0
api list 2> /dev/null > /dev/null || rc=$?
assert_eq "$rc" "12" "an AccessDenied was retried"
api list > /dev/null || fail "list after faults"

# A wrong secret: the emulator's signature check says no.
rc=0
AWS_SECRET_ACCESS_KEY=wrong-secret api list 2> "$T/err.txt" > /dev/null ||
	rc=$?
assert_eq "$rc" "11" "exit status (IST_ERR_CREDS)"
assert_contains "$(cat "$T/err.txt")" "InvalidSignatureException"

# An untrusted server certificate: TLS error, never ignored.
rc=0
AWS_CA_BUNDLE= api list 2> "$T/err.txt" > /dev/null || rc=$?
assert_eq "$rc" "14" "exit status (IST_ERR_TLS)"
assert_contains "$(cat "$T/err.txt")" "unable to get local issuer certificate" \
	"the verification's reason"
assert_contains "$(cat "$T/err.txt")" "trust it with --ca-file FILE or AWS_CA_BUNDLE" \
	"the fix"

# The system trust is a hashed directory, read one certificate at a time
# (not a bundle parsed whole): the test CA hashed into one is trusted.
mkdir -p "$T/certdir"
cp "$IST_CA" "$T/certdir/test-ca.pem"
openssl rehash "$T/certdir" 2> /dev/null || c_rehash "$T/certdir" > /dev/null
AWS_CA_BUNDLE= SSL_CERT_DIR=$T/certdir api list > /dev/null ||
	fail "list with the CA in SSL_CERT_DIR"
# The name is checked: "localhost" is in the certificate; the same
# address as an IPv4-mapped IPv6 literal is not.
AWS_ENDPOINT_URL=${EMU_URL/127.0.0.1/localhost} api list > /dev/null ||
	fail "list through the name localhost"
rc=0
AWS_ENDPOINT_URL=${EMU_URL/127.0.0.1/[::ffff:127.0.0.1]} api list \
	2> "$T/err.txt" > /dev/null || rc=$?
assert_eq "$rc" "14" "exit status, address not in the certificate"
assert_contains "$(cat "$T/err.txt")" "IP address mismatch" "the reason"

# Debug3: the signing steps are logged, no secret and no token is.
api -vvvvv open "$T/open.json" "$T/t5.json" > /dev/null \
	2> "$T/debug.log" || fail "open at debug3"
id5=$(json_get "$T/t5.json" tunnelId)
api -vvvvv rotate "$id5" ALL "$T/t6.json" 2>> "$T/debug.log" ||
	fail "rotate at debug3"
api -vvvvv describe "$id5" > /dev/null 2>> "$T/debug.log"
log=$(cat "$T/debug.log")
assert_contains "$log" "canonical request"
assert_contains "$log" "string to sign"
assert_not_contains "$log" "$AWS_SECRET_ACCESS_KEY" "debug log"
for f in t5 t6; do
	for k in sourceAccessToken destinationAccessToken; do
		v=$(json_get "$T/$f.json" "$k")
		[ -n "$v" ] || fail "$f $k missing"
		assert_not_contains "$log" "$v" "debug log"
	done
done
echo PASS
