#!/bin/bash
# The emulator's API plane driven by the real AWS CLI: all five
# operations, tags, pagination, validation errors, and refused
# signatures (unknown key, wrong secret, expired time, wrong region).
. "$(dirname "$0")/lib.sh"

# A second key with a session token (temporary credentials).
_ist_make_creds
sess_token=$("$IST_PY" -c 'import secrets; print(secrets.token_urlsafe(60))')
printf 'ASIATEMPORARYKEY0001:%s:%s\n' "temp-$(cat "$T/secret")" \
	"$sess_token" >> "$T/emu-credentials"
start_emulator -vvv --max-open-tunnels 4

# OpenTunnel with every field.
aws_emu iotsecuretunneling open-tunnel --description "kiosk 17 ssh" \
	--tags key=env,value=test key=owner,value=ops \
	--destination-config thingName=kiosk-17,services=SSH \
	--timeout-config maxLifetimeTimeoutMinutes=30 > "$T/open.json" ||
	fail "open-tunnel"
id=$(json_get "$T/open.json" tunnelId)
arn=$(json_get "$T/open.json" tunnelArn)
src=$(json_get "$T/open.json" sourceAccessToken)
dst=$(json_get "$T/open.json" destinationAccessToken)
[[ $id =~ ^[0-9a-f-]{36}$ ]] || fail "tunnelId '$id'"
assert_eq "$arn" "arn:aws:iot:us-east-1:123456789012:tunnel/$id" "tunnelArn"
[ ${#src} -ge 300 ] || fail "source token too short (${#src})"
[ ${#dst} -ge 300 ] || fail "destination token too short"
[ "$src" != "$dst" ] || fail "source and destination tokens are equal"

# DescribeTunnel: everything given comes back, nobody connected yet.
aws_emu iotsecuretunneling describe-tunnel --tunnel-id "$id" \
	> "$T/desc.json" || fail "describe-tunnel"
assert_eq "$(json_get "$T/desc.json" tunnel.status)" OPEN "status"
assert_eq "$(json_get "$T/desc.json" tunnel.tunnelId)" "$id" "tunnelId"
assert_eq "$(json_get "$T/desc.json" tunnel.description)" "kiosk 17 ssh"
assert_eq "$(json_get "$T/desc.json" tunnel.destinationConfig)" \
	'{"services": ["SSH"], "thingName": "kiosk-17"}' "destinationConfig"
assert_eq "$(json_get "$T/desc.json" \
	tunnel.timeoutConfig.maxLifetimeTimeoutMinutes)" 30 "timeout"
assert_eq "$(json_get "$T/desc.json" tunnel.tags)" \
	'[{"key": "env", "value": "test"}, {"key": "owner", "value": "ops"}]' \
	"tags"
assert_eq "$(json_get "$T/desc.json" tunnel.sourceConnectionState.status)" \
	DISCONNECTED "source state"
assert_eq "$(json_get "$T/desc.json" \
	tunnel.destinationConnectionState.status)" DISCONNECTED "dest state"
created=$(json_get "$T/desc.json" tunnel.createdAt)
[ -n "$created" ] || fail "no createdAt"

# Tags after the fact: TagResource (replace + add), UntagResource.
aws_emu iotsecuretunneling tag-resource --resource-arn "$arn" \
	--tags key=env,value=prod key=site,value=berlin > /dev/null ||
	fail "tag-resource"
aws_emu iotsecuretunneling untag-resource --resource-arn "$arn" \
	--tag-keys owner > /dev/null || fail "untag-resource"
aws_emu iotsecuretunneling list-tags-for-resource --resource-arn "$arn" \
	> "$T/tags.json" || fail "list-tags-for-resource"
assert_eq "$(json_get "$T/tags.json" tags)" \
	'[{"key": "env", "value": "prod"}, {"key": "site", "value": "berlin"}]' \
	"tags after tag/untag"

# Two more tunnels, then ListTunnels: newest first, filter, pagination.
aws_emu iotsecuretunneling open-tunnel \
	--destination-config thingName=kiosk-18,services=SSH,VNC \
	> "$T/open2.json" || fail "open 2"
id2=$(json_get "$T/open2.json" tunnelId)
aws_emu iotsecuretunneling open-tunnel > "$T/open3.json" || fail "open 3"
id3=$(json_get "$T/open3.json" tunnelId)

aws_emu iotsecuretunneling list-tunnels > "$T/list.json" || fail "list"
assert_eq "$(json_get "$T/list.json" tunnelSummaries.0.tunnelId)" "$id3"
assert_eq "$(json_get "$T/list.json" tunnelSummaries.2.tunnelId)" "$id"
assert_eq "$(json_get "$T/list.json" tunnelSummaries.2.description)" \
	"kiosk 17 ssh"
assert_eq "$(json_get "$T/list.json" tunnelSummaries.3)" "" "4th summary"
aws_emu iotsecuretunneling list-tunnels --thing-name kiosk-18 \
	> "$T/list.json" || fail "list by thing"
assert_eq "$(json_get "$T/list.json" tunnelSummaries.0.tunnelId)" "$id2"
assert_eq "$(json_get "$T/list.json" tunnelSummaries.1)" "" "filtered"
aws_emu iotsecuretunneling list-tunnels --max-results 2 \
	> "$T/list.json" || fail "list page 1"
assert_eq "$(json_get "$T/list.json" tunnelSummaries.1.tunnelId)" "$id2"
next=$(json_get "$T/list.json" nextToken)
[ -n "$next" ] || fail "no nextToken with --max-results 2"
aws_emu iotsecuretunneling list-tunnels --max-results 2 \
	--next-token "$next" > "$T/list.json" || fail "list page 2"
assert_eq "$(json_get "$T/list.json" tunnelSummaries.0.tunnelId)" "$id"
assert_eq "$(json_get "$T/list.json" nextToken)" "" "last page"

# RotateTunnelAccessToken: only the asked side changes.
aws_emu iotsecuretunneling rotate-tunnel-access-token --tunnel-id "$id" \
	--client-mode SOURCE > "$T/rot.json" || fail "rotate"
assert_eq "$(json_get "$T/rot.json" tunnelArn)" "$arn" "rotate arn"
src2=$(json_get "$T/rot.json" sourceAccessToken)
[ -n "$src2" ] && [ "$src2" != "$src" ] || fail "source token not rotated"
assert_eq "$(json_get "$T/rot.json" destinationAccessToken)" "" "dest token"
aws_emu iotsecuretunneling rotate-tunnel-access-token --tunnel-id "$id" \
	--client-mode ALL > "$T/rot.json" || fail "rotate ALL"
[ -n "$(json_get "$T/rot.json" destinationAccessToken)" ] ||
	fail "ALL gave no destination token"

# Validation errors the CLI does not catch itself.
expect_error() { # WANT_TYPE WANT_TEXT CLI-ARGS...
	local want=$1 text=$2 rc=0
	shift 2
	aws_emu iotsecuretunneling "$@" > "$T/err.out" 2> "$T/err.txt" ||
		rc=$?
	[ "$rc" -ne 0 ] || fail "$* succeeded"
	assert_contains "$(cat "$T/err.txt")" "($want)" "$*"
	assert_contains "$(cat "$T/err.txt")" "$text" "$*"
}
expect_error ValidationException \
	"Member must have value less than or equal to 720" \
	open-tunnel --timeout-config maxLifetimeTimeoutMinutes=721
expect_error ValidationException "destinationConfig.services.1.member" \
	open-tunnel --destination-config '{"services": ["S S H"]}'
expect_error ValidationException "have length less than or equal to 3" \
	open-tunnel --destination-config services=A,B,C,D
expect_error ValidationException "destinationConfig.thingName" \
	open-tunnel --destination-config 'thingName=kiosk/17,services=SSH'
expect_error ValidationException "satisfy enum value set" \
	rotate-tunnel-access-token --tunnel-id "$id" --client-mode BOGUS
expect_error ValidationException "maxResults" \
	list-tunnels --max-results 101
expect_error ResourceNotFoundException "not found" \
	describe-tunnel --tunnel-id 00000000-0000-4000-8000-000000000000
expect_error ResourceNotFoundException "not found" list-tags-for-resource \
	--resource-arn "arn:aws:iot:us-east-1:123456789012:tunnel/nope"
expect_error ValidationException "tags.1.member.key" tag-resource \
	--resource-arn "$arn" --tags 'key=a*b,value=x'
expect_error ValidationException "tunnelId" describe-tunnel \
	--tunnel-id 'bad/id'
aws_emu iotsecuretunneling open-tunnel --description ok-4 > /dev/null ||
	fail "4th tunnel"
expect_error LimitExceededException "at most 4 open tunnels" open-tunnel

# CloseTunnel: CLOSED, still described; delete: gone.
aws_emu iotsecuretunneling close-tunnel --tunnel-id "$id2" > /dev/null ||
	fail "close"
aws_emu iotsecuretunneling describe-tunnel --tunnel-id "$id2" \
	> "$T/desc.json" || fail "describe closed"
assert_eq "$(json_get "$T/desc.json" tunnel.status)" CLOSED "closed status"
expect_error InvalidRequestException "is closed" \
	rotate-tunnel-access-token --tunnel-id "$id2" --client-mode SOURCE
aws_emu iotsecuretunneling close-tunnel --tunnel-id "$id3" --delete \
	> /dev/null || fail "close --delete"
expect_error ResourceNotFoundException "not found" \
	describe-tunnel --tunnel-id "$id3"
# A closed tunnel no longer counts against the limit.
aws_emu iotsecuretunneling open-tunnel > /dev/null || fail "open after close"

# Signatures: unknown key, wrong secret.
rc=0
AWS_ACCESS_KEY_ID=AKIAUNKNOWNUNKNOWN1 aws_emu iotsecuretunneling \
	list-tunnels > /dev/null 2> "$T/err.txt" || rc=$?
[ "$rc" -ne 0 ] || fail "unknown key accepted"
assert_contains "$(cat "$T/err.txt")" "(UnrecognizedClientException)"
rc=0
AWS_SECRET_ACCESS_KEY=wrong-secret aws_emu iotsecuretunneling \
	list-tunnels > /dev/null 2> "$T/err.txt" || rc=$?
[ "$rc" -ne 0 ] || fail "wrong secret accepted"
assert_contains "$(cat "$T/err.txt")" "(InvalidSignatureException)"
assert_contains "$(cat "$T/err.txt")" "signature we calculated does not match"

# Temporary credentials: the session token must come with the key.
AWS_ACCESS_KEY_ID=ASIATEMPORARYKEY0001 \
AWS_SECRET_ACCESS_KEY="temp-$(cat "$T/secret")" \
AWS_SESSION_TOKEN=$sess_token aws_emu iotsecuretunneling list-tunnels \
	> /dev/null || fail "session credentials"
rc=0
AWS_ACCESS_KEY_ID=ASIATEMPORARYKEY0001 \
AWS_SECRET_ACCESS_KEY="temp-$(cat "$T/secret")" \
AWS_SESSION_TOKEN=wrong-token aws_emu iotsecuretunneling list-tunnels \
	> /dev/null 2> "$T/err.txt" || rc=$?
[ "$rc" -ne 0 ] || fail "wrong session token accepted"
assert_contains "$(cat "$T/err.txt")" "(UnrecognizedClientException)"

# Raw requests: expired, future, wrong region, unsigned, bad JSON.
req() { "$IST_PY" "$IST_SRC/tests/e2e/emu_request.py" "$@"; }
out=$(req ListTunnels '{}')
assert_contains "$out" "200 " "raw signed request"
out=$(req ListTunnels '{}' --skew -600)
assert_contains "$out" "403 " "expired"
assert_contains "$out" "InvalidSignatureException" "expired"
assert_contains "$out" "Signature expired" "expired"
out=$(req ListTunnels '{}' --skew 600)
assert_contains "$out" "Signature expired" "future"
out=$(req ListTunnels '{}' --skew -200)
assert_contains "$out" "200 " "200 s of skew is fine"
out=$(req ListTunnels '{}' --region eu-west-1)
assert_contains "$out" "403 " "region"
assert_contains "$out" "valid region" "region"
out=$(req ListTunnels '{}' --no-auth)
assert_contains "$out" "MissingAuthenticationTokenException" "no auth"
out=$(req ListTunnels '{"maxResults": "x"}')
assert_contains "$out" "400 " "bad type"
assert_contains "$out" "SerializationException" "bad type"
out=$(req ListTunnels '{not json')
assert_contains "$out" "SerializationException" "bad JSON"
out=$(req Frobnicate '{}')
assert_contains "$out" "UnknownOperationException" "unknown operation"

# Without --admin there is no fault injection endpoint.
rc=0
emu_admin fail '{"count": 1}' 2> "$T/err.txt" || rc=$?
[ "$rc" -ne 0 ] || fail "admin endpoint served without --admin"
assert_contains "$(cat "$T/err.txt")" "404"
aws_emu iotsecuretunneling list-tunnels > /dev/null || fail "after admin"

# Tokens and the secret never reach the log, even at -vvv.
log=$(cat "$EMU_LOG")
for s in "$src" "$dst" "$src2" "$(cat "$T/secret")" "$sess_token"; do
	assert_not_contains "$log" "$s" "emulator log"
done
assert_contains "$log" "tunnel $id: opened"
echo "PASS"
