#!/bin/bash
# ssh through profiles that assume a role (issue 11): role_arn with
# source_profile (and a chain of them), credential_source Environment;
# the credentials cached in ~/.aws/cli/cache (0600, used until 5 minutes
# before expiry, then refreshed); a loop refused; a named profile that
# cannot be resolved fails with its file:line and never reaches instance
# metadata (fakeaws.py plays IMDSv2 and records that nobody asked it);
# at -vvvv no secret in stderr or --log-file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"
. "$(dirname "$0")/lib-creds.sh"

creds_world
start_fake_imds
cat > "$AWS_CONFIG_FILE" <<CONF
[default]
region = us-east-1

[profile assume]
role_arn = $ROLE_ARN/fleet
source_profile = base
role_session_name = alice

[profile chain]
role_arn = $ROLE_ARN/second
source_profile = assume

[profile loop1]
role_arn = $ROLE_ARN/one
source_profile = loop2

[profile loop2]
role_arn = $ROLE_ARN/two
source_profile = loop1

[profile envsrc]
role_arn = $ROLE_ARN/from-env
credential_source = Environment

[profile empty]
region = us-east-1

[profile badsrc]
role_arn = $ROLE_ARN/x
source_profile = empty
CONF
chmod 600 "$AWS_CONFIG_FILE"

# role_arn + source_profile: one AssumeRole, then the cache.
write_ssh_config --profile assume -v
out=$(ssh_dev kiosk-17 'echo assumed')
assert_eq "$out" assumed "ssh output (assume)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (assume)"
assert_contains "$(last_proxy_err)" "AWS credentials from assumed role (profile assume)"
assert_eq "$(sts_calls)" 1 "STS calls after the first ssh"
grep -q "STS AssumeRole $ROLE_ARN/fleet (session alice)" "$EMU_LOG" ||
	fail "the emulator did not see AssumeRole for alice"
f=$(cli_cache_files)
[ "$(echo "$f" | wc -l)" = 1 ] || fail "cache files: $f"
entry=$HOME/.aws/cli/cache/$f
assert_eq "$(stat -c %a "$entry")" 600 "cache file mode"
assert_eq "$(stat -c %a "$HOME/.aws/cli/cache")" 700 "cache folder mode"
assert_eq "$(json_get "$entry" AssumedRoleUser.Arn)" \
	"arn:aws:sts::123456789012:assumed-role/fleet/alice" "cached role user"

out=$(ssh_dev kiosk-17 'echo again')
assert_eq "$out" again "ssh output (cached)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (cached)"
assert_contains "$(last_proxy_err)" "(profile assume, cached)"
assert_eq "$(sts_calls)" 1 "STS calls after the second ssh (cache)"

# An entry within 5 minutes of expiry is refreshed, and rewritten.
old=$(json_get "$entry" Credentials.AccessKeyId)
"$IST_PY" - "$entry" <<'PY'
import datetime, json, sys
p = sys.argv[1]
d = json.load(open(p))
t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=120)
d["Credentials"]["Expiration"] = t.strftime("%Y-%m-%dT%H:%M:%SUTC")
json.dump(d, open(p, "w"))
PY
out=$(ssh_dev kiosk-17 'echo refreshed')
assert_eq "$out" refreshed "ssh output (refresh)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (refresh)"
assert_eq "$(sts_calls)" 2 "STS calls after the refresh"
new=$(json_get "$entry" Credentials.AccessKeyId)
[ "$new" != "$old" ] || fail "the cache entry was not rewritten"
assert_eq "$(stat -c %a "$entry")" 600 "cache file mode (rewritten)"

# A chain: assume's cached credentials assume the second role.
write_ssh_config --profile chain -v
out=$(ssh_dev kiosk-17 'echo chained')
assert_eq "$out" chained "ssh output (chain)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (chain)"
assert_eq "$(sts_calls)" 3 "STS calls after the chain"
grep -q "STS AssumeRole $ROLE_ARN/second " "$EMU_LOG" ||
	fail "no AssumeRole of the second role"

# credential_source = Environment: the environment's keys are the source.
write_ssh_config --profile envsrc -v
out=$(ssh_dev kiosk-17 'echo from-env')
assert_eq "$out" from-env "ssh output (credential_source)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (credential_source)"
grep -q "STS AssumeRole $ROLE_ARN/from-env " "$EMU_LOG" ||
	fail "no AssumeRole of the credential_source role"

# (Each case waits for its proxy's status before the next starts: a late
# wrapper would otherwise overwrite the next one's proxy.last.* links.)
# A loop is refused with the file and line, exit 2, no STS call.
n=$(sts_calls)
write_ssh_config --profile loop1
set +e
ssh_dev kiosk-17 true 2>/dev/null
set -e
assert_eq "$(last_proxy_rc)" 2 "proxy exit status (loop)"
assert_contains "$(last_proxy_err)" \
	"$AWS_CONFIG_FILE:19: source_profile = loop1 makes a loop (loop1 -> loop2 -> loop1)"
assert_eq "$(sts_calls)" "$n" "STS calls (loop)"

# Named profiles that cannot be resolved: exit 2, file:line, what to do,
# and instance metadata (up and serving a role) never asked.
for p in empty badsrc; do
	write_ssh_config --profile "$p"
	set +e
	ssh_dev kiosk-17 true 2>/dev/null
	set -e
	assert_eq "$(last_proxy_rc)" 2 "proxy exit status ($p)"
done
assert_contains "$(last_proxy_err)" \
	"$AWS_CONFIG_FILE:30: source_profile empty has no credentials"
set +e
AWS_PROFILE=empty env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
	"$IST_BIN/iot-ssh-proxy" $(proxy_env) kiosk-17 22 < /dev/null \
	> "$T/empty.out" 2> "$T/empty.err"
rc=$?
set -e
assert_eq "$rc" 2 "proxy exit status (AWS_PROFILE=empty)"
assert_contains "$(cat "$T/empty.err")" \
	"AWS profile empty ($AWS_CONFIG_FILE:25, from AWS_PROFILE) has no credentials"
assert_eq "$(cat "$IMDS_LOG")" "" "requests to instance metadata"
# (The same environment without a named profile does reach it: the
# fake IMDS is live, so the assertion above means something.)
set +e
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
	AWS_SHARED_CREDENTIALS_FILE=/nonexistent "$IST_BIN/iot-ssh-proxy" \
	$(proxy_env) -v kiosk-17 22 < /dev/null > /dev/null 2> "$T/imds.err"
set -e
assert_contains "$(cat "$T/imds.err")" "EC2 instance metadata (role test-role)"
[ -s "$IMDS_LOG" ] || fail "the fake IMDS was not reachable"

# At -vvvv, into --log-file too: no key, token or secret of this run.
rm -f "$HOME"/.aws/cli/cache/*.json
write_ssh_config --profile chain -vvvv --log-file "$T/proxy-vvvv.log"
out=$(ssh_dev kiosk-17 'echo verbose')
assert_eq "$out" verbose "ssh output (-vvvv)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (-vvvv)"
assert_contains "$(cat "$T/proxy-vvvv.log")" "assuming role $ROLE_ARN/second"
assert_no_secrets "$T/proxy-vvvv.log" "$T"/proxy.*.err "$EMU_LOG"
echo "ok"
