#!/usr/bin/python3
"""Where a process's resident memory goes, at its peak (bench/README.md).

Usage: smaps.py PID [INTERVAL_S]

Reads /proc/PID/smaps every INTERVAL_S (0.02 by default) until PID exits
or SIGINT, keeps the sample with the highest total Rss and prints it
grouped by mapping (each shared library, the executable, [heap], [stack],
anonymous), with Rss split into file-backed clean pages (shared text and
read-only data: what any process using the library pays), private dirty
pages (relocations, .data, .bss, heap) and anonymous pages. Standard
library only.
"""

import collections
import os
import signal
import sys
import time


def sample(pid):
    """{mapping name: {field: kB}}, summed over the mapping's ranges."""
    maps = collections.defaultdict(collections.Counter)
    name = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            words = line.split()
            if not words:
                continue
            if "-" in words[0] and not words[0].endswith(":"):
                # "start-end perms offset dev inode [path]"
                path = words[5] if len(words) > 5 else "[anon]"
                name = os.path.basename(path) if path.startswith("/") \
                    else path
                continue
            key = words[0].rstrip(":")
            if key in ("Rss", "Private_Dirty", "Private_Clean",
                       "Shared_Clean", "Shared_Dirty", "Anonymous"):
                maps[name][key] += int(words[1])
    return maps


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    pid = int(sys.argv[1])
    interval = float(sys.argv[2]) if len(sys.argv) == 3 else 0.02
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    best, best_rss, n = None, -1, 0
    while not stop:
        try:
            m = sample(pid)
        except (FileNotFoundError, ProcessLookupError):
            break
        total = sum(v["Rss"] for v in m.values())
        n += 1
        if total > best_rss:
            best, best_rss = m, total
        time.sleep(interval)
    if best is None:
        sys.exit("smaps.py: no sample of %d" % pid)
    print("peak of %d samples: Rss %d kB" % (n, best_rss))
    print()
    print("| mapping | Rss kB | file clean kB | private dirty kB | "
          "anonymous kB |")
    print("| --- | ---: | ---: | ---: | ---: |")
    rows = sorted(best.items(), key=lambda kv: -kv[1]["Rss"])
    tot = collections.Counter()
    for name, v in rows:
        clean = v["Private_Clean"] + v["Shared_Clean"]
        tot.update(v)
        if v["Rss"] == 0:
            continue
        print("| %s | %d | %d | %d | %d |" % (
            name, v["Rss"], clean, v["Private_Dirty"], v["Anonymous"]))
    print("| **total** | **%d** | %d | %d | %d |" % (
        tot["Rss"], tot["Private_Clean"] + tot["Shared_Clean"],
        tot["Private_Dirty"], tot["Anonymous"]))


if __name__ == "__main__":
    main()
