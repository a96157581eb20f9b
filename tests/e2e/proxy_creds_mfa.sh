#!/bin/bash
# AssumeRole with mfa_serial (issue 11): the code is asked on the
# terminal (/dev/tty, a real pseudo-terminal here), never on ssh's
# stdin/stdout, with echo off; once per session lifetime (the cache); no
# terminal is a clear error; a wrong code is STS's AccessDenied. The code
# is in no log, and not echoed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"
. "$(dirname "$0")/lib-creds.sh"

(umask 077; "$IST_PY" -c 'import secrets; print("%06d" % (100000 + secrets.randbelow(900000)))' \
	> "$T/mfa-code")
IST_EMU_MFA_CODE=$(cat "$T/mfa-code")
export IST_EMU_MFA_CODE
creds_world
unset IST_EMU_MFA_CODE
SECRETS_EXTRA=$(cat "$T/mfa-code")
export SECRETS_EXTRA
cat > "$AWS_CONFIG_FILE" <<CONF
[profile mfa]
role_arn = $ROLE_ARN/mfa-admin
source_profile = base
mfa_serial = arn:aws:iam::123456789012:mfa/alice
CONF
chmod 600 "$AWS_CONFIG_FILE"
write_ssh_config --profile mfa -vvvv

# On a terminal: the prompt, the code, the session. (Each case removes
# the last proxy's status first, and waits for its own.)
rm -f "$T/proxy.last.rc" "$T/proxy.last.err"
out=$("$IST_PY" "$IST_TESTDATA/aws/ptyrun.py" "Enter MFA code for" \
	"$T/mfa-code" "$SSH" -F "$T/ssh_config" kiosk-17 'echo with-mfa')
assert_contains "$out" "Enter MFA code for arn:aws:iam::123456789012:mfa/alice: "
assert_contains "$out" "with-mfa"
assert_not_contains "$out" "$(cat "$T/mfa-code")" "the terminal (echo off)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (MFA)"
grep -q "STS AssumeRole $ROLE_ARN/mfa-admin .* with MFA" "$EMU_LOG" ||
	fail "the emulator saw no AssumeRole with MFA"

# No terminal now, but the cache: no prompt, no STS call.
n=$(sts_calls)
rm -f "$T/proxy.last.rc" "$T/proxy.last.err"
out=$(setsid -w "$SSH" -F "$T/ssh_config" kiosk-17 'echo no-tty' < /dev/null)
assert_eq "$out" no-tty "ssh output (cached, no terminal)"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status (cached, no terminal)"
assert_eq "$(sts_calls)" "$n" "STS calls (cached)"

# No terminal and no cache: a clear error, exit 2.
rm -f "$HOME"/.aws/cli/cache/*.json
rm -f "$T/proxy.last.rc" "$T/proxy.last.err"
set +e
setsid -w "$SSH" -F "$T/ssh_config" kiosk-17 true < /dev/null 2>/dev/null
set -e
assert_eq "$(last_proxy_rc)" 2 "proxy exit status (no terminal)"
assert_contains "$(last_proxy_err)" \
	"mfa_serial ($AWS_CONFIG_FILE:4) needs an MFA code, and there is no terminal to ask for it"

# A wrong code: STS refuses it.
(umask 077; "$IST_PY" -c 'import sys; c = int(open(sys.argv[1]).read())
print("%06d" % ((c + 1) % 1000000))' "$T/mfa-code" > "$T/mfa-wrong")
rm -f "$T/proxy.last.rc" "$T/proxy.last.err"
set +e
"$IST_PY" "$IST_TESTDATA/aws/ptyrun.py" "Enter MFA code for" "$T/mfa-wrong" \
	"$SSH" -F "$T/ssh_config" kiosk-17 true > "$T/wrong.out"
set -e
assert_eq "$(last_proxy_rc)" 2 "proxy exit status (wrong code)"
assert_contains "$(last_proxy_err)" "AccessDenied: MultiFactorAuthentication failed"
assert_no_secrets "$T"/proxy.*.err "$EMU_LOG"
echo "ok"
