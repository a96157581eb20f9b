#!/bin/bash
# ssh with IAM Identity Center profiles (issue 11): an sso-session
# profile and the older sso_start_url form read the token "aws sso
# login" left in ~/.aws/sso/cache and call the portal's
# GetRoleCredentials (the emulator); the role credentials are cached in
# ~/.aws/cli/cache; a token near expiry is refreshed through SSO-OIDC
# CreateToken and written back where botocore reads it; no token, or an
# expired one, is exit 2 with "run: aws sso login ...". No token,
# refresh token or client secret in the logs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"
. "$(dirname "$0")/lib-creds.sh"

creds_world
START=https://d-90670bd3a1.awsapps.com/start
cat > "$AWS_CONFIG_FILE" <<CONF
[profile fleet-admin]
sso_session = corp
sso_account_id = 123456789012
sso_role_name = FleetAdmin
region = us-east-1

[sso-session corp]
sso_start_url = $START
sso_region = us-east-1
sso_registration_scopes = sso:account:access

[profile legacy]
sso_start_url = $START#legacy
sso_region = us-east-1
sso_account_id = 123456789012
sso_role_name = Legacy

[profile nologin]
sso_session = other
sso_account_id = 123456789012
sso_role_name = FleetAdmin

[sso-session other]
sso_start_url = https://other.awsapps.com/start
sso_region = us-east-1
CONF
chmod 600 "$AWS_CONFIG_FILE"
mkdir -p -m 700 "$HOME/.aws/sso" "$HOME/.aws/sso/cache"
sha1() { printf '%s' "$1" | sha1sum | cut -d' ' -f1; }

# What "aws sso login" would have left: a token the portal accepts.
(umask 077; "$IST_PY" - "$T" <<'PY'
import json, secrets, sys
t = sys.argv[1]
d = {"access": "aoa" + secrets.token_urlsafe(40),
     "stale": "aoa" + secrets.token_urlsafe(40),
     "refresh": "aor" + secrets.token_urlsafe(40),
     "client_id": "cid-" + secrets.token_urlsafe(8),
     "client_secret": "csec" + secrets.token_urlsafe(40)}
json.dump(d, open(t + "/sso-secrets.json", "w"))
json.dump({"accessToken": d["access"], "expiresIn": 3600},
          open(t + "/reg1.json", "w"))
json.dump({"accessToken": d["stale"], "expiresIn": 300,
           "refreshToken": d["refresh"], "clientId": d["client_id"],
           "clientSecret": d["client_secret"]}, open(t + "/reg2.json", "w"))
PY
)
sso_secret() { json_get "$T/sso-secrets.json" "$1"; }
SECRETS_EXTRA=$(sso_secret access):$(sso_secret stale):$(sso_secret refresh):$(sso_secret client_secret)
export SECRETS_EXTRA
emu_admin_file sso-token "$T/reg1.json"
emu_admin_file sso-token "$T/reg2.json"
token_file=$HOME/.aws/sso/cache/$(sha1 corp).json
later=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
soon=$(date -u -d '+5 minutes' +%Y-%m-%dT%H:%M:%SZ)
(umask 077; cat > "$token_file" <<JSON
{"startUrl": "$START", "region": "us-east-1",
 "accessToken": "$(sso_secret access)", "expiresAt": "$later"}
JSON
)

# sso-session: GetRoleCredentials with the cached token.
write_ssh_config --profile fleet-admin -vvvv
out=$(ssh_dev kiosk-17 'echo sso')
assert_eq "$out" sso "ssh output (sso-session)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (sso-session)"
assert_contains "$(last_proxy_err)" "AWS credentials from SSO (profile fleet-admin, role FleetAdmin)"
assert_eq "$(sso_calls GetRoleCredentials)" 1 "GetRoleCredentials calls"
# Cached under botocore's key for it.
key=$("$IST_PY" -c 'from botocore.credentials import SSOCredentialFetcher as S
print(S("", "us-east-1", "FleetAdmin", "123456789012", None,
    sso_session_name="corp")._cache_key)')
[ -f "$HOME/.aws/cli/cache/$key.json" ] || fail "no SSO cache entry $key"
assert_eq "$(json_get "$HOME/.aws/cli/cache/$key.json" ProviderType)" sso \
	"cache entry type"
out=$(ssh_dev kiosk-17 'echo cached')
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (cached)"
assert_eq "$(sso_calls GetRoleCredentials)" 1 "GetRoleCredentials (cached)"

# A token within 15 minutes of expiry: CreateToken with the refresh
# token, the new one written back (botocore reads it), then the portal.
rm -f "$HOME/.aws/cli/cache/$key.json"
(umask 077; cat > "$token_file" <<JSON
{"startUrl": "$START", "region": "us-east-1",
 "accessToken": "$(sso_secret stale)", "expiresAt": "$soon",
 "clientId": "$(sso_secret client_id)",
 "clientSecret": "$(sso_secret client_secret)",
 "registrationExpiresAt": "$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)",
 "refreshToken": "$(sso_secret refresh)"}
JSON
)
out=$(ssh_dev kiosk-17 'echo refreshed')
assert_eq "$out" refreshed "ssh output (refreshed token)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (refreshed token)"
assert_eq "$(sso_calls CreateToken)" 1 "CreateToken calls"
assert_eq "$(sso_calls GetRoleCredentials)" 2 "GetRoleCredentials (refreshed)"
assert_eq "$(stat -c %a "$token_file")" 600 "token file mode"
"$IST_PY" - "$HOME/.aws/sso/cache" "$START" "$(sso_secret stale)" \
	"$(sso_secret refresh)" <<'PY' || fail "botocore does not read the refreshed token"
import sys
from botocore.utils import JSONFileCache, SSOTokenLoader
cache, start, stale, refresh = sys.argv[1:5]
tok = SSOTokenLoader(JSONFileCache(cache))(start, session_name="corp")
assert tok["accessToken"] != stale, "the access token was not replaced"
assert tok["refreshToken"] != refresh, "the refresh token was not rotated"
assert tok["startUrl"] == start and tok["region"] == "us-east-1"
PY
SECRETS_EXTRA=$SECRETS_EXTRA:$(json_get "$token_file" accessToken):$(json_get "$token_file" refreshToken)

# The older form: the token file is named after the start URL.
(umask 077; cat > "$HOME/.aws/sso/cache/$(sha1 "$START#legacy").json" <<JSON
{"startUrl": "$START#legacy", "region": "us-east-1",
 "accessToken": "$(sso_secret access)", "expiresAt": "$later"}
JSON
)
write_ssh_config --profile legacy -v
out=$(ssh_dev kiosk-17 'echo legacy')
assert_eq "$out" legacy "ssh output (legacy SSO)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (legacy SSO)"
grep -q "SSO GetRoleCredentials account 123456789012 role Legacy" "$EMU_LOG" ||
	fail "no GetRoleCredentials for the legacy profile"

# No token: exit 2 and what to run. Expired (legacy, no refresh): same.
write_ssh_config --profile nologin
set +e
ssh_dev kiosk-17 true 2>/dev/null
set -e
assert_eq "$(last_proxy_rc)" 2 "proxy exit status (no token)"
assert_contains "$(last_proxy_err)" "no SSO token: run: aws sso login --sso-session other"
rm -f "$HOME"/.aws/cli/cache/*.json
(umask 077; cat > "$HOME/.aws/sso/cache/$(sha1 "$START#legacy").json" <<JSON
{"startUrl": "$START#legacy", "region": "us-east-1",
 "accessToken": "$(sso_secret access)", "expiresAt": "2020-01-01T00:00:00Z"}
JSON
)
write_ssh_config --profile legacy
set +e
ssh_dev kiosk-17 true 2>/dev/null
set -e
assert_eq "$(last_proxy_rc)" 2 "proxy exit status (expired token)"
assert_contains "$(last_proxy_err)" "the SSO token has expired: run: aws sso login --profile legacy"
assert_no_secrets "$T"/proxy.*.err "$EMU_LOG"
echo "ok"
