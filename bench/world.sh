# bench/world.sh: sourced (bash) by bench/run.sh and bench/rss.sh after
# they set BENCH_NAME: installs what is missing, builds the Release build
# in build-bench/ and starts the tunnel world of the end-to-end tests
# (tests/e2e/lib.sh, lib-ssh.sh: sshd, mosquitto, the emulator, the
# agent). Top level, not a function: lib.sh's state must stay global.
./scripts/install-deps.sh
echo "$BENCH_NAME: building (Release) in build-bench/" >&2
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
	> /dev/null
cmake --build build-bench -j2 > /dev/null
IST_SRC=$PWD
IST_BIN=$PWD/build-bench/bin
export IST_SRC IST_BIN
. tests/e2e/lib.sh
. tests/e2e/lib-ssh.sh
echo "$BENCH_NAME: starting sshd, mosquitto, the emulator and the agent" >&2
start_tunnel_world
