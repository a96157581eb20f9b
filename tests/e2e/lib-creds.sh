# lib-creds.sh: AWS profiles for the proxy, end to end (bash). Source it
# after lib.sh and lib-ssh.sh:
#
#   creds_world                 start_tunnel_world (with --admin), a
#                               private HOME ($T/home), the emulator's keys
#                               as profile [base] in the shared
#                               credentials file, AWS_ENDPOINT_URL_STS,
#                               _SSO and _SSO_OIDC pointing at the emulator
#   sts_calls [ACTION]          how many STS calls the emulator served
#   sso_calls OPERATION         GetRoleCredentials / CreateToken served
#                               (not refused)
#   cli_cache_files             the files in ~/.aws/cli/cache
#   assert_no_secrets FILE...   no key, session token, SSO token, refresh
#                               token or MFA code of this run in FILEs
#   start_fake_imds             tests/data/aws/fakeaws.py as instance
#                               metadata: IMDS_LOG records every request
#   emu_admin_file PATH FILE    emu_admin with the body in FILE (secrets
#                               never on a command line)
# Profiles are written by the test into $AWS_CONFIG_FILE.

ROLE_ARN=arn:aws:iam::123456789012:role

creds_world() {
	start_tunnel_world --admin
	export HOME=$T/home
	mkdir -p "$HOME"
	chmod 700 "$HOME"
	(umask 077
	 printf '[base]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
		"$EMU_AKID" "$(cat "$T/secret")" > "$AWS_SHARED_CREDENTIALS_FILE")
	export AWS_ENDPOINT_URL_STS=$EMU_URL AWS_ENDPOINT_URL_SSO=$EMU_URL
	export AWS_ENDPOINT_URL_SSO_OIDC=$EMU_URL
}

sts_calls() {
	grep -c "STS ${1:-AssumeRole} " "$EMU_LOG" || true
}

sso_calls() {
	grep "SSO[-A-Z]* $1 " "$EMU_LOG" | grep -vc " refused" || true
}

cli_cache_files() {
	ls "$HOME/.aws/cli/cache" 2>/dev/null || true
}

# Every secret this run has seen: the emulator's key, what is cached in
# ~/.aws (temporary keys, session tokens, SSO tokens) and $SECRETS_EXTRA.
assert_no_secrets() {
	local f s
	for f in "$@"; do
		[ -f "$f" ] || continue
		"$IST_PY" - "$f" "$T/secret" "$HOME/.aws" \
			"${SECRETS_EXTRA:-}" <<'PY' || fail "a secret is in $f"
import glob, json, os, sys
path, secret_file, aws, extra = sys.argv[1:5]
text = open(path, errors="replace").read()
secrets = [open(secret_file).read().strip()]
secrets += [s for s in extra.split(":") if s]
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k in ("SecretAccessKey", "SessionToken", "accessToken",
                     "refreshToken", "clientSecret") and isinstance(x, str):
                secrets.append(x)
            walk(x)
for p in glob.glob(aws + "/**/*.json", recursive=True):
    try:
        walk(json.load(open(p)))
    except ValueError:
        pass
bad = [s[:6] for s in secrets if len(s) >= 6 and s in text]
if "FwoGZXIvYXdzE" in text:
    bad.append("an emulator session token")
if bad:
    print("secret(s) starting %s in %s" % (bad, path), file=sys.stderr)
    sys.exit(1)
PY
	done
}

start_fake_imds() {
	IMDS_LOG=$T/imds-requests.log
	: > "$IMDS_LOG"
	bg "$IST_PY" "$IST_TESTDATA/aws/fakeaws.py" "$T/imds.port" "$IMDS_LOG"
	local i=0
	while [ ! -s "$T/imds.port" ]; do
		i=$((i + 1))
		[ "$i" -lt 300 ] || fail "fakeaws.py did not start"
		sleep 0.1
	done
	export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$(cat "$T/imds.port")
	unset AWS_EC2_METADATA_DISABLED
	export IMDS_LOG
}

emu_admin_file() {
	"$IST_PY" - "$EMU_URL/admin/$1" "$2" "$IST_CA" <<'PY'
import ssl, sys, urllib.request
url, body, ca = sys.argv[1:4]
ctx = ssl.create_default_context(cafile=ca)
req = urllib.request.Request(url, data=open(body, "rb").read(),
    method="POST", headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, context=ctx, timeout=60) as r:
    r.read()
PY
}
