#!/bin/bash
# Issue 11's last open point: the credential calls go through HTTPS_PROXY
# like the tunnel API does. STS (AssumeRole) and the SSO portal
# (GetRoleCredentials) are given their own name for the emulator
# ("localhost", which its certificate also covers), so the CONNECT
# proxy's log tells them apart from the API's 127.0.0.1; NO_PROXY naming
# localhost sends them around it again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"
. "$(dirname "$0")/lib-creds.sh"

creds_world
export AWS_ENDPOINT_URL_STS=https://localhost:$EMU_PORT
export AWS_ENDPOINT_URL_SSO=https://localhost:$EMU_PORT
START=https://d-90670bd3a1.awsapps.com/start
cat > "$AWS_CONFIG_FILE" <<CONF
[profile assume]
role_arn = $ROLE_ARN/fleet
source_profile = base
role_session_name = alice
region = us-east-1

[profile fleet-admin]
sso_session = corp
sso_account_id = 123456789012
sso_role_name = FleetAdmin
region = us-east-1

[sso-session corp]
sso_start_url = $START
sso_region = us-east-1
CONF
chmod 600 "$AWS_CONFIG_FILE"

# What "aws sso login" would have left.
mkdir -p -m 700 "$HOME/.aws/sso" "$HOME/.aws/sso/cache"
(umask 077; "$IST_PY" -c 'import json, secrets, sys
json.dump({"accessToken": "aoa" + secrets.token_urlsafe(40),
           "expiresIn": 3600}, open(sys.argv[1], "w"))' "$T/reg.json")
emu_admin_file sso-token "$T/reg.json"
SECRETS_EXTRA=$(json_get "$T/reg.json" accessToken)
export SECRETS_EXTRA
(umask 077
 cat > "$HOME/.aws/sso/cache/$(printf corp | sha1sum | cut -d' ' -f1).json" <<JSON
{"startUrl": "$START", "region": "us-east-1",
 "accessToken": "$SECRETS_EXTRA",
 "expiresAt": "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)"}
JSON
)

bg "$IST_PY" "$IST_SRC/tests/e2e/connect_proxy.py" plain "$T/connects.log" \
	> "$T/cproxy.out"
wait_for "$T/cproxy.out" listening 30
PROXY_URL=http://127.0.0.1:$(sed -n 's/^listening //p' "$T/cproxy.out")

via_proxy() {
	HTTPS_PROXY=$PROXY_URL NO_PROXY=${NOPROXY:-} ssh_dev kiosk-17 "$@"
}
connects_to() {
	grep -c "^CONNECT $1:$EMU_PORT HTTP/1.1 | Host: $1:$EMU_PORT | Proxy-Connection" \
		"$T/connects.log" || true
}

write_ssh_config --profile assume -v
assert_eq "$(via_proxy 'echo assumed')" assumed "ssh output (assume)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (assume)"
assert_eq "$(sts_calls)" 1 "STS calls"
assert_eq "$(connects_to localhost)" 1 "CONNECTs to STS"
[ "$(connects_to 127.0.0.1)" -ge 1 ] || fail "the API did not use the proxy"

write_ssh_config --profile fleet-admin -v
assert_eq "$(via_proxy 'echo sso')" sso "ssh output (SSO)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (SSO)"
assert_eq "$(sso_calls GetRoleCredentials)" 1 "GetRoleCredentials calls"
assert_eq "$(connects_to localhost)" 2 "CONNECTs to STS and SSO"

# NO_PROXY names the credential host: those calls go direct (and are
# made: the role cache is removed first), the API still through it.
rm -rf "$HOME/.aws/cli/cache"
: > "$T/connects.log"
write_ssh_config --profile assume -v
assert_eq "$(NOPROXY=localhost via_proxy 'echo direct')" direct \
	"ssh output (NO_PROXY)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (NO_PROXY)"
assert_eq "$(sts_calls)" 2 "STS calls after NO_PROXY"
assert_eq "$(connects_to localhost)" 0 "CONNECTs to STS with NO_PROXY"
[ "$(connects_to 127.0.0.1)" -ge 1 ] || fail "the API did not use the proxy"

assert_no_secrets "$T/proxy.last.err" "$T/connects.log"
echo "ok"
