#!/usr/bin/python3
"""Measurements for bench/run.sh (standard library only).

Runs ssh against the hosts of an ssh_config written by bench/run.sh:
"direct" (a), "nc" (b, the reference), "kiosk-17" (c, iot-ssh-proxy
through the emulator and the agent) and, given --lp-src-pid, "lp" (d,
AWS's reference localproxy pair through the same emulator: ssh connects
to the source localproxy's port); every round measures them in turn, so
that a load on the machine hits them alike. Prints Markdown tables:
medians with the ratios (c)/(b), (c)/(a) and (c)/(d), CPU seconds per GiB
and peak RSS of every process on the path, the figures of issue 9 next
to their targets, a timeline of one session setup, the protocol core's
instructions per byte. The targets are figures: nothing here fails on
them.

Usage: sshbench.py --config FILE --rounds N --file BULK [--big-file BULK]
                   --ru-dir DIR --agent-pid PID --emu-pid PID
                   [--lp-src-pid PID --lp-dst-pid PID --lp-setup-ms MS]
                   [--proxy-log FILE] [--timeline HOST --timeline-ref HOST]
                   [--core BIN]
"""

import argparse
import os
import pty
import re
import select
import signal
import statistics
import subprocess
import sys
import threading
import time
import tty

SSH = "/usr/bin/ssh"
CHUNK = 256 << 10
GIB = float(1 << 30)
MIB = float(1 << 20)
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


def start_probes(probes):
    for p in probes:
        p.start()


def stop_probes(probes):
    return [(p.name,) + p.stop() for p in probes]


def bulk_up(args, host, path, probes):
    """Seconds for PATH into `cat > /dev/null` on the device, and the
    probes' figures (name, cpu_s, peak_rss_bytes) from the ready marker to
    ssh's exit."""
    p = subprocess.Popen(ssh_cmd(args, host, "printf R; exec cat > /dev/null"),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    wait_ready(p.stdout.fileno(), host)
    start_probes(probes)
    fd = p.stdin.fileno()
    with open(path, "rb") as f:
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
    return t, stop_probes(probes)


def bulk_down(args, host, path, probes):
    p = subprocess.Popen(
        ssh_cmd(args, host, "printf R; head -c 1 > /dev/null; exec cat "
                + path),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    fd = p.stdout.fileno()
    wait_ready(fd, host)
    start_probes(probes)
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
    if rc != 0 or n != os.path.getsize(path):
        sys.exit("sshbench: download via %s: exit %d, %d bytes" %
                 (host, rc, n))
    return t, stop_probes(probes)


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
    """CPU seconds and peak RSS of a long-running process (the agent, the
    emulator, a localproxy) over one transfer."""

    def __init__(self, name, pid):
        self.name = name
        self.pid = pid

    def start(self):
        proc_hwm_reset(self.pid)
        self.c0 = proc_cpu(self.pid)

    def stop(self):
        return proc_cpu(self.pid) - self.c0, proc_hwm(self.pid)


class Wrapped:
    """The ProxyCommand under bench/ru-wrap.sh: its CPU seconds from the
    ready marker to its exit (GNU time's total less what /proc showed at
    the marker: setup is out, the close after the transfer is in) and its
    peak RSS over its whole life."""

    def __init__(self, name, args):
        self.name = name
        self.args = args

    def start(self):
        pids = [f for f in os.listdir(self.args.ru_dir) if f.endswith(".pid")]
        if len(pids) != 1:
            sys.exit("sshbench: %s: %d ru-wrap.sh processes, want 1"
                     % (self.name, len(pids)))
        tpid = int(pids[0][:-4])
        with open("/proc/%d/task/%d/children" % (tpid, tpid)) as f:
            kids = f.read().split()
        if not kids:
            sys.exit("sshbench: %s: GNU time has no child" % self.name)
        self.pid = int(kids[0])
        self.c0 = proc_cpu(self.pid)

    def stop(self):
        cpu, rss = ru_collect(self.args, self.name)
        return cpu - self.c0, rss


class Perf:
    """A probe with `perf record` on its process from start to stop:
    where its CPU goes (run.sh PERF=1; a round of its own, since perf
    slows what it watches)."""

    def __init__(self, inner, out):
        self.inner = inner
        self.name = inner.name
        self.out = out

    def start(self):
        self.inner.start()
        self.perf = subprocess.Popen(
            ["perf", "record", "-q", "-F", "1999", "-p", str(self.inner.pid),
             "-o", self.out], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)

    def stop(self):
        got = self.inner.stop()
        # perf ends by itself when a ProxyCommand exits; a daemon's needs
        # SIGINT
        if self.perf.poll() is None:
            self.perf.send_signal(signal.SIGINT)
        try:
            self.perf.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.perf.kill()
            self.perf.wait()
        return got


def perf_top(path, sort, limit):
    """[(percent, what)] of a perf.data file, highest first: what is the
    object (sort "dso") or "object symbol" (sort "dso,sym")."""
    out = subprocess.run(
        ["perf", "report", "-i", path, "--stdio", "--no-children",
         "--sort", sort, "--percent-limit", "1"],
        capture_output=True, text=True)
    if out.returncode != 0:
        print("sshbench: perf report %s: %s" % (path, out.stderr.strip()),
              file=sys.stderr)
    top = []
    for line in out.stdout.splitlines():
        line = line.rstrip()
        if line.startswith("#") or not line:
            continue
        m = re.match(r"\s*([\d.]+)%\s+(\S+)(?:\s+\[[.k]\]\s+(.*))?$", line)
        if m:
            obj = m.group(2).replace("[kernel.kallsyms]", "kernel")
            what = obj if m.group(3) is None else \
                "%s %s" % (obj, m.group(3).strip())
            top.append((float(m.group(1)), what))
    return top[:limit]


def print_perf(args, paths):
    """One more transfer each way through (c) and (d) under perf."""
    fns = {"up": bulk_up, "down": bulk_down}
    print("Where the CPU goes: `perf record -F 1999 -p PID` on each process "
          "during one more %d MiB transfer each way (a round of its own); "
          "the share of each object and the hottest symbols (`perf report "
          "--sort dso` and `dso,sym`, over 1 %%; hex: a function the object "
          "does not export):" % (os.path.getsize(args.perf_file) >> 20))
    print()
    print("| path | process | direction | objects | hottest symbols |")
    print("| --- | --- | --- | --- | --- |")
    for k, host, _, probes in paths:
        if k not in "cd":
            continue
        for d in ("up", "down"):
            ru_clear(args)
            ps = [Perf(p, os.path.join(args.ru_dir, "perf.%s.%d.data" % (d, i)))
                  for i, p in enumerate(probes())]
            fns[d](args, host, args.perf_file, ps)
            for p in ps:
                objs = ", ".join("%s %.0f %%" % (w, pct)
                                 for pct, w in perf_top(p.out, "dso", 6))
                syms = ", ".join("%s %.0f %%" % (w, pct)
                                 for pct, w in perf_top(p.out, "dso,sym", 4))
                print("| (%s) | %s | %s | %s | %s |" % (
                    k, p.name, d, objs, syms.replace("|", "\\|")))
    print()


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


def make_paths(args):
    """(key, ssh host, what, the probes of one transfer) for each path."""
    paths = [
        ("a", "direct", "ssh direct", lambda: []),
        ("b", "nc", "ProxyCommand nc (reference)",
         lambda: [Wrapped("nc", args)]),
        ("c", "kiosk-17", "ProxyCommand iot-ssh-proxy",
         lambda: [Wrapped("iot-ssh-proxy", args),
                  Daemon("iot-tunnel-agent", args.agent_pid),
                  Daemon("iot-tunnel-emulator", args.emu_pid)]),
    ]
    if args.lp_src_pid:
        paths.append(
            ("d", "lp", "localproxy pair (reference)",
             lambda: [Daemon("localproxy source", args.lp_src_pid),
                      Daemon("localproxy destination", args.lp_dst_pid),
                      Daemon("iot-tunnel-emulator", args.emu_pid)]))
    return paths


PAIRS = {"c": ("iot-ssh-proxy", "iot-tunnel-agent"),
         "d": ("localproxy source", "localproxy destination")}


class Results:
    """MiB/s and the probes' figures per (path, size, direction)."""

    def __init__(self):
        self.rate = {}
        self.cpu = {}  # (k, size, dir, process) -> [s/GiB]
        self.rss = {}  # (k, size, dir, process) -> [bytes]

    def add(self, k, size, d, nbytes, secs, probed):
        self.rate.setdefault((k, size, d), []).append(nbytes / MIB / secs)
        for name, cpu, rss in probed:
            key = (k, size, d, name)
            self.cpu.setdefault(key, []).append(cpu / (nbytes / GIB))
            self.rss.setdefault(key, []).append(rss)

    def mibs(self, k, size, d):
        v = self.rate.get((k, size, d))
        return statistics.median(v) if v else None

    def cpu_gib(self, k, size, d, name):
        v = self.cpu.get((k, size, d, name))
        return statistics.median(v) if v else None

    def pair_cpu(self, k, size, d):
        a, b = (self.cpu_gib(k, size, d, n) for n in PAIRS[k])
        return a + b if a is not None and b is not None else None

    def peak(self, k, size, d, name):
        v = self.rss.get((k, size, d, name))
        return max(v) if v else None


def transfer(args, res, paths, size, path_file, dirs=("up", "down")):
    nbytes = os.path.getsize(path_file)
    fns = {"up": bulk_up, "down": bulk_down}
    for d in dirs:
        for k, host, _, probes in paths:
            ru_clear(args)
            t, probed = fns[d](args, host, path_file, probes())
            res.add(k, size, d, nbytes, t, probed)


def fmt(v, f):
    return f % v if v is not None else ""


def ratio(c, ref):
    return "%.2f" % (c / ref) if c is not None and ref else ""


def mib(v):
    return "%.1f" % (v / MIB) if v is not None else ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--file", required=True)
    ap.add_argument("--big-file", help="one more round of transfers, "
                    "(b), (c) and (d), with this file")
    ap.add_argument("--ru-dir", required=True)
    ap.add_argument("--agent-pid", type=int, required=True)
    ap.add_argument("--emu-pid", type=int, required=True)
    ap.add_argument("--lp-src-pid", type=int, help="source localproxy")
    ap.add_argument("--lp-dst-pid", type=int, help="destination localproxy")
    ap.add_argument("--lp-setup-ms", type=float,
                    help="time the localproxy pair took to start")
    ap.add_argument("--perf-file", help="one more transfer each way of "
                    "this file through (c) and (d) under perf record")
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
    paths = make_paths(args)
    keys = [k for k, _, _, _ in paths]
    lp = "d" in keys
    small = "%d MiB" % (os.path.getsize(args.file) >> 20)
    big = None
    if args.big_file:
        big = "%d MiB" % (os.path.getsize(args.big_file) >> 20)
        if os.path.getsize(args.big_file) >= 1 << 30:
            big = "%d GiB" % (os.path.getsize(args.big_file) >> 30)
    res = Results()
    setup = {k: [] for k in keys}
    joined = []
    scpu = {k: [] for k in keys}
    srss = {k: [] for k in keys}

    for r in range(args.rounds):
        print("sshbench: round %d/%d" % (r + 1, args.rounds),
              file=sys.stderr)
        for k, host, _, _ in paths:
            ru_clear(args)
            if k == "c" and args.proxy_log:
                open(args.proxy_log, "w").close()
            setup[k].append(setup_time(args, host))
            if k in "bc":
                cpu, rss = ru_collect(args, host)
                scpu[k].append(cpu)
                srss[k].append(rss)
            if k == "c" and args.proxy_log:
                with open(args.proxy_log) as f:
                    m = re.search(r"joined after (\d+) ms", f.read())
                if m:
                    joined.append(int(m.group(1)) / 1e3)
        transfer(args, res, paths, small, args.file)
    if big:
        print("sshbench: %s transfers" % big, file=sys.stderr)
        transfer(args, res, [p for p in paths if p[0] != "a"], big,
                 args.big_file)

    print("sshbench: interactive, %d samples per path" % args.samples,
          file=sys.stderr)
    ru_clear(args)
    sessions = [Interactive(args, host) for _, host, _, _ in paths]
    for i in range(10):  # warm up
        for s in sessions:
            s.sample(i)
    for s in sessions:
        s.samples = []
    for i in range(args.samples):
        for s in sessions:
            s.sample(i)
    lat = {}
    for k, s in zip(keys, sessions):
        lat[k] = (statistics.median(s.samples), p99(s.samples))
        s.close()
    ru_collect(args, "the interactive sessions", 2)

    med = statistics.median
    rows = []

    def row(what, vals, f):
        a, b, c = vals["a"], vals["b"], vals["c"]
        cells = [what] + [fmt(vals.get(k), f) for k in keys]
        cells += [ratio(c, b), ratio(c, a)]
        if lp:
            cells.append(ratio(c, vals.get("d")))
        rows.append("| " + " | ".join(cells) + " |")

    for size in [small] + ([big] if big else []):
        for d, word in (("up", "upload"), ("down", "download")):
            row("%s %s, MiB/s" % (word, size),
                {k: res.mibs(k, size, d) for k in keys}, "%.1f")
    row("`ssh host true`, ms", {k: med(setup[k]) * 1e3 for k in keys}, "%.0f")
    row("`ssh host true`, fastest, ms",
        {k: min(setup[k]) * 1e3 for k in keys}, "%.0f")
    if joined:
        rows.append("| (c): of it, waiting for the device to join "
                    "(proxy -v), ms | | | %.0f |%s" % (
                        med(joined) * 1e3, " |" * (len(keys) - 1)))
    if lp and args.lp_setup_ms is not None:
        rows.append("| (d): starting the pair (both connected, source "
                    "listening), ms | | | | %.0f | | | |" % args.lp_setup_ms)
    row("keystroke round trip, median, ms",
        {k: lat[k][0] * 1e3 for k in keys}, "%.3f")
    row("keystroke round trip, p99, ms",
        {k: lat[k][1] * 1e3 for k in keys}, "%.3f")
    head = ["measure (median of %d rounds%s; %d keystrokes)" % (
        args.rounds, ", %s: one" % big if big else "", args.samples),
        "(a) ssh direct", "(b) nc", "(c) iot-ssh-proxy"]
    if lp:
        head.append("(d) localproxy pair")
    head += ["(c)/(b)", "(c)/(a)"] + (["(c)/(d)"] if lp else [])
    print("| " + " | ".join(head) + " |")
    print("| --- |" + " ---: |" * (len(head) - 1))
    print("\n".join(rows))
    print()
    if lp:
        print("(d): ssh connects to the source localproxy's port; the "
              "tunnel was opened and both localproxies connected once, "
              "before the rounds, so its `ssh host true` has no "
              "OpenTunnel and no join in it (c)'s has.")
        print()

    # -- resources per transfer
    print("Resources per transfer: CPU seconds per GiB moved (median), "
          "from the session's ready marker to ssh's exit (for a "
          "ProxyCommand: to its own exit); peak RSS (the highest of the "
          "rounds: a ProxyCommand over its whole life, a daemon since "
          "the ready marker):")
    print()
    print("| path | process | size | CPU s/GiB up | CPU s/GiB down | "
          "peak RSS up, MiB | peak RSS down, MiB |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for k, _, _, probes in paths:
        names = [p.name for p in probes()]
        for size in [small] + ([big] if big else []):
            for n in names:
                print("| (%s) | %s | %s | %s | %s | %s | %s |" % (
                    k, n, size,
                    fmt(res.cpu_gib(k, size, "up", n), "%.2f"),
                    fmt(res.cpu_gib(k, size, "down", n), "%.2f"),
                    mib(res.peak(k, size, "up", n)),
                    mib(res.peak(k, size, "down", n))))
            if k in PAIRS:
                print("| (%s) | **%s + %s** | %s | **%s** | **%s** | | |" % (
                    k, PAIRS[k][0], PAIRS[k][1], size,
                    fmt(res.pair_cpu(k, size, "up"), "%.2f"),
                    fmt(res.pair_cpu(k, size, "down"), "%.2f")))
    print()
    print("`ssh host true`, the ProxyCommand over its whole life (median "
          "of %d):" % args.rounds)
    print()
    print("| process | CPU s | peak RSS, MiB |")
    print("| --- | ---: | ---: |")
    for k, name in (("b", "nc"), ("c", "iot-ssh-proxy")):
        print("| (%s) %s | %.3f | %.1f |" % (
            k, name, med(scpu[k]), med(srss[k]) / MIB))
    print()

    # -- issue 9's targets, as figures
    def ok(good):
        return "yes" if good else "**no**"

    trows = []

    def target(what, want, got, good):
        if got is None:
            return
        trows.append("| %s | %s | %s | %s |" % (what, want, got, ok(good)))

    for d, word in (("up", "upload"), ("down", "download")):
        for size in [small] + ([big] if big else []):
            c, b = res.mibs("c", size, d), res.mibs("b", size, d)
            if c and b:
                target("bulk %s %s, (c)/(b)" % (word, size), ">= 0.80",
                       "%.2f" % (c / b), c / b >= 0.8)
            dd = res.mibs("d", size, d)
            if c and dd:
                target("bulk %s %s, (c)/(d)" % (word, size), ">= 1.00",
                       "%.2f" % (c / dd), c / dd >= 1.0)
    for d, word in (("up", "upload"), ("down", "download")):
        for size in [small] + ([big] if big else []):
            v = res.pair_cpu("c", size, d)
            if v is not None:
                ref = res.pair_cpu("d", size, d) if lp else None
                target("CPU s/GiB, iot-ssh-proxy + iot-tunnel-agent, %s %s"
                       % (word, size), "<= 1.3",
                       "%.2f%s" % (v, " (localproxy pair %.2f)" % ref
                                   if ref is not None else ""), v <= 1.3)
    dm = (lat["c"][0] - lat["b"][0]) * 1e3
    dp = (lat["c"][1] - lat["b"][1]) * 1e3
    target("keystroke median, (c) − (b), ms", "<= 0.1", "%.3f" % dm,
           dm <= 0.1)
    target("keystroke p99, (c) − (b), ms", "<= 0.5", "%.3f" % dp, dp <= 0.5)
    for n, lim in (("iot-ssh-proxy", 8), ("iot-tunnel-agent", 6)):
        for size in [small] + ([big] if big else []):
            vals = [res.peak("c", size, d, n) for d in ("up", "down")]
            vals = [v for v in vals if v is not None]
            if vals:
                target("peak RSS %s, %s" % (n, size), "<= %d MiB" % lim,
                       "%.1f MiB" % (max(vals) / MIB), max(vals) <= lim * MIB)
    print("Issue 9's targets (figures from this run, not asserts):")
    print()
    print("| measure | target | this run | met |")
    print("| --- | --- | ---: | --- |")
    print("\n".join(trows))
    print()
    if args.perf_file:
        print_perf(args, paths)
    print_machine("at the end")
    if args.timeline:
        print_timeline(args)
    if args.core:
        print_core(args)


if __name__ == "__main__":
    main()
