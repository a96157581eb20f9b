#!/bin/sh
# Installs the Debian 12 packages this project builds, tests and demos with.
# Idempotent: apt-get runs only when something is missing.
#   install-deps.sh          build, test and demo
#   install-deps.sh --deb    also what scripts/build-debs.sh needs
set -eu

PKGS="cmake make gcc pkg-config clang libclang-rt-14-dev
libwebsockets-dev libssl-dev libcjson-dev liblua5.4-dev
libprotobuf-c-dev protobuf-c-compiler libmosquitto-dev libcmocka-dev
openssh-server openssh-client mosquitto mosquitto-clients awscli openssl
python3 python3-botocore procps netcat-openbsd time valgrind man-db"
if [ "${1:-}" = --deb ]; then
	PKGS="$PKGS debhelper dpkg-dev fakeroot lintian"
fi

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing" >&2
	echo "install-deps: run as root, or: sudo apt-get install$missing" >&2
	exit 1
fi
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
