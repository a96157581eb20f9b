#!/bin/bash
# hooks_ssh: a real ssh session to a real sshd through hookcat (a
# ProxyCommand that runs the hooks like iot-ssh-proxy, then relays to TCP).
# Shows that hooks printing in every way, also in the middle of the SSH
# stream, leave the session intact; that edits reach the request; that a
# denial and an unsafe hooks file stop the connection with the reason.
set -eu
: "${IST_HOOKCAT:?set by ctest}"
tmp=$(mktemp -d /tmp/ist_hooks_ssh.XXXXXX)
sshd_pid=
cleanup() {
	if [ -n "$sshd_pid" ]; then kill "$sshd_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ssh-keygen -q -t ed25519 -N '' -f "$tmp/hostkey"
ssh-keygen -q -t ed25519 -N '' -f "$tmp/userkey"
cp "$tmp/userkey.pub" "$tmp/authorized_keys"
cat > "$tmp/sshd_config" <<CFG
Port $port
ListenAddress 127.0.0.1
HostKey $tmp/hostkey
AuthorizedKeysFile $tmp/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
CFG
mkdir -p /run/sshd
/usr/sbin/sshd -D -f "$tmp/sshd_config" -E "$tmp/sshd.log" &
sshd_pid=$!
for _ in $(seq 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
	kill -0 "$sshd_pid" 2>/dev/null || fail "sshd died: $(cat "$tmp/sshd.log")"
	sleep 0.1
done

mkdir -m 700 "$tmp/hooks"
cat > "$tmp/ssh_config" <<CFG
Host kiosk-17 kiosk-18
  User root
  ProxyCommand $IST_HOOKCAT --hooks $tmp/hooks/hooks.lua %h %p %r $port
  IdentityFile $tmp/userkey
  IdentitiesOnly yes
  BatchMode yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
CFG

# 1. Hooks that print everywhere; on_tunnel_opened runs after the
#    server's first bytes went to ssh, in the middle of the stream.
cat > "$tmp/hooks/hooks.lua" <<'LUA'
local isp = require "iot_ssh_proxy"
local function noise(where)
  print("P-print " .. where)
  io.write("P-write " .. where .. "\n")
  io.stdout:write("P-stdout " .. where .. "\n"); io.stdout:flush()
  os.execute("echo P-child " .. where)
end
function on_resolve(t)
  noise("resolve")
  t.thing = "thing-" .. t.host
end
function on_open_tunnel(r, t)
  noise("open")
  isp.tag_with_user(r)
  isp.cap_lifetime(r, 30)
  r.description = "e2e " .. t.host
end
function on_tunnel_opened(tn, t)
  for i = 1, 50 do noise("opened " .. i) end
  isp.log("info", "opened " .. tn.tunnelId)
end
LUA
chmod 644 "$tmp/hooks/hooks.lua"

sum_want=$(head -c 300000 /dev/zero | sha256sum)
out=$(ssh -F "$tmp/ssh_config" kiosk-17 \
	'echo hello; head -c 300000 /dev/zero | sha256sum' 2>"$tmp/err1") ||
	fail "ssh through hooks failed: $(cat "$tmp/err1")"
[ "$out" = "hello
$sum_want" ] || fail "wrong output: $out"
for w in resolve open "opened 1" "opened 50"; do
	for k in P-print P-write P-stdout P-child; do
		grep -qx "$k $w" "$tmp/err1" || fail "'$k $w' not on stderr"
	done
done
grep -q 'hookcat: hooks: opened tid-e2e' "$tmp/err1" || fail "isp.log lost"
req=$(sed -n 's/^hookcat: request: //p' "$tmp/err1")
python3 - "$req" <<'PY' || fail "request not as the hooks made it: $req"
import json, sys
r = json.loads(sys.argv[1])
assert r["destinationConfig"] == {"thingName": "thing-kiosk-17",
                                  "services": ["SSH"]}, r
assert r["timeoutConfig"]["maxLifetimeTimeoutMinutes"] == 30, r
assert r["description"] == "e2e kiosk-17", r
tags = {t["key"]: t["value"] for t in r["tags"]}
assert tags["iot-ssh-proxy:user"] == "root", tags
assert "iot-ssh-proxy:host" in tags, tags
PY

# 2. A denial stops the connection before anything else, with the reason.
cat > "$tmp/hooks/hooks.lua" <<'LUA'
function on_resolve(t)
  if t.host == "kiosk-18" then
    return false, "kiosk-18 is in maintenance"
  end
end
LUA
if ssh -F "$tmp/ssh_config" kiosk-18 true 2>"$tmp/err2"; then
	fail "denied host connected"
fi
grep -q "hooks.lua:3: on_resolve denied the tunnel: kiosk-18 is in maintenance" \
	"$tmp/err2" || fail "no denial reason: $(cat "$tmp/err2")"
ssh -F "$tmp/ssh_config" kiosk-17 true 2>"$tmp/err3" ||
	fail "allowed host refused: $(cat "$tmp/err3")"

# 3. A hooks file others can write is refused.
chmod 666 "$tmp/hooks/hooks.lua"
if ssh -F "$tmp/ssh_config" kiosk-17 true 2>"$tmp/err4"; then
	fail "unsafe hooks file accepted"
fi
grep -q "refusing hooks file $tmp/hooks/hooks.lua" "$tmp/err4" ||
	fail "no unsafe reason: $(cat "$tmp/err4")"
echo "hooks_ssh: ok"
