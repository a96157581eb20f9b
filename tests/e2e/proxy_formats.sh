#!/bin/bash
# The V1 and V2 peer message formats end to end (--destination-client-
# type): the agent follows the format of the first STREAM_START.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

make_ca
start_sshd
start_emulator
for v in v1 v2 v3; do
	open_oneshot_tunnel "kiosk-$v"
	write_ssh_config --tunnel-id "$TUNNEL_ID" --token-file \
		"$T/$TUNNEL_ID.src.tok" --destination-client-type "$v"
	out=$(ssh_dev "kiosk-$v" "echo format-$v; head -c 300000 /dev/zero | wc -c")
	assert_eq "$out" "format-$v
300000" "ssh output ($v)"
	assert_eq "$(last_proxy_rc)" 0 "proxy exit status ($v)"
	want=$(echo "$v" | tr v V)
	assert_contains "$(cat "$AGENT_LOG")" "format $want" "agent log ($v)"
done
echo "ok"
