#!/usr/bin/python3
"""Measurements for bench/run.sh (standard library only).

Runs ssh against the hosts of an ssh_config written by bench/run.sh:
"direct" (a), "nc" (b, the reference) and "kiosk-17" (c, iot-ssh-proxy
through the emulator and the agent); every round measures the three in
turn, so that a load on the machine hits them alike. Prints a Markdown
table of medians and the ratios (c)/(b) and (c)/(a).

Usage: sshbench.py --config FILE --rounds N --file BULK --ru-dir DIR
                   --agent-pid PID --emu-pid PID
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


def ru_collect(args, host):
    """The ProxyCommand's figures from GNU time (bench/ru-wrap.sh): it
    writes them when the command exits, which for iot-ssh-proxy is after
    CloseTunnel, a little after ssh itself returned."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for f in os.listdir(args.ru_dir):
            with open(os.path.join(args.ru_dir, f)) as fh:
                words = fh.read().split()
            if len(words) >= 4 and words[-4].replace(".", "").isdigit():
                # elapsed user system maxrss_kb
                _, user, sys_, rss = words[-4:]
                return float(user) + float(sys_), int(rss) * 1024
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
    p = subprocess.Popen(ssh_cmd(args, host, "true")[:1] + ["-v"] +
                         ssh_cmd(args, host, "true")[1:],
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
    return sorted(events, key=lambda e: e[0])


# -- report -------------------------------------------------------------------

def ratio(c, ref):
    return "%.2f" % (c / ref) if ref else "-"


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
    args = ap.parse_args()

    if args.timeline:
        print_timeline(args)
        if args.only_timeline:
            return
    mib = os.path.getsize(args.file) / (1 << 20)
    up = {k: [] for k, _, _ in PATHS}
    down = {k: [] for k, _, _ in PATHS}
    setup = {k: [] for k, _, _ in PATHS}
    pcpu = {k: [] for k, _, _ in PATHS}
    prss = {k: [] for k, _, _ in PATHS}
    agent = Daemon(args.agent_pid)
    emu = Daemon(args.emu_pid)

    for r in range(args.rounds):
        print("sshbench: round %d/%d" % (r + 1, args.rounds),
              file=sys.stderr)
        for k, host, _ in PATHS:
            ru_clear(args)
            setup[k].append(setup_time(args, host))
            if k != "a":
                ru_collect(args, host)
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
    print("Resource use during the %d MiB upload (median of %d rounds; for "
          "the ProxyCommand, its whole life: setup, transfer, close):"
          % (mib, args.rounds))
    print()
    print("| process | CPU s | peak RSS, MiB |")
    print("| --- | ---: | ---: |")
    print("| (b) nc | %.2f | %.1f |" % (med(pcpu["b"]), med(prss["b"]) / 2**20))
    print("| (c) iot-ssh-proxy | %.2f | %.1f |" % (med(pcpu["c"]),
                                                 med(prss["c"]) / 2**20))
    print("| (c) iot-tunnel-emulator | %.2f | %.1f |" % (
        med(emu.cpu), med(emu.rss) / 2**20))
    print("| (c) iot-tunnel-agent | %.2f | %.1f |" % (
        med(agent.cpu), med(agent.rss) / 2**20))


if __name__ == "__main__":
    main()
