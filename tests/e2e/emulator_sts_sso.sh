#!/bin/bash
# The emulator's STS, SSO portal and SSO-OIDC, driven by the real AWS
# CLI with --endpoint-url (issue 11): sts assume-role (SigV4-verified),
# sts assume-role-with-web-identity (unsigned), sso get-role-credentials
# (bearer token); the temporary credentials work on the tunnel API with
# their session token and not without it; errors as AWS names them.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-creds.sh"

start_emulator --admin
export HOME=$T/home
mkdir -p -m 700 "$HOME"
cli_err() { # the AWS error code a failed CLI call printed
	sed -n 's/.*An error occurred (\([A-Za-z]*\)).*/\1/p' "$1" | sed -n 1p
}

(umask 077; aws_emu sts assume-role --role-arn "$ROLE_ARN/fleet" \
	--role-session-name alice > "$T/ar.json")
assert_eq "$(json_get "$T/ar.json" AssumedRoleUser.Arn)" \
	"arn:aws:sts::123456789012:assumed-role/fleet/alice" "assumed role ARN"
grep -q "STS AssumeRole $ROLE_ARN/fleet (session alice)" "$EMU_LOG" ||
	fail "no STS line in the emulator's log"
(
	AWS_ACCESS_KEY_ID=$(json_get "$T/ar.json" Credentials.AccessKeyId)
	AWS_SECRET_ACCESS_KEY=$(json_get "$T/ar.json" Credentials.SecretAccessKey)
	AWS_SESSION_TOKEN=$(json_get "$T/ar.json" Credentials.SessionToken)
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
	aws_emu iotsecuretunneling list-tunnels > /dev/null ||
		fail "the tunnel API refused the temporary credentials"
	unset AWS_SESSION_TOKEN
	if aws_emu iotsecuretunneling list-tunnels > /dev/null 2> "$T/e1"; then
		fail "the temporary key worked without its session token"
	fi
	assert_eq "$(cli_err "$T/e1")" UnrecognizedClientException "no token"
	# A wrong secret: STS's own name for a bad signature.
	AWS_SECRET_ACCESS_KEY=wrong AWS_SESSION_TOKEN=$(json_get "$T/ar.json" \
		Credentials.SessionToken)
	export AWS_SESSION_TOKEN
	if aws_emu sts assume-role --role-arn "$ROLE_ARN/x" \
		--role-session-name sess > /dev/null 2> "$T/e2"; then
		fail "STS accepted a bad signature"
	fi
	assert_eq "$(cli_err "$T/e2")" SignatureDoesNotMatch "bad signature"
)
if aws_emu sts assume-role --role-arn "$ROLE_ARN/denied-role" \
	--role-session-name sess > /dev/null 2> "$T/e3"; then
	fail "a denied role was assumed"
fi
assert_eq "$(cli_err "$T/e3")" AccessDenied "denied role"
if aws_emu sts assume-role --role-arn "$ROLE_ARN/mfa-admin" \
	--role-session-name sess > /dev/null 2> "$T/e4"; then
	fail "an MFA role was assumed without MFA"
fi
assert_eq "$(cli_err "$T/e4")" AccessDenied "MFA role without a code"
if aws_emu sts assume-role --role-arn "$ROLE_ARN/fleet" \
	--role-session-name sess --duration-seconds 50000 > /dev/null 2> "$T/e5"; then
	fail "a duration over 12 hours was accepted"
fi
assert_eq "$(cli_err "$T/e5")" ValidationError "duration"

# Web identity: unsigned, the token must be a JWT.
printf 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln' > "$T/jwt"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$IST_AWS" \
	--endpoint-url "$EMU_URL" --ca-bundle "$IST_CA" --region us-east-1 \
	--output json sts assume-role-with-web-identity \
	--role-arn "$ROLE_ARN/ci" --role-session-name ci \
	--web-identity-token "file://$T/jwt" > "$T/wi.json" ||
	fail "assume-role-with-web-identity failed"
[ -n "$(json_get "$T/wi.json" Credentials.SessionToken)" ] ||
	fail "no session token from web identity"
printf 'not-a-jwt' > "$T/notjwt"
if aws_emu sts assume-role-with-web-identity --role-arn "$ROLE_ARN/ci" \
	--role-session-name ci --web-identity-token "file://$T/notjwt" \
	> /dev/null 2> "$T/e6"; then
	fail "a token that is no JWT was accepted"
fi
assert_eq "$(cli_err "$T/e6")" InvalidIdentityToken "not a JWT"

# The portal: a registered token works; another, or an expired one, not.
(umask 077; "$IST_PY" -c 'import json, secrets, sys
t = sys.argv[1]
a, b = "aoa" + secrets.token_urlsafe(30), "aoa" + secrets.token_urlsafe(30)
open(t + "/tok-ok", "w").write(a)
open(t + "/tok-old", "w").write(b)
json.dump({"accessToken": a, "expiresIn": 600}, open(t + "/r1.json", "w"))
json.dump({"accessToken": b, "expiresIn": -5}, open(t + "/r2.json", "w"))' "$T")
emu_admin_file sso-token "$T/r1.json"
emu_admin_file sso-token "$T/r2.json"
# (The CLI takes the token only as an argument; this run's throwaway
# token for the emulator is the one secret on a command line here.)
aws_emu sso get-role-credentials --account-id 123456789012 \
	--role-name Admin --access-token "$(cat "$T/tok-ok")" > "$T/rc.json" ||
	fail "get-role-credentials failed"
(
	AWS_ACCESS_KEY_ID=$(json_get "$T/rc.json" roleCredentials.accessKeyId)
	AWS_SECRET_ACCESS_KEY=$(json_get "$T/rc.json" roleCredentials.secretAccessKey)
	AWS_SESSION_TOKEN=$(json_get "$T/rc.json" roleCredentials.sessionToken)
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
	aws_emu iotsecuretunneling list-tunnels > /dev/null ||
		fail "the tunnel API refused the SSO role credentials"
)
for tok in tok-old nonexistent; do
	[ -f "$T/$tok" ] || echo "aoa-unknown" > "$T/$tok"
	if aws_emu sso get-role-credentials --account-id 123456789012 \
		--role-name Admin --access-token "$(cat "$T/$tok")" \
		> /dev/null 2> "$T/e7"; then
		fail "the portal accepted $tok"
	fi
	assert_eq "$(cli_err "$T/e7")" UnauthorizedException "portal ($tok)"
done
assert_eq "$(sso_calls GetRoleCredentials)" 1 "GetRoleCredentials served"
echo "ok"
