#!/bin/bash
# bench/rss.sh [MIB]: where the resident memory of iot-ssh-proxy and
# iot-tunnel-agent goes at their peak (bench/README.md, "Where the memory
# goes"). Not part of the test command.
#
# Uses the Release build of bench/run.sh (build-bench/), starts the same
# tunnel world (tests/e2e/lib.sh, lib-ssh.sh), moves MIB (256 by default)
# up and then down through ssh and iot-ssh-proxy, and prints, for each
# program and direction, bench/smaps.py's table of its peak sample (Rss
# by mapping: each library, [heap], anonymous).
# With MASSIF=1, the same once more with each program under valgrind
# --tool=massif, and the largest heap allocations at its peak (ms_print,
# top level: the function that called malloc).
# Everything it starts is stopped by PID on exit (lib.sh's trap).
set -eu
cd "$(dirname "$0")/.."
mib=${1:-256}

BENCH_NAME=rss
. bench/world.sh
head -c $((mib << 20)) /dev/urandom > "$T/bulk.bin"
mkdir -p "$T/rss"

# The sampler watches the ProxyCommand's own PID: it starts before the
# exec, so its first samples are of this shell, which is smaller.
cat > "$T/smaps-wrap.sh" <<WRAP
#!/bin/sh
trap '' HUP
out=\$1
shift
"$IST_PY" "$IST_SRC/bench/smaps.py" \$\$ 0.01 > "\$out.tmp" &&
	mv "\$out.tmp" "\$out" &
exec "\$@"
WRAP
chmod +x "$T/smaps-wrap.sh"
proxy="$IST_BIN/iot-ssh-proxy --user %r $(proxy_env)"
{
	cat <<CONF
Host smaps-*
	ProxyCommand $T/smaps-wrap.sh $T/rss/%n.md $proxy --thing kiosk-17 %h %p
Host massif-*
	ProxyCommand valgrind -q --tool=massif --massif-out-file=$T/rss/%n.massif $proxy --thing kiosk-17 %h %p
CONF
	cat "$T/ssh_config"
} > "$T/rss_config"

# wait_file FILE: until FILE exists (the proxy closes its tunnel after
# ssh has returned, and its sampler writes after that)
wait_file() {
	local i=0
	while [ ! -s "$1" ]; do
		i=$((i + 1))
		[ "$i" -lt 600 ] || fail "no $1"
		sleep 0.1
	done
}

# transfer HOST DIR: MIB through HOST, up or down
transfer() {
	if [ "$2" = up ]; then
		ssh -F "$T/rss_config" "$1" 'cat > /dev/null' < "$T/bulk.bin"
	else
		ssh -F "$T/rss_config" "$1" "cat $T/bulk.bin" > /dev/null
	fi
}

for dir in up down; do
	"$IST_PY" "$IST_SRC/bench/smaps.py" "$AGENT_PID" 0.01 \
		> "$T/rss/agent-$dir.md" &
	sampler=$!
	transfer "smaps-$dir" "$dir"
	wait_file "$T/rss/smaps-$dir.md"
	kill -INT "$sampler"
	wait "$sampler" || true
	echo "### iot-ssh-proxy, $mib MiB $dir"
	echo
	cat "$T/rss/smaps-$dir.md"
	echo
	echo "### iot-tunnel-agent, $mib MiB $dir"
	echo
	cat "$T/rss/agent-$dir.md"
	echo
done

[ "${MASSIF:-0}" = 1 ] || exit 0

# the largest heap allocations at the peak of a massif file
massif_top() {
	"$IST_PY" - "$1" <<'PY'
import re, subprocess, sys
out = subprocess.run(["ms_print", "--threshold=2", sys.argv[1]],
                     capture_output=True, text=True, check=True).stdout
lines = out.split("\n")
peak = None
for l in lines:
    m = re.search(r"Detailed snapshots: \[.*?(\d+) \(peak\)", l)
    if m:
        peak = int(m.group(1))
start = [i for i, l in enumerate(lines)
         if re.match(r"^\s+%d\s+[\d,]+\s+[\d,]+" % peak, l)][0]
w = lines[start].split()
print("peak: heap %s bytes (useful %s, malloc's overhead %s)" %
      (w[2], w[3], w[4]))
print()
print("| share | bytes | allocated by |")
print("| ---: | ---: | --- |")
for l in lines[start + 1:]:
    if re.match(r"^\s+\d+\s+[\d,]+\s+[\d,]+", l):
        break
    m = re.match(r"^->([\d.]+)% \(([\d,]+)B\) (?:0x[0-9A-F]+: )?(.*)$", l)
    if m:
        print("| %s %% | %s | %s |" % m.groups())
PY
}

mibs=$((mib < 64 ? mib : 64))
head -c $((mibs << 20)) "$T/bulk.bin" > "$T/massif.bin"
mv "$T/massif.bin" "$T/bulk.bin"
kill "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
bg valgrind -q --tool=massif --massif-out-file="$T/rss/agent.massif" \
	"$IST_BIN/iot-tunnel-agent" --thing kiosk-17 \
	--mqtt-endpoint "127.0.0.1:$MQTT_PORT" \
	--service "SSH=127.0.0.1:$SSHD_PORT" --ca-file "$IST_CA" \
	--proxy-endpoint "127.0.0.1:$EMU_PORT" -v 2> "$T/agent-massif.log"
vpid=$BG_PID
wait_for "$T/agent-massif.log" "waiting on" 120
for dir in up down; do
	transfer "massif-$dir" "$dir"
	wait_file "$T/rss/massif-$dir.massif"
	sleep 1
	echo "### iot-ssh-proxy under massif, $mibs MiB $dir"
	echo
	massif_top "$T/rss/massif-$dir.massif"
	echo
done
kill "$vpid"
wait "$vpid" 2>/dev/null || true
echo "### iot-tunnel-agent under massif, $mibs MiB up, then down"
echo
massif_top "$T/rss/agent.massif"
