#!/bin/bash
# The assumed-role cache is the AWS CLI's, both ways (issue 11):
#  - an entry iot-ssh-proxy wrote is used by the real AWS CLI for the
#    same profile with no STS call (Debian's CLI 2.9 cannot be pointed at
#    a local STS: a cache miss would go to sts.amazonaws.com and fail);
#  - an entry botocore's own assume-role fetcher wrote (driven from
#    Python, with the emulator as its STS) is used by iot-ssh-proxy with
#    no STS call (counted by the emulator).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"
. "$(dirname "$0")/lib-creds.sh"

creds_world
cat > "$AWS_CONFIG_FILE" <<CONF
[profile ours]
role_arn = $ROLE_ARN/written-by-proxy
source_profile = base
region = us-east-1

[profile theirs]
role_arn = $ROLE_ARN/written-by-botocore
source_profile = base
role_session_name = boto
duration_seconds = 1800
region = us-east-1
CONF
chmod 600 "$AWS_CONFIG_FILE"

# iot-ssh-proxy writes, the AWS CLI reads.
write_ssh_config --profile ours -v
out=$(ssh_dev kiosk-17 'echo ours')
assert_eq "$out" ours "ssh output (ours)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (ours)"
assert_eq "$(sts_calls)" 1 "STS calls after the proxy"
# --profile makes the CLI ignore the environment's keys; without the
# cache it would need STS at its default endpoint, which is unreachable.
env -u AWS_ENDPOINT_URL_STS "$IST_AWS" --profile ours \
	--endpoint-url "$EMU_URL" --ca-bundle "$IST_CA" --cli-connect-timeout 3 \
	--output json iotsecuretunneling list-tunnels --thing-name kiosk-17 \
	> "$T/cli-list.json" 2> "$T/cli.err" ||
	fail "the AWS CLI did not use the proxy's cache entry: $(cat "$T/cli.err")"
[ -n "$(json_get "$T/cli-list.json" tunnelSummaries.0.tunnelId)" ] ||
	fail "the AWS CLI listed no tunnel"
assert_eq "$(sts_calls)" 1 "STS calls after the AWS CLI"
# And the request was signed with the cached temporary key.
tail -n 5 "$EMU_LOG" | grep -q "API request refused" &&
	fail "the emulator refused the AWS CLI's request"

# botocore writes (its AssumeRoleCredentialFetcher and JSONFileCache,
# the CLI's cache folder), iot-ssh-proxy reads.
"$IST_PY" - "$EMU_URL" "$IST_CA" "$HOME/.aws/cli/cache" "$T/secret" \
	"$ROLE_ARN/written-by-botocore" <<'PY' || fail "botocore's assume-role failed"
import os, sys
import botocore.session
from botocore.credentials import (AssumeRoleCredentialFetcher, Credentials,
                                  JSONFileCache)
url, ca, cache, secret_file, arn = sys.argv[1:6]
session = botocore.session.Session()
def client_creator(service, **kw):
    return session.create_client(service, region_name="us-east-1",
                                 endpoint_url=url, verify=ca, **kw)
src = Credentials(os.environ["EMU_AKID"], open(secret_file).read().strip())
f = AssumeRoleCredentialFetcher(
    client_creator, src, arn,
    extra_args={"RoleSessionName": "boto", "DurationSeconds": 1800},
    cache=JSONFileCache(cache))
f.fetch_credentials()
PY
assert_eq "$(sts_calls)" 2 "STS calls after botocore"
write_ssh_config --profile theirs -v
out=$(ssh_dev kiosk-17 'echo theirs')
assert_eq "$out" theirs "ssh output (theirs)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (theirs)"
assert_contains "$(last_proxy_err)" "(profile theirs, cached)"
assert_eq "$(sts_calls)" 2 "STS calls after the proxy read botocore's entry"
assert_no_secrets "$T"/proxy.*.err "$T/cli.err" "$EMU_LOG"
echo "ok"
