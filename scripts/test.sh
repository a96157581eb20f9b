#!/bin/sh
# The README's test command: installs what is missing, builds, and runs every
# test: the fuzzers briefly, the unit tests under ASan+UBSan, then the whole
# suite (unit and end-to-end, real servers started by the tests themselves),
# then builds, installs, checks and purges the Debian packages.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
FUZZ_SECONDS=${FUZZ_SECONDS:-15}

echo "== fuzz (${FUZZ_SECONDS}s per target)"
CC=clang cmake -S . -B build-fuzz -DIST_FUZZ=ON -DIST_PROGRAMS=OFF \
	-DBUILD_TESTING=OFF >/dev/null
cmake --build build-fuzz -j"$jobs"
./scripts/fuzz.sh "$FUZZ_SECONDS" build-fuzz

echo "== unit tests under AddressSanitizer and UBSan"
cmake -S . -B build-asan -DIST_SANITIZE=ON -DIST_PROGRAMS=OFF \
	-DIST_WERROR=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"
ctest --test-dir build-asan -L unit --output-on-failure -j"$jobs"

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
