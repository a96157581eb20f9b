"""bench/emu_relay.py MIB: relays MIB MiB source -> destination through a
running iot-tunnel-emulator (EMU_URL, IST_CA, EMU_PID and AWS credentials
set, as tests/e2e/lib.sh's start_emulator leaves them) with two Python
clients, and prints the emulator's CPU seconds per GiB relayed (from
/proc/EMU_PID/stat) and its peak RSS (VmHWM). The source sends one
pre-masked WebSocket message of two 64512-byte DATA frames over and
over, so that the clients cost little next to the emulator.
Run by bench/emu_relay.sh."""
import os
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "e2e"))
import tunnel_client as tc  # noqa: E402


def cpu_secs(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmHWM"):
            return line.split()[1]
    return "?"


def main():
    mib = int(sys.argv[1])
    pid = int(os.environ["EMU_PID"])
    o = tc.api().open_tunnel(destinationConfig={"services": ["SSH"]})
    d = tc.connect("destination", o["destinationAccessToken"])
    s = tc.connect("source", o["sourceAccessToken"])
    d.recv_msgs(1)
    s.recv_msgs(1)
    s.send_msgs(tc.encode(tc.STREAM_START, 1, service_id="SSH"))
    d.recv_msgs(1)
    frame = tc.encode(tc.DATA, 1, payload=os.urandom(64512),
                      service_id="SSH")
    msg = frame + frame
    nmsg = (mib << 20) // len(msg) + 1
    got = [0]

    def reader():
        d.sock.settimeout(120)
        while got[0] < nmsg * len(msg):
            fin, op, data = d.recv_frame()
            got[0] += len(data)

    th = threading.Thread(target=reader)
    th.start()
    c0, t0 = cpu_secs(pid), time.time()
    mask = os.urandom(4)
    wire = bytes([0x82, 0xFF]) + struct.pack(">Q", len(msg)) + mask + \
        tc._mask_fast(msg, mask)
    for i in range(nmsg):
        s.sock.sendall(wire)
    th.join()
    dt, c1 = time.time() - t0, cpu_secs(pid)
    gib = got[0] / (1 << 30)
    print("relayed %.3f GiB in %.2f s (%.0f MiB/s): emulator %.2f CPU s/GiB,"
          " VmHWM %s kB" % (gib, dt, got[0] / dt / (1 << 20),
                            (c1 - c0) / gib, vm_hwm(pid)))


if __name__ == "__main__":
    main()
