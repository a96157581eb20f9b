#!/bin/bash
# bench/run.sh [--quick]: how fast ssh goes through iot-ssh-proxy, next to
# references measured in the same run (see bench/README.md).
#
# [LOCALPROXY=/path/to/localproxy] [PERF=1] bench/run.sh [--quick]
#
# Builds a release build in build-bench/, starts the tunnel world of the
# end-to-end tests on 127.0.0.1 (sshd, mosquitto, iot-tunnel-emulator,
# iot-tunnel-agent; tests/e2e/lib.sh and lib-ssh.sh) and measures these
# paths to the same sshd, round by round:
#   (a) ssh direct,
#   (b) ssh with ProxyCommand nc 127.0.0.1 PORT (the reference),
#   (c) ssh with ProxyCommand iot-ssh-proxy, through the emulator and the
#       agent,
#   (d) with LOCALPROXY set: AWS's reference localproxy pair through the
#       same emulator (source listening on a local port, ssh connecting to
#       it; destination forwarding to sshd), on one tunnel opened before
#       the rounds (bench/README.md says how to build localproxy).
# Prints Markdown tables: the figures with the ratios (c)/(b), (c)/(a) and
# (c)/(d); CPU seconds per GiB and peak RSS of every process on the path;
# issue 9's targets next to this run's figures (figures, not asserts); a
# timeline of one session setup through (c) (-v); the protocol core's
# instructions per byte (bench/core.c under callgrind).
# 5 rounds of 64 MiB and one of 1 GiB; --quick: 3 rounds of 64 MiB and
# one of 256 MiB. PERF=1 adds one more transfer each way through (c) and
# (d) under perf record, and the top symbols of each process.
# Everything it starts is stopped by PID on exit (lib.sh's trap).
set -eu
cd "$(dirname "$0")/.."

rounds=5
big=1024
case "${1:-}" in
--quick) rounds=3; big=256 ;;
"") ;;
*) echo "usage: [LOCALPROXY=PATH] [PERF=1] bench/run.sh [--quick]" >&2
   exit 1 ;;
esac
LOCALPROXY=${LOCALPROXY:-}
if [ -n "$LOCALPROXY" ] && [ ! -x "$LOCALPROXY" ]; then
	echo "bench: LOCALPROXY=$LOCALPROXY is not an executable; build it" \
		"as bench/README.md says (Reference localproxy)" >&2
	exit 1
fi

BENCH_NAME=bench
. bench/world.sh

# ms since the epoch
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# start_localproxy MODE LOG ARGS...: a localproxy with the token of MODE
# (src or dest) from $T/lp.MODE.tok in its environment, never on its
# command line; its PID in $BG_PID.
start_localproxy() {
	local mode=$1 log=$2
	shift 2
	AWSIOT_TUNNEL_ACCESS_TOKEN=$(cat "$T/lp.$mode.tok")
	export AWSIOT_TUNNEL_ACCESS_TOKEN
	bg "$LOCALPROXY" -e "127.0.0.1:$EMU_PORT" -c "$IST_CA_DIR" "$@" \
		> "$log" 2>&1
	unset AWSIOT_TUNNEL_ACCESS_TOKEN
}

# (d): one tunnel for the whole run (a source localproxy serves one TCP
# connection after another on its port), the destination first, so that
# the source finds it there.
lp_args=()
if [ -n "$LOCALPROXY" ]; then
	echo "bench: starting the localproxy pair ($("$LOCALPROXY" -V |
		sed -n 1p))" >&2
	(umask 077
	 aws_emu iotsecuretunneling open-tunnel --destination-config \
		thingName=lp-bench,services=SSH > "$T/lp-open.json"
	 json_get "$T/lp-open.json" destinationAccessToken > "$T/lp.dest.tok"
	 json_get "$T/lp-open.json" sourceAccessToken > "$T/lp.src.tok")
	rm -f "$T/lp-open.json"
	LP_PORT=$(free_port)
	lp_t0=$(now_ms)
	start_localproxy dest "$T/lp-dst.log" -d "SSH=127.0.0.1:$SSHD_PORT"
	LP_DST_PID=$BG_PID
	wait_for "$T/lp-dst.log" "Successfully established websocket"
	start_localproxy src "$T/lp-src.log" -b 127.0.0.1 -s "SSH=$LP_PORT"
	LP_SRC_PID=$BG_PID
	wait_for "$T/lp-src.log" "Listening for new connection on port $LP_PORT"
	lp_t1=$(now_ms)
	lp_args=(--lp-src-pid "$LP_SRC_PID" --lp-dst-pid "$LP_DST_PID"
		--lp-setup-ms $((lp_t1 - lp_t0)))
fi

# Three hosts for the same sshd, each with the options of lib-ssh.sh's
# config ("Host *", which must come last: the first value found wins).
# (b) and (c) run under bench/ru-wrap.sh alike, for their resource use.
BENCH_RU=$T/ru
mkdir -p "$BENCH_RU"
export BENCH_RU
wrap=$IST_SRC/bench/ru-wrap.sh
proxy="$IST_BIN/iot-ssh-proxy --user %r $(proxy_env)"
{
	cat <<CONF
Host direct
	HostName 127.0.0.1
	Port $SSHD_PORT
	ProxyCommand none
Host nc
	HostName 127.0.0.1
	Port $SSHD_PORT
	ProxyCommand $wrap nc 127.0.0.1 $SSHD_PORT
Host kiosk-17
	ProxyCommand $wrap $proxy -v %h %p 2>> $T/proxy-v.log
Host kiosk-17-v
	ProxyCommand $proxy -vv --thing kiosk-17 %h %p
CONF
	if [ -n "$LOCALPROXY" ]; then
		cat <<CONF
Host lp
	HostName 127.0.0.1
	Port $LP_PORT
	ProxyCommand none
CONF
	fi
	cat "$T/ssh_config"
} > "$T/bench_ssh_config"

head -c $((64 << 20)) /dev/urandom > "$T/bulk.bin"
# One more round of a larger transfer: 1 GiB (256 MiB with --quick)
# for (b), (c) and (d): peak RSS at that size, and CPU per GiB with less
# of the 10 ms tick in it.
head -c $((big << 20)) /dev/urandom > "$T/big.bin"
big_args=(--big-file "$T/big.bin")
if [ "${PERF:-0}" = 1 ]; then
	head -c $((256 << 20)) "$T/big.bin" > "$T/perf.bin"
	big_args+=(--perf-file "$T/perf.bin")
fi

"$IST_PY" "$IST_SRC/bench/sshbench.py" --config "$T/bench_ssh_config" \
	--rounds "$rounds" --samples 1000 --file "$T/bulk.bin" "${big_args[@]}" \
	--ru-dir "$BENCH_RU" "${lp_args[@]}" \
	--agent-pid "$AGENT_PID" --emu-pid "$EMU_PID" \
	--timeline kiosk-17-v --timeline-ref direct \
	--core "$IST_BIN/ist-bench-core" --proxy-log "$T/proxy-v.log"
