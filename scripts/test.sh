#!/bin/sh
# The README's test command: installs what is missing, builds, and runs every
# test: the fuzzers briefly, the unit and end-to-end tests with the library
# and the three programs under ASan+UBSan, then the whole suite (unit and
# end-to-end, real servers started by the tests themselves),
# then builds, installs, checks and purges the Debian packages.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
# Every fuzz_* target for this long (about 10 of them: under 2 minutes).
FUZZ_SECONDS=${FUZZ_SECONDS:-10}

echo "== fuzz (${FUZZ_SECONDS}s per target)"
CC=clang cmake -S . -B build-fuzz -DIST_FUZZ=ON -DIST_PROGRAMS=OFF \
	-DBUILD_TESTING=OFF >/dev/null
cmake --build build-fuzz -j"$jobs"
./scripts/fuzz.sh "$FUZZ_SECONDS" build-fuzz

echo "== unit and end-to-end tests under AddressSanitizer and UBSan"
# The programs too: the e2e tests then run iot-ssh-proxy, iot-tunnel-agent
# and iot-tunnel-emulator built with the sanitizers against hostile peers.
cmake -S . -B build-asan -DIST_SANITIZE=ON -DIST_PROGRAMS=ON \
	-DIST_WERROR=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"
ctest --test-dir build-asan -L unit --output-on-failure -j"$jobs"
ctest --test-dir build-asan -L e2e --output-on-failure -j"$jobs"

echo "== all tests"
cmake -S . -B build -DIST_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

# The Debian packages (about 30 s here): built, lintian without errors,
# installed, checked and purged again (as root only: it changes the
# system; IST_DEBS=0 skips this stage).
if [ "${IST_DEBS:-1}" != 0 ]; then
	echo "== Debian packages"
	./scripts/build-debs.sh
fi
