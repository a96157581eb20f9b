#!/bin/sh
# build-debs.sh [--no-install] [OUTDIR]: builds the Debian packages
# iot-ssh-proxy, iot-tunnel-agent and iot-tunnel-emulator with
# `dpkg-buildpackage -us -uc -b` in a copy of this tree (debian/ is the
# packaging), fails on any lintian error, and leaves the .deb files in
# OUTDIR (default build-deb/).
#
# Then, unless --no-install (and only as root: it changes the system), it
# installs them with `apt-get install ./*.deb`, checks
# `iot-ssh-proxy --version`, `man iot-ssh-proxy` (and the other pages), a
# hook that requires the installed Lua library,
# and the agent's unit, and purges them again.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)

install=1
if [ "${1:-}" = --no-install ]; then
	install=0
	shift
fi
out=${1:-$root/build-deb}
case $out in /*) ;; *) out=$root/$out ;; esac

./scripts/install-deps.sh --deb

ver=$(sed -n '1s/^iot-ssh-proxy (\([^)]*\)).*/\1/p' debian/changelog)
cmake_ver=$(sed -n 's/^project(iot-ssh-proxy VERSION \([0-9.]*\).*/\1/p' \
	CMakeLists.txt)
if [ "$ver" != "$cmake_ver" ]; then
	echo "build-debs: debian/changelog says $ver, CMakeLists.txt" \
		"$cmake_ver: add a changelog entry (dch -v $cmake_ver)" >&2
	exit 1
fi

w=$(mktemp -d "${TMPDIR:-/tmp}/ist-debs.XXXXXX")
pkgs="iot-ssh-proxy iot-tunnel-agent iot-tunnel-emulator"
installed=0
cleanup() {
	rc=$?
	if [ "$installed" = 1 ]; then
		apt-get purge -y -qq -o DPkg::Lock::Timeout=300 $pkgs \
			> /dev/null 2>&1 || rc=1
	fi
	rm -rf "$w"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# dpkg-buildpackage writes next to the source folder: build in a copy,
# without the build trees and git metadata.
src=$w/iot-ssh-proxy-$ver
mkdir "$src"
tar -C "$root" --exclude='./build*' --exclude=./.git \
	--exclude=__pycache__ --exclude='./fuzz/corpus-*' -cf - . |
	tar -C "$src" -xf -
echo "build-debs: dpkg-buildpackage in $src (log: $w/build.log)" >&2
if ! (cd "$src" && DEB_BUILD_OPTIONS="parallel=$(nproc)" \
    dpkg-buildpackage -us -uc -b > "$w/build.log" 2>&1); then
	tail -n 40 "$w/build.log" >&2
	echo "build-debs: dpkg-buildpackage failed" >&2
	exit 1
fi

# Errors fail the build; warnings and the rest are shown.
changes=$(ls "$w"/iot-ssh-proxy_"$ver"_*.changes)
lintian --fail-on error --display-info "$changes" > "$w/lintian.log" 2>&1 ||
	{ cat "$w/lintian.log" >&2; echo "build-debs: lintian errors" >&2
	  exit 1; }
cat "$w/lintian.log" >&2
echo "build-debs: lintian: no errors" >&2

mkdir -p "$out"
for p in $pkgs; do
	cp "$w/${p}_${ver}_"*.deb "$out/"
done
for d in "$out"/*_"$ver"_*.deb; do
	echo "build-debs: $d" >&2
	dpkg-deb -f "$d" Package Depends | sed 's/^/    /' >&2
done

[ "$install" = 1 ] || exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "build-debs: not root: not installing (--no-install)" >&2
	exit 0
fi
installed=1
(cd "$out" && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	-o DPkg::Lock::Timeout=300 $(for p in $pkgs; do
		printf './%s ' "$(basename "$(ls "$out/${p}_${ver}_"*.deb)")"
	done) > "$w/apt.log" 2>&1) ||
	{ cat "$w/apt.log" >&2; echo "build-debs: apt-get install failed" >&2
	  exit 1; }

fail() {
	echo "build-debs: FAIL: $*" >&2
	exit 1
}
got=$(iot-ssh-proxy --version)
[ "$got" = "iot-ssh-proxy $ver" ] || fail "iot-ssh-proxy --version: $got"
[ "$(command -v iot-ssh-proxy)" = /usr/bin/iot-ssh-proxy ] ||
	fail "iot-ssh-proxy is not /usr/bin/iot-ssh-proxy"
iot-tunnel-agent --version > /dev/null || fail "iot-tunnel-agent --version"
iot-tunnel-emulator --version > /dev/null ||
	fail "iot-tunnel-emulator --version"
MANPAGER=cat MANWIDTH=80 man iot-ssh-proxy 2> "$w/man.err" > "$w/man.txt" ||
	fail "man iot-ssh-proxy: $(cat "$w/man.err")"
grep -q "OpenSSH ProxyCommand through AWS IoT Secure Tunneling" \
	"$w/man.txt" || fail "man iot-ssh-proxy: not our page"
for m in "8 iot-tunnel-agent" "1 iot-tunnel-emulator" \
    "5 iot-ssh-proxy-hooks"; do
	# shellcheck disable=SC2086
	MANPAGER=cat man $m > /dev/null 2>&1 || fail "man $m"
done
[ -f /usr/share/iot-ssh-proxy/lua/iot_ssh_proxy.lua ] ||
	fail "no Lua library in /usr/share/iot-ssh-proxy/lua"
# The installed proxy's hooks get the installed library: a hook that
# requires it and denies with the file it got (nothing reaches AWS).
mkdir -m 700 "$w/hooks"
cat > "$w/hooks/hooks.lua" <<'LUA'
local isp = require "iot_ssh_proxy"
function on_resolve(t)
  return false, "lib " .. debug.getinfo(isp.glob, "S").source
end
LUA
rc=0
iot-ssh-proxy --hooks "$w/hooks/hooks.lua" --region us-east-1 kiosk-17 22 \
	< /dev/null > /dev/null 2> "$w/hook.err" || rc=$?
[ "$rc" = 3 ] && grep -qF \
	"denied the tunnel: lib @/usr/share/iot-ssh-proxy/lua/iot_ssh_proxy.lua" \
	"$w/hook.err" || fail "installed hooks library: rc $rc, $(cat "$w/hook.err")"
[ -f /usr/share/doc/iot-ssh-proxy/examples/hooks/require-ticket.lua ] ||
	fail "no examples in /usr/share/doc/iot-ssh-proxy"

# The unit: systemctl cat needs a running systemd (not so in a
# container); then read it as systemd would without one.
if systemctl cat iot-tunnel-agent > "$w/unit.txt" 2> "$w/unit.err"; then
	how="systemctl cat"
else
	echo "build-debs: systemctl cat: $(sed -n 1p "$w/unit.err");" \
		"checking the unit offline" >&2
	unit=/lib/systemd/system/iot-tunnel-agent.service
	[ -f "$unit" ] || fail "no $unit"
	cp "$unit" "$w/unit.txt"
	systemd-analyze verify "$unit" > "$w/verify.txt" 2>&1 ||
		fail "systemd-analyze verify: $(cat "$w/verify.txt")"
	how="systemd-analyze verify"
fi
grep -q '^ExecStart=/usr/bin/iot-tunnel-agent ' "$w/unit.txt" ||
	fail "unit: ExecStart is not /usr/bin/iot-tunnel-agent"
grep -q '^EnvironmentFile=/etc/default/iot-tunnel-agent$' "$w/unit.txt" ||
	fail "unit: EnvironmentFile is not /etc/default/iot-tunnel-agent"
dpkg-query -W -f='${Conffiles}' iot-tunnel-agent |
	grep -q ' /etc/default/iot-tunnel-agent ' ||
	fail "/etc/default/iot-tunnel-agent is not a conffile of the package"
st=$(systemctl --root=/ is-enabled iot-tunnel-agent 2>&1 || true)
[ "$st" = disabled ] || fail "unit after install: '$st', expected disabled"
echo "build-debs: installed and checked ($how; unit $st); purging" >&2
exit 0
