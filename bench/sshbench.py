#!/usr/bin/python3
"""Measurements for bench/run.sh (standard library only).

Runs ssh against the hosts of an ssh_config written by bench/run.sh:
"direct" (a), "nc" (b, the reference) and "kiosk-17" (c, iot-ssh-proxy
through the emulator and the agent); every round measures the three in
turn, so that a load on the machine hits them alike. Prints Markdown
tables: medians with the ratios (c)/(b) and (c)/(a), resource use, a
timeline of one session setup, the protocol core's instructions per byte.

Usage: sshbench.py --config FILE --rounds N --file BULK --ru-dir DIR
                   --agent-pid PID --emu-pid PID [--proxy-log FILE]
                   [--timeline HOST --timeline-ref HOST] [--core BIN]
"""

import argparse
import os
import pty
import re
import select
import statistics
import subprocess
import sys
import threading
import time
import tty

SSH = "/usr/bin/ssh"
PATHS = [("a", "direct", "ssh direct"),
         ("b", "nc", "ProxyCommand nc (reference)"),
         ("c", "kiosk-17", "ProxyCommand iot-ssh-proxy")]
CHUNK = 256 << 10
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                  r"[0-9a-f]{12}")


def ssh_cmd(args, host, *remote):
    return [SSH, "-F", args.config, host] + list(remote)


def wait_ready(proc_out, what):
    """Reads the one-byte marker the remote command prints once the
    session is up; times are taken after it, so that session setup is
    not counted as transfer."""
    b = os.read(proc_out, 1)
    if b != b"R":
        sys.exit("sshbench: %s: no ready marker (got %r)" % (what, b))


def bulk_up(args, host):
    p = subprocess.Popen(ssh_cmd(args, host, "printf R; exec cat > /dev/null"),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    wait_ready(p.stdout.fileno(), host)
    fd = p.stdin.fileno()
    with open(args.file, "rb") as f:
        t0 = time.monotonic()
        while True:
            b = f.read(CHUNK)
            if not b:
                break
            view = memoryview(b)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        p.stdin.close()
        rest = p.stdout.read()
        rc = p.wait()
        t = time.monotonic() - t0
    if rc != 0 or rest:
        sys.exit("sshbench: upload via %s: exit %d" % (host, rc))
    return t


def bulk_down(args, host):
    p = subprocess.Popen(
        ssh_cmd(args, host, "printf R; head -c 1 > /dev/null; exec cat "
                + args.file),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    fd = p.stdout.fileno()
    wait_ready(fd, host)
    n = 0
    t0 = time.monotonic()
    p.stdin.write(b"g")
    p.stdin.close()
    while True:
        b = os.read(fd, CHUNK)
        if not b:
            break
        n += len(b)
    rc = p.wait()
    t = time.monotonic() - t0
    if rc != 0 or n != os.path.getsize(args.file):
        sys.exit("sshbench: download via %s: exit %d, %d bytes" %
                 (host, rc, n))
    return t


def setup_time(args, host):
    t0 = time.monotonic()
    rc = subprocess.run(ssh_cmd(args, host, "true")).returncode
    t = time.monotonic() - t0
    if rc != 0:
        sys.exit("sshbench: ssh %s true: exit %d" % (host, rc))
    return t


# -- resource use ----------------------------------------------------------

def ru_clear(args):
    for f in os.listdir(args.ru_dir):
        os.unlink(os.path.join(args.ru_dir, f))


def ru_read(args):
    """The complete figures in the folder: (cpu_s, maxrss_bytes) each."""
    got = []
    for f in os.listdir(args.ru_dir):
        if not f.endswith(".ru"):
            continue
        with open(os.path.join(args.ru_dir, f)) as fh:
            words = fh.read().split()
        if len(words) >= 4 and words[-4].replace(".", "").isdigit():
            # elapsed user system maxrss_kb (after a "Command exited
            # with non-zero status" line, if any)
            _, user, sys_, rss = words[-4:]
            got.append((float(user) + float(sys_), int(rss) * 1024))
    return got


def ru_collect(args, host, n=1):
    """The ProxyCommand's figures from GNU time (bench/ru-wrap.sh): it
    writes them when the command exits, which for iot-ssh-proxy is after
    CloseTunnel, a little after ssh itself returned. Waiting for them
    also keeps one session's closing out of the next one's figures."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = ru_read(args)
        if len(got) >= n:
            return got[0]
        time.sleep(0.02)
    sys.exit("sshbench: no resource figures from the ProxyCommand of %s"
             % host)


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 (1-based) of stat
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm_reset(pid):
    # "5" resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0)
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")


def proc_hwm(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class Daemon:
    """CPU seconds and peak RSS of a long-running process (the agent or
    the emulator) over one transfer."""

    def __init__(self, pid):
        self.pid = pid
        self.cpu = []
        self.rss = []

    def start(self):
        proc_hwm_reset(self.pid)
        self.c0 = proc_cpu(self.pid)

    def stop(self):
        self.cpu.append(proc_cpu(self.pid) - self.c0)
        self.rss.append(proc_hwm(self.pid))


# -- interactive latency ----------------------------------------------------

class Interactive:
    """An interactive session: ssh on a pty (as at a terminal) with
    `-tt`, the remote pty in raw mode without echo, running cat."""

    def __init__(self, args, host):
        self.host = host
        master, slave = pty.openpty()
        tty.setraw(slave)
        self.p = subprocess.Popen(
            [SSH, "-tt", "-F", args.config, host,
             "stty raw -echo; printf R; exec cat"],
            stdin=slave, stdout=slave, stderr=subprocess.DEVNULL,
            close_fds=True)
        os.close(slave)
        self.fd = master
        buf = b""
        deadline = time.monotonic() + 30
        while not buf.endswith(b"R"):
            if time.monotonic() > deadline:
                sys.exit("sshbench: interactive %s: no ready marker" % host)
            r, _, _ = select.select([master], [], [], 1)
            if r:
                buf += os.read(master, 64)
        self.samples = []

    def sample(self, i):
        c = bytes([ord("a") + i % 26])
        t0 = time.perf_counter()
        os.write(self.fd, c)
        got = b""
        while not got:
            r, _, _ = select.select([self.fd], [], [], 10)
            if not r:
                sys.exit("sshbench: interactive %s: no echo" % self.host)
            got = os.read(self.fd, 16)
        t = time.perf_counter() - t0
        if got != c:
            sys.exit("sshbench: interactive %s: sent %r, got %r" %
                     (self.host, c, got))
        self.samples.append(t)

    def close(self):
        os.write(self.fd, b"\x04")  # raw mode: cat gets the byte, not EOF
        self.p.terminate()
        self.p.wait()
        os.close(self.fd)


def p99(xs):
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))]


# -- session setup timeline --------------------------------------------------

MILESTONES = [
    ("Connecting to", "ssh starts"),
    ("Executing proxy command", "ssh starts"),
    ("Remote protocol version", "sshd's version string arrives"),
    ("SSH2_MSG_NEWKEYS received", "key exchange done"),
    ("Authenticated to", "authenticated"),
    ("Sending command", "command sent"),
    ("Exit status", "exit status received"),
]


def timeline(args, host):
    """One `ssh -v HOST true` with stderr timestamped line by line: ssh's
    own milestones and, through a ProxyCommand run with -v, the proxy's
    steps (ssh hands its stderr to the ProxyCommand)."""
    t0 = time.monotonic()
    p = subprocess.Popen([SSH, "-v", "-F", args.config, host, "true"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    events = []

    def reader():
        # the proxy holds ssh's stderr until it has closed the tunnel,
        # after ssh is gone: read it aside, while waiting for ssh
        for line in p.stderr:
            t = time.monotonic() - t0
            line = UUID.sub("<id>", line.decode(errors="replace").rstrip())
            if line.startswith("iot-ssh-proxy: "):
                events.append((t, "proxy: " +
                               line[len("iot-ssh-proxy: "):]))
                continue
            for key, what in MILESTONES:
                if key in line:
                    events.append((t, "ssh: " + what))
                    break

    th = threading.Thread(target=reader)
    th.start()
    rc = p.wait()
    events.append((time.monotonic() - t0, "ssh exits (%d)" % rc))
    th.join()
    if rc != 0:
        sys.exit("sshbench: ssh -v %s true: exit %d" % (host, rc))
    return sorted(events, key=lambda e: e[0])


# -- report -------------------------------------------------------------------

def ratio(c, ref):
    return "%.2f" % (c / ref) if ref else "-"


# -- protocol core under callgrind ---------------------------------------------

CORE_FUNCS = ["ist_session_send_data", "ist_session_recv"]


def callgrind(args, mib):
    out = os.path.join(args.ru_dir, "callgrind.%d" % mib)
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out]
    cmd += ["--toggle-collect=" + f for f in CORE_FUNCS]
    subprocess.run(cmd + [args.core, str(mib)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", out],
                         check=True, capture_output=True,
                         text=True).stdout
    incl = {}
    for line in ann.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*)$", line)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        name = m.group(2)
        if "PROGRAM TOTALS" in name:
            incl["total"] = n
        elif "memcpy" in name or "memmove" in name:
            incl["memcpy"] = incl.get("memcpy", 0) + n
        else:
            for f in CORE_FUNCS:
                if re.search(r":%s \[" % f, name):
                    incl[f] = n
    return incl


def print_core(args):
    """Instructions per byte of the protocol core: the difference of two
    runs (8 and 32 MiB) divided by the bytes, so that set-up cancels."""
    lo, hi = 8, 32
    a = callgrind(args, lo)
    b = callgrind(args, hi)
    nbytes = (hi - lo) << 20

    def per_byte(k):
        return (b.get(k, 0) - a.get(k, 0)) / nbytes

    print("Protocol core (bench/core.c: source session_send_data, its "
          "output into a destination's session_recv; callgrind, "
          "instructions per payload byte, %d-%d MiB difference):"
          % (hi, lo))
    print()
    print("| function | instructions/byte |")
    print("| --- | ---: |")
    for f in CORE_FUNCS:
        print("| %s (inclusive) | %.3f |" % (f, per_byte(f)))
    print("| both | %.3f |" % per_byte("total"))
    print("| of which memcpy | %.3f |" % per_byte("memcpy"))
    print()


def print_timeline(args):
    ref = {}
    if args.timeline_ref:
        for t, what in timeline(args, args.timeline_ref):
            ref.setdefault(what.split(" (")[0], t)
    print("Session setup, one `ssh -v %s true` (proxy at -vv), ms from "
          "ssh's start; (a) the same milestones without a proxy:"
          % args.timeline)
    print()
    print("| ms | (a) ms | event |")
    print("| ---: | ---: | --- |")
    for t, what in timeline(args, args.timeline):
        r = ref.get(what.split(" (")[0])
        print("| %.0f | %s | %s |" % (t * 1e3,
              "%.0f" % (r * 1e3) if r is not None else "",
              what.replace("|", "\\|")))
    print()


def print_machine(when):
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print("%s, %s: %d CPUs (%s), load average %s" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), when,
        os.cpu_count(), model, load))
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--file", required=True)
    ap.add_argument("--ru-dir", required=True)
    ap.add_argument("--agent-pid", type=int, required=True)
    ap.add_argument("--emu-pid", type=int, required=True)
    ap.add_argument("--timeline", help="host for the setup timeline")
    ap.add_argument("--timeline-ref", help="reference host for it")
    ap.add_argument("--only-timeline", action="store_true")
    ap.add_argument("--core", help="ist-bench-core, for callgrind")
    ap.add_argument("--proxy-log", help="stderr of (c)'s proxy at -v")
    args = ap.parse_args()

    if args.only_timeline:
        print_timeline(args)
        return
    print_machine("at the start")
    mib = os.path.getsize(args.file) / (1 << 20)
    up = {k: [] for k, _, _ in PATHS}
    down = {k: [] for k, _, _ in PATHS}
    setup = {k: [] for k, _, _ in PATHS}
    joined = []
    scpu = {k: [] for k, _, _ in PATHS}
    srss = {k: [] for k, _, _ in PATHS}
    pcpu = {k: [] for k, _, _ in PATHS}
    prss = {k: [] for k, _, _ in PATHS}
    agent = Daemon(args.agent_pid)
    emu = Daemon(args.emu_pid)

    for r in range(args.rounds):
        print("sshbench: round %d/%d" % (r + 1, args.rounds),
              file=sys.stderr)
        for k, host, _ in PATHS:
            ru_clear(args)
            if k == "c" and args.proxy_log:
                open(args.proxy_log, "w").close()
            setup[k].append(setup_time(args, host))
            if k != "a":
                cpu, rss = ru_collect(args, host)
                scpu[k].append(cpu)
                srss[k].append(rss)
            if k == "c" and args.proxy_log:
                with open(args.proxy_log) as f:
                    m = re.search(r"joined after (\d+) ms", f.read())
                if m:
                    joined.append(int(m.group(1)) / 1e3)
        for k, host, _ in PATHS:
            ru_clear(args)
            if k == "c":
                agent.start()
                emu.start()
            up[k].append(mib / bulk_up(args, host))
            if k == "c":
                agent.stop()
                emu.stop()
            if k != "a":
                cpu, rss = ru_collect(args, host)
                pcpu[k].append(cpu)
                prss[k].append(rss)
        for k, host, _ in PATHS:
            ru_clear(args)
            down[k].append(mib / bulk_down(args, host))
            if k != "a":
                ru_collect(args, host)

    print("sshbench: interactive, %d samples per path" % args.samples,
          file=sys.stderr)
    ru_clear(args)
    sessions = [Interactive(args, host) for _, host, _ in PATHS]
    for i in range(10):  # warm up
        for s in sessions:
            s.sample(i)
    for s in sessions:
        s.samples = []
    for i in range(args.samples):
        for s in sessions:
            s.sample(i)
    lat = {}
    for (k, _, _), s in zip(PATHS, sessions):
        lat[k] = (statistics.median(s.samples), p99(s.samples))
        s.close()
    ru_collect(args, "the interactive sessions", 2)

    med = statistics.median
    rows = []

    def row(what, vals, fmt):
        a, b, c = vals
        rows.append("| %s | %s | %s | %s | %s | %s |" % (
            what, fmt % a, fmt % b, fmt % c, ratio(c, b), ratio(c, a)))

    row("upload %d MiB, MiB/s" % mib, [med(up[k]) for k in "abc"], "%.1f")
    row("download %d MiB, MiB/s" % mib, [med(down[k]) for k in "abc"],
        "%.1f")
    row("`ssh host true`, ms", [med(setup[k]) * 1e3 for k in "abc"], "%.0f")
    row("`ssh host true`, fastest, ms", [min(setup[k]) * 1e3 for k in "abc"],
        "%.0f")
    if joined:
        rows.append("| (c): of it, waiting for the device to join "
                    "(proxy -v), ms | | | %.0f | | |" % (med(joined) * 1e3))
    row("keystroke round trip, median, ms", [lat[k][0] * 1e3 for k in "abc"],
        "%.3f")
    row("keystroke round trip, p99, ms", [lat[k][1] * 1e3 for k in "abc"],
        "%.3f")
    print("| measure (median of %d rounds; %d keystrokes) | (a) ssh direct "
          "| (b) nc | (c) iot-ssh-proxy | (c)/(b) | (c)/(a) |"
          % (args.rounds, args.samples))
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    print()
    print("Resource use (median of %d rounds): the ProxyCommands over their "
          "whole life (setup, transfer, close), for the %d MiB upload and "
          "for `ssh host true`; the emulator and the agent during the "
          "upload:" % (args.rounds, mib))
    print()
    print("| process | CPU s | peak RSS, MiB |")
    print("| --- | ---: | ---: |")
    for k, name in (("b", "nc"), ("c", "iot-ssh-proxy")):
        print("| (%s) %s, upload | %.2f | %.1f |" % (
            k, name, med(pcpu[k]), med(prss[k]) / 2**20))
        print("| (%s) %s, `ssh host true` | %.2f | %.1f |" % (
            k, name, med(scpu[k]), med(srss[k]) / 2**20))
    print("| (c) iot-tunnel-emulator, upload | %.2f | %.1f |" % (
        med(emu.cpu), med(emu.rss) / 2**20))
    print("| (c) iot-tunnel-agent, upload | %.2f | %.1f |" % (
        med(agent.cpu), med(agent.rss) / 2**20))
    print()
    print_machine("at the end")
    if args.timeline:
        print_timeline(args)
    if args.core:
        print_core(args)


if __name__ == "__main__":
    main()
