#!/bin/sh
# fuzz.sh SECONDS [BUILD_DIR]: runs every libFuzzer target built (every
# BUILD_DIR/bin/fuzz_*) for SECONDS each, from its seeds in fuzz/seeds/NAME
# and its growing corpus in fuzz/corpus-NAME, and prints executions and
# coverage (libFuzzer's final cov: and ft:) per target.
# Build first: CC=clang cmake -S . -B build-fuzz -DIST_FUZZ=ON
#   -DIST_PROGRAMS=OFF -DBUILD_TESTING=OFF && cmake --build build-fuzz
set -eu
cd "$(dirname "$0")/.."
secs=${1:?usage: fuzz.sh SECONDS [BUILD_DIR]}
dir=${2:-build-fuzz}
found=0
for t in "$dir"/bin/fuzz_*; do
	[ -x "$t" ] || continue
	found=1
	name=$(basename "$t")
	corpus=fuzz/corpus-$name
	mkdir -p "$corpus"
	seeds=""
	[ -d "fuzz/seeds/$name" ] && seeds="fuzz/seeds/$name"
	echo "fuzz: $name for ${secs}s"
	# shellcheck disable=SC2086
	"$t" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$dir/$name-" "$corpus" $seeds \
		2>"$dir/$name.log" || { tail -50 "$dir/$name.log"; exit 1; }
	grep -E "stat::number_of_executed_units|DONE|^Done" "$dir/$name.log" ||
		true
done
[ "$found" = 1 ] || echo "fuzz: no fuzz targets built yet"
