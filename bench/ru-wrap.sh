#!/bin/sh
# ProxyCommand wrapper for bench/run.sh: runs the command under GNU time,
# which writes "elapsed user system maxrss_kb" to $BENCH_RU/<pid>.ru when
# the command exits. ssh sends SIGHUP to its ProxyCommand at the end of
# a session; ignoring it here keeps time alive to report (the command
# itself then ends on stdin EOF, as it does anyway).
# $BENCH_RU/<pid>.pid names time's process: sshbench.py finds the command
# as its child, to read its CPU time once the session is up.
trap '' HUP
echo $$ > "$BENCH_RU/$$.pid"
exec /usr/bin/time -f '%e %U %S %M' -o "$BENCH_RU/$$.ru" "$@"
