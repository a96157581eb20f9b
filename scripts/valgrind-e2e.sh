#!/bin/sh
# valgrind-e2e.sh [TEST...]: runs end-to-end tests (tests/e2e/TEST.sh;
# the proxy and agent tests without one) with iot-ssh-proxy and
# iot-tunnel-agent under valgrind memcheck, and fails on any invalid
# access or leak (definite or indirect) either reports. Build first:
#   cmake -S . -B build && cmake --build build
# The programs run from a folder of wrappers (IST_BIN) that exec
# valgrind with the real binary, so the tests need no change; the
# emulator runs as it is. VALGRIND_BUILD picks the build (default build).
# Slow: valgrind makes the programs 20-50 times slower.
# Tests that look at a program's /proc entry (proxy_token_env: environ,
# agent_notify_huge: peak RSS) see valgrind's, not the program's: not for
# this script. Tests that only measure along the way (proxy_faults' RSS
# with a stalled reader) skip that part when IST_VALGRIND=1, which this
# script sets.
set -eu
cd "$(dirname "$0")/.."
src=$(pwd)
build=${VALGRIND_BUILD:-build}
[ -x "$build/bin/iot-ssh-proxy" ] || {
	echo "valgrind-e2e: build first ($build/bin/iot-ssh-proxy)" >&2
	exit 1
}
command -v valgrind > /dev/null || {
	echo "valgrind-e2e: valgrind is not installed (apt-get install valgrind)" >&2
	exit 1
}
# By default every proxy_* and agent_* test but the two above (about
# 13 minutes on 2 cores).
if [ $# -eq 0 ]; then
	for f in tests/e2e/proxy_*.sh tests/e2e/agent_*.sh; do
		t=$(basename "$f" .sh)
		case $t in
		proxy_token_env|agent_notify_huge) ;;
		*) set -- "$@" "$t" ;;
		esac
	done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ist-valgrind.XXXXXX")
mkdir "$work/bin" "$work/logs"
for p in "$src/$build"/bin/*; do
	name=$(basename "$p")
	case $name in
	iot-ssh-proxy|iot-tunnel-agent)
		cat > "$work/bin/$name" <<WRAP
#!/bin/sh
exec valgrind --quiet --error-exitcode=99 --leak-check=full \\
	--show-leak-kinds=definite,indirect \\
	--errors-for-leak-kinds=definite,indirect --track-fds=no \\
	--log-file="$work/logs/$name.%p.log" "$src/$build/bin/$name" "\$@"
WRAP
		chmod +x "$work/bin/$name" ;;
	*)
		ln -s "$p" "$work/bin/$name" ;;
	esac
done

failed=""
for t in "$@"; do
	echo "valgrind-e2e: $t"
	if ! IST_BIN="$work/bin" IST_SRC="$src" IST_VALGRIND=1 \
	    IST_TESTDATA="$src/tests/data" \
	    bash "$src/tests/e2e/$t.sh" > "$work/$t.out" 2>&1; then
		failed="$failed $t"
		tail -20 "$work/$t.out"
	fi
done
runs=$(ls "$work/logs" | wc -l)
bad=$(grep -l . "$work/logs"/* 2>/dev/null || true)
echo "valgrind-e2e: $runs program runs under memcheck"
if [ -n "$bad" ]; then
	for f in $bad; do
		echo "---- $f"
		head -60 "$f"
	done
fi
if [ -n "$failed" ] || [ -n "$bad" ]; then
	echo "valgrind-e2e: FAILED:${failed:+ tests$failed}${bad:+ (memcheck reports above)}; kept $work" >&2
	exit 1
fi
echo "valgrind-e2e: no invalid access, no leak"
rm -rf "$work"
