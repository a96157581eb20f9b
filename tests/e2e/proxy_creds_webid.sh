#!/bin/bash
# ssh with web identity credentials (issue 11): web_identity_token_file
# + role_arn in a profile, and AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
# (+ AWS_ROLE_SESSION_NAME) in the environment: AssumeRoleWithWebIdentity
# (unsigned, as on AWS), cached like the CLI; the token never in a log.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"
. "$(dirname "$0")/lib-creds.sh"

creds_world
# A JWT-shaped token (the emulator checks the shape, as STS parses it).
(umask 077; "$IST_PY" -c 'import base64, secrets
b = lambda s: base64.urlsafe_b64encode(s).rstrip(b"=").decode()
print(b(b"{\"alg\":\"RS256\"}") + "." + b(secrets.token_bytes(48)) + "." +
    b(secrets.token_bytes(64)))' > "$T/web-identity.jwt")
SECRETS_EXTRA=$(cat "$T/web-identity.jwt")
export SECRETS_EXTRA
cat > "$AWS_CONFIG_FILE" <<CONF
[profile wid]
role_arn = $ROLE_ARN/ci-deployer
web_identity_token_file = $T/web-identity.jwt
role_session_name = ci-run-7

[profile widbad]
role_arn = $ROLE_ARN/ci-deployer
web_identity_token_file = $T/missing.jwt
CONF
chmod 600 "$AWS_CONFIG_FILE"

# The profile form.
write_ssh_config --profile wid -vvvv
out=$(ssh_dev kiosk-17 'echo web-identity')
assert_eq "$out" web-identity "ssh output (profile form)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (profile form)"
assert_contains "$(last_proxy_err)" "AWS credentials from web identity"
assert_eq "$(sts_calls AssumeRoleWithWebIdentity)" 1 "web identity calls"
grep -q "STS AssumeRoleWithWebIdentity $ROLE_ARN/ci-deployer (session ci-run-7)" \
	"$EMU_LOG" || fail "the emulator did not see the profile's session name"
out=$(ssh_dev kiosk-17 'echo cached')
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (cached)"
assert_eq "$(sts_calls AssumeRoleWithWebIdentity)" 1 "web identity calls (cached)"
assert_no_secrets "$T"/proxy.*.err

# The environment form, with no profile at all (and no keys in the
# environment, which would come first).
rm -f "$HOME"/.aws/cli/cache/*.json
write_ssh_config -v
: > "$AWS_CONFIG_FILE"
out=$(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
	AWS_WEB_IDENTITY_TOKEN_FILE="$T/web-identity.jwt" \
	AWS_ROLE_ARN="$ROLE_ARN/pod-role" AWS_ROLE_SESSION_NAME=pod-42 \
	AWS_SHARED_CREDENTIALS_FILE=/nonexistent \
	"$SSH" -F "$T/ssh_config" kiosk-17 'echo from-env')
assert_eq "$out" from-env "ssh output (environment form)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (environment form)"
grep -q "STS AssumeRoleWithWebIdentity $ROLE_ARN/pod-role (session pod-42)" \
	"$EMU_LOG" || fail "the emulator did not see the environment's role"

# A token file that cannot be read: exit 2, the file and line.
cat > "$AWS_CONFIG_FILE" <<CONF
[profile widbad]
role_arn = $ROLE_ARN/ci-deployer
web_identity_token_file = $T/missing.jwt
CONF
write_ssh_config --profile widbad
set +e
ssh_dev kiosk-17 true 2>/dev/null
set -e
assert_eq "$(last_proxy_rc)" 2 "proxy exit status (missing token file)"
assert_contains "$(last_proxy_err)" \
	"$AWS_CONFIG_FILE:3: cannot read the web identity token file $T/missing.jwt"
assert_no_secrets "$T"/proxy.*.err "$EMU_LOG"
echo "ok"
