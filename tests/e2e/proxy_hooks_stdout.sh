#!/bin/bash
# The proxy's stdout is the SSH stream: hooks that print in every way
# (print, io.write, io.stdout, io.output(), a child of os.execute), in
# every hook, leave a real ssh session through iot-ssh-proxy intact, and
# all they print reaches the proxy's stderr.
#
# Every line printed looks like an SSH server's version line: had one
# reached stdout, ssh would take it for sshd's and fail on the next bytes
# (plain text lines before the version line ssh would merely skip).
# on_resolve, on_open_tunnel and on_tunnel_opened run before the stream's
# first byte, on_tunnel_closed after its last one (ssh has gone: there
# only the stderr check can see a leak); the proxy runs no hook in the
# middle of the stream.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

start_tunnel_world
mkdir -m 700 "$T/hooks"
hooks=$T/hooks/hooks.lua
cat > "$hooks" <<'LUA'
local isp = require "iot_ssh_proxy"
local function noise(where)
  print("SSH-2.0-print " .. where)
  io.write("SSH-2.0-write " .. where .. "\n")
  io.stdout:write("SSH-2.0-stdout " .. where .. "\n"); io.stdout:flush()
  io.output():write("SSH-2.0-output " .. where .. "\n"); io.output():flush()
  os.execute("echo SSH-2.0-child " .. where)
end
function on_resolve(t)
  noise("resolve")
  t.thing = t.host:match("^(.-)%.noisy$") or t.thing
end
function on_open_tunnel(r, t)
  noise("open")
  isp.tag_with_user(r)
end
function on_tunnel_opened(tn, t)
  for i = 1, 50 do noise("opened " .. i) end
  isp.log("info", "opened " .. tn.tunnelId)
end
function on_tunnel_closed(s, t)
  for i = 1, 50 do noise("closed " .. i) end
  isp.log("info", "closed " .. s.tunnelId .. ": " .. s.reason)
end
LUA
chmod 644 "$hooks"
sed "s|--no-hooks|--hooks $hooks -v|" "$T/ssh_config" > "$T/ssh_config.hooks"
cp "$T/ssh_config.hooks" "$T/ssh_config"

sum_want=$(head -c 300000 /dev/zero | sha256sum)
out=$(ssh_dev kiosk-17.noisy \
	'echo hello; head -c 300000 /dev/zero | sha256sum' 2> "$T/ssh.err") ||
	fail "ssh through noisy hooks failed: $(cat "$T/ssh.err")" \
		"$(last_proxy_err)"
assert_eq "$out" "hello
$sum_want" "ssh output"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"
assert_not_contains "$(cat "$T/ssh.err")" "SSH-2.0-" "ssh's stderr"
for w in resolve open "opened 1" "opened 50" "closed 1" "closed 50"; do
	for k in print write stdout output child; do
		grep -qx "SSH-2.0-$k $w" "$T/proxy.last.err" ||
			fail "'SSH-2.0-$k $w' not on the proxy's stderr"
	done
done
# isp.log goes through the proxy's log (-v shows info), with the id of
# the tunnel it opened for the thing on_resolve chose.
id=$(tunnels_for kiosk-17 | sed -n 1p)
[ -n "$id" ] || fail "no tunnel for the mapped thing"
assert_contains "$(last_proxy_err)" "iot-ssh-proxy: hooks: opened $id" \
	"isp.log in on_tunnel_opened"
# Which end goes first is a race: ssh closing stdin, or sshd's close
# reaching the proxy through the device. Both are a normal end.
grep -Eqx "iot-ssh-proxy: hooks: closed $id: (ssh|device) closed" \
	"$T/proxy.last.err" ||
	fail "isp.log in on_tunnel_closed: no 'hooks: closed $id:" \
		"ssh|device closed' in: $(grep 'hooks:' "$T/proxy.last.err")"
wait_tunnel_status "$id" CLOSED
echo "ok"
