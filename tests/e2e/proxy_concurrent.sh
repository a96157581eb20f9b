#!/bin/bash
# Four ssh sessions at once, each through its own tunnel, all served by
# one agent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

start_tunnel_world
pids=()
for i in 1 2 3 4; do
	ssh_dev kiosk-17 "head -c 1000000 /dev/zero | tr '\\0' x; echo; echo session-$i" \
		> "$T/out.$i" 2> "$T/ssh.$i.err" &
	pids+=($!)
done
for i in 1 2 3 4; do
	wait "${pids[$((i - 1))]}" || fail "ssh session $i failed: $(cat "$T/ssh.$i.err")"
done
for i in 1 2 3 4; do
	assert_eq "$(tail -n 1 "$T/out.$i")" "session-$i" "session $i"
	assert_eq "$(head -n 1 "$T/out.$i" | wc -c)" 1000001 "session $i bytes"
done
ids=$(tunnels_for kiosk-17 | sort -u | wc -l)
assert_eq "$ids" 4 "distinct tunnels"
for id in $(tunnels_for kiosk-17); do
	wait_tunnel_status "$id" CLOSED
done
echo "ok"
