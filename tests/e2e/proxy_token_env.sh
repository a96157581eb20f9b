#!/bin/bash
# Bug "AWSIOT_TUNNEL_ACCESS_TOKEN inherited": the token stayed in the
# environment after it was read, so every hook child and credential_process
# got it. Now it is read first and unset: a hook's os.execute and io.popen
# children and a credential_process script record their environment, and
# the token is in neither; the one-shot agent's environment as /proc shows
# it (the block it started with) no longer holds the token's value.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

make_ca
start_sshd
start_emulator
(umask 077
 aws_emu iotsecuretunneling open-tunnel --destination-config \
	'{"thingName":"kiosk-env","services":["SSH"]}' > "$T/open.json")
id=$(json_get "$T/open.json" tunnelId)
src=$(json_get "$T/open.json" sourceAccessToken)
dst=$(json_get "$T/open.json" destinationAccessToken)
rm -f "$T/open.json"

# The credentials come from a credential_process that writes down its
# environment (the proxy needs them for DescribeTunnel).
cat > "$T/cp.sh" <<CP
#!/bin/sh
env > "$T/cp.env"
printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s"}\n' \
	"$EMU_AKID" "\$(cat "$T/secret")"
CP
chmod 700 "$T/cp.sh"
printf '[profile cp]\nregion = us-east-1\ncredential_process = %s\n' \
	"$T/cp.sh" > "$AWS_CONFIG_FILE"
mkdir -m 700 "$T/hooks"
cat > "$T/hooks/hooks.lua" <<LUA
function on_resolve(t)
  os.execute("env > $T/hook-execute.env")
  local p = io.popen("env")
  local f = io.open("$T/hook-popen.env", "w")
  f:write(p:read("a"))
  f:close()
  p:close()
end
LUA

# The one-shot agent joins with its token in the environment.
AGENT_LOG=$T/agent.log
AWSIOT_TUNNEL_ACCESS_TOKEN=$dst bg "$IST_BIN/iot-tunnel-agent" \
	--service "SSH=127.0.0.1:$SSHD_PORT" --ca-file "$IST_CA" \
	--proxy-endpoint "127.0.0.1:$EMU_PORT" -v 2> "$AGENT_LOG"
agent=$BG_PID
wait_for "$AGENT_LOG" "connected as destination"
tr '\0' '\n' < "/proc/$agent/environ" > "$T/agent.env"
assert_not_contains "$(cat "$T/agent.env")" "$dst" "agent environment"

rc=0
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_PROFILE=cp \
	AWSIOT_TUNNEL_ACCESS_TOKEN="$src" "$IST_BIN/iot-ssh-proxy" \
	--hooks "$T/hooks/hooks.lua" --ca-file "$IST_CA" \
	--api-endpoint "$EMU_URL" --proxy-endpoint "127.0.0.1:$EMU_PORT" \
	--tunnel-id "$id" -vv kiosk-env < /dev/null > "$T/out" \
	2> "$T/err" || rc=$?
assert_eq "$rc" 0 "proxy exit status: $(cat "$T/err")"
for f in cp hook-execute hook-popen; do
	[ -s "$T/$f.env" ] || fail "$f did not run: $(cat "$T/err")"
	assert_not_contains "$(cat "$T/$f.env")" "AWSIOT_TUNNEL_ACCESS_TOKEN" \
		"environment of $f"
	assert_not_contains "$(cat "$T/$f.env")" "$src" "environment of $f"
done
# The children did see the rest of the environment.
assert_contains "$(cat "$T/cp.env")" "AWS_PROFILE=cp" "credential_process env"
kill "$agent" 2>/dev/null || true
echo "ok"
