#!/bin/bash
# Installing works and the installed tree stands on its own, wherever it
# is: `cmake --install --prefix /usr` into a DESTDIR puts the three
# programs, the Lua library, the man pages, the systemd unit (ExecStart
# right for the prefix) and the examples in place; a --prefix given at
# install time wins over the configure-time one; --component splits them.
# Then the DESTDIR tree is moved to another folder and removed, and an
# ssh session runs end to end with the moved programs only (emulator,
# agent, proxy) and a hook that requires the bundled library: the hook
# reports which file it got, and it is the moved copy, not the build
# tree's. A library that is missing fails with the full path it looked
# for, and an iot_ssh_proxy.lua in the current folder is never taken.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

IST_BUILD=${IST_BUILD:-$(dirname "$IST_BIN")}
[ -f "$IST_BUILD/CMakeCache.txt" ] || fail "no build tree at $IST_BUILD"

# -- what is installed, and where
DESTDIR=$T/dest cmake --install "$IST_BUILD" --prefix /usr > "$T/install.log"
d=$T/dest/usr
for f in bin/iot-ssh-proxy bin/iot-tunnel-agent bin/iot-tunnel-emulator \
    share/iot-ssh-proxy/lua/iot_ssh_proxy.lua \
    share/man/man1/iot-ssh-proxy.1 share/man/man1/iot-tunnel-emulator.1 \
    share/man/man5/iot-ssh-proxy-hooks.5 share/man/man8/iot-tunnel-agent.8 \
    lib/systemd/system/iot-tunnel-agent.service \
    share/doc/iot-ssh-proxy/README.md share/doc/iot-ssh-proxy/protocol.md \
    share/doc/iot-ssh-proxy/examples/ssh_config \
    share/doc/iot-ssh-proxy/examples/hooks/require-ticket.lua; do
	[ -f "$d/$f" ] || fail "cmake --install did not install $f"
done
[ -x "$d/bin/iot-ssh-proxy" ] || fail "iot-ssh-proxy is not executable"
unit=$(cat "$d/lib/systemd/system/iot-tunnel-agent.service")
assert_contains "$unit" "ExecStart=/usr/bin/iot-tunnel-agent --syslog" \
	"installed unit"
assert_not_contains "$unit" "/usr/local/bin" "installed unit"
# Its settings file, where the unit reads it (here the default relative
# SYSCONFDIR: PREFIX/etc; the Debian package has /etc).
assert_contains "$unit" "EnvironmentFile=/usr/etc/default/iot-tunnel-agent" \
	"installed unit"
grep -q '^THING_NAME=$' "$d/etc/default/iot-tunnel-agent" ||
	fail "no settings template in $d/etc/default"
assert_eq "$(stat -c %a "$d/share/iot-ssh-proxy/lua/iot_ssh_proxy.lua")" \
	644 "mode of the Lua library"

# A user's prefix, given at install time only (the issue's
# "cannot create directory: /usr/local/share/..." case).
cmake --install "$IST_BUILD" --prefix "$T/home/.local" > "$T/install2.log"
[ -f "$T/home/.local/share/iot-ssh-proxy/lua/iot_ssh_proxy.lua" ] ||
	fail "--prefix at install time: no Lua library under it"
assert_contains \
	"$(cat "$T/home/.local/lib/systemd/system/iot-tunnel-agent.service")" \
	"ExecStart=$T/home/.local/bin/iot-tunnel-agent " "unit under --prefix"

# Components: the device gets the agent, its unit, the unit's settings
# file and its man page only.
DESTDIR=$T/dev cmake --install "$IST_BUILD" --prefix /usr \
	--component agent > "$T/install3.log"
got=$(cd "$T/dev" && find . -type f | LC_ALL=C sort | tr '\n' ' ')
assert_eq "$got" "./usr/bin/iot-tunnel-agent \
./usr/etc/default/iot-tunnel-agent \
./usr/lib/systemd/system/iot-tunnel-agent.service \
./usr/share/man/man8/iot-tunnel-agent.8 " "files of --component agent"
DESTDIR=$T/emu cmake --install "$IST_BUILD" --prefix /usr \
	--component emulator > "$T/install4.log"
got=$(cd "$T/emu" && find . -type f | LC_ALL=C sort | tr '\n' ' ')
assert_eq "$got" "./usr/bin/iot-tunnel-emulator \
./usr/share/man/man1/iot-tunnel-emulator.1 " "files of --component emulator"

# -- relocated: move the tree elsewhere, remove the original
mkdir "$T/moved"
cp -a "$T/dest/usr/." "$T/moved/opt"
rm -rf "$T/dest" "$T/home"
IST_BIN=$T/moved/opt/bin
export IST_BIN
lib=$T/moved/opt/share/iot-ssh-proxy/lua/iot_ssh_proxy.lua

start_tunnel_world
mkdir -m 700 "$T/hooks"
hooks=$T/hooks/hooks.lua
cat > "$hooks" <<'LUA'
local isp = require "iot_ssh_proxy"
function on_open_tunnel(request, target)
  isp.set_tag(request, "lib", debug.getinfo(isp.glob, "S").source)
  isp.tag_with_user(request)
end
LUA
chmod 600 "$hooks"
sed -i "s|--no-hooks|--hooks $hooks|" "$T/ssh_config"
grep -qF -- "--hooks $hooks" "$T/ssh_config" || fail "ssh_config not edited"

out=$(cd "$T" && ssh_dev kiosk-17 'echo installed-ok') ||
	fail "ssh through the installed programs: $(last_proxy_err)"
assert_eq "$out" installed-ok "ssh output"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"
id=$(tunnels_for kiosk-17 | sed -n 1p)
aws_emu iotsecuretunneling describe-tunnel --tunnel-id "$id" > "$T/d.json"
tags=$("$IST_PY" -c 'import json, sys
t = json.load(open(sys.argv[1]))["tunnel"]
print(" ".join("%s=%s" % (x["key"], x["value"]) for x in t["tags"]))' \
	"$T/d.json")
assert_contains "$tags" "lib=@$lib" "the library the hook got"
assert_contains "$tags" "iot-ssh-proxy:user=$(id -un)" "tag_with_user"
assert_not_contains "$tags" "$IST_BUILD" "the library the hook got"

# -- a missing library: the full place it looked, nothing from the cwd
rm "$lib"
mkdir -m 700 "$T/cwd"
printf 'error("the current folder was searched")\n' \
	> "$T/cwd/iot_ssh_proxy.lua"
rc=0
(cd "$T/cwd" && "$IST_BIN/iot-ssh-proxy" --hooks "$hooks" $(proxy_env | \
	sed 's/--no-hooks//') kiosk-17 22 < /dev/null > "$T/out" \
	2> "$T/err") || rc=$?
err=$(cat "$T/err")
assert_eq "$rc" 3 "exit status without the library"
assert_contains "$err" "module 'iot_ssh_proxy' not found: no file $lib" \
	"message"
assert_contains "$err" "(the library installed with $IST_BIN/iot-ssh-proxy;" \
	"message"
assert_contains "$err" "keep the program's bin/ and share/ folders together)" \
	"message (in full)"
assert_contains "$err" "hooks.lua:1:" "message names the line"
assert_not_contains "$err" "current folder" "message"
assert_eq "$(wc -c < "$T/out")" 0 "stdout"
echo "ok: install, relocation, the installed library"
