"""emulator_faults.py: the emulator's data-plane fault injection.

Run by emulator_faults.sh (emulator started with --admin).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tunnel_client as tc  # noqa: E402
from tunnel_client import DATA, STREAM_START, STREAM_RESET, encode  # noqa

API = tc.api()


def pair():
    t = API.open_tunnel(destinationConfig={"services": ["SSH"]})
    src = tc.connect(token=t["sourceAccessToken"])
    assert isinstance(src, tc.WS), src
    src.recv_msgs(1)
    dst = tc.connect("destination", token=t["destinationAccessToken"])
    assert isinstance(dst, tc.WS), dst
    dst.recv_msgs(1)
    return t, src, dst


def start_stream(src, dst, sid=1):
    src.send_msgs(encode(STREAM_START, sid, service_id="SSH",
                         connection_id=1))
    assert dst.recv_msgs(1)[0]["type"] == STREAM_START


def case_drop():
    t, src, dst = pair()
    start_stream(src, dst)
    tc.admin("drop", tunnelId=t["tunnelId"], side="destination")
    code, reason = dst.expect_close()
    assert code == 1001 and "fault injection" in reason, (code, reason)
    m = src.recv_msgs(1)[0]
    assert m["type"] == STREAM_RESET and m["streamId"] == 1, m
    src.close()
    # abrupt: no close frame, as when the network fails
    t, src, dst = pair()
    tc.admin("drop", tunnelId=t["tunnelId"], side="source", abrupt=True)
    code, reason = src.expect_close()
    assert code is None, "abrupt drop sent a close frame %r" % code
    dst.close()


def case_send():
    t, src, dst = pair()
    tid = t["tunnelId"]
    tc.admin("send", tunnelId=tid, side="source", what="text")
    src.sock.settimeout(60)
    op, data = src.recv_message()
    assert op == 1 and b"injected" in data, (op, data)
    tc.admin("send", tunnelId=tid, side="source", what="unknown-ignorable")
    m = src.recv_msgs(1)[0]
    assert m["type"] == 42 and m["ignorable"], m
    tc.admin("send", tunnelId=tid, side="source", what="unknown")
    m = src.recv_msgs(1)[0]
    assert m["type"] == 42 and not m["ignorable"], m
    tc.admin("send", tunnelId=tid, side="destination", what="oversized")
    m = dst.recv_msgs(1)[0]
    assert m["type"] == DATA and len(m["payload"]) == 64513, \
        len(m["payload"])
    tc.admin("send", tunnelId=tid, side="destination", what="malformed")
    op, data = dst.recv_message()
    assert op == 2 and data == b"\x00\x03\xff\xff\xff", data
    tc.admin("send", tunnelId=tid, side="destination", what="huge")
    op, data = dst.recv_message()
    assert op == 2 and len(data) > 131076, len(data)
    tc.admin("send", tunnelId=tid, side="source", what="session-reset")
    m = src.recv_msgs(1)[0]
    assert m["type"] == tc.SESSION_RESET, m
    start_stream(src, dst, 4)
    tc.admin("send", tunnelId=tid, side="source", what="stream-reset")
    m = src.recv_msgs(1)[0]
    assert m["type"] == STREAM_RESET and m["streamId"] == 4, m
    assert m["serviceId"] == "SSH", m
    src.close()
    dst.close()


def case_stall():
    t, src, dst = pair()
    start_stream(src, dst)
    tc.admin("stall", tunnelId=t["tunnelId"], ms=3000)
    t0 = time.time()
    src.send_msgs(encode(DATA, 1, payload=b"late", service_id="SSH",
                         connection_id=1))
    m = dst.recv_msgs(1)[0]
    # A lower bound only: nothing can make it arrive early but a bug.
    assert m["payload"] == b"late" and time.time() - t0 >= 2.5, \
        time.time() - t0
    src.close()
    dst.close()


def case_bandwidth():
    t, src, dst = pair()
    start_stream(src, dst)
    tc.admin("bandwidth", tunnelId=t["tunnelId"], bytesPerSecond=100000)
    chunk = os.urandom(50000)
    t0 = time.time()
    for i in range(8):
        src.send_msgs(encode(DATA, 1, payload=chunk, service_id="SSH",
                             connection_id=1))
    got = dst.recv_msgs(8, timeout=60)
    took = time.time() - t0
    assert all(m["payload"] == chunk for m in got)
    # 400 kB at 100 kB/s after a 64 kB burst: at least 3 s.
    assert took >= 3.0, "400 kB in %.2f s at 100 kB/s" % took
    tc.admin("bandwidth", tunnelId=t["tunnelId"], bytesPerSecond=0)
    src.close()
    dst.close()


def case_expire():
    t, src, dst = pair()
    tc.admin("expire", tunnelId=t["tunnelId"])
    for ws in (src, dst):
        code, reason = ws.expect_close()
        assert code == 1000, (code, reason)
    d = API.describe_tunnel(tunnelId=t["tunnelId"])["tunnel"]
    assert d["status"] == "CLOSED", d["status"]


def case_raw():
    t, src, dst = pair()
    tid = t["tunnelId"]
    # Bytes go out as given, in order with the queue: a masked server
    # ping (RFC 6455 forbids it), then a header claiming 2^63-1 bytes.
    ping = bytes([0x89, 0x82, 1, 2, 3, 4, ord("h") ^ 1, ord("i") ^ 2])
    huge = bytes([0x82, 0x7f]) + (2 ** 63 - 1).to_bytes(8, "big")
    tc.admin("raw", tunnelId=tid, side="source", hex=(ping + huge).hex())
    src.sock.settimeout(60)
    assert src._read(len(ping)) == ping
    assert src._read(len(huge)) == huge
    src.sock.close()
    # Bad requests are refused with what to send.
    for bad in ({"hex": "0"}, {"hex": "zz"}, {}):
        try:
            tc.admin("raw", tunnelId=tid, side="destination", **bad)
            raise AssertionError("raw %r accepted" % bad)
        except tc.urllib_error() as e:
            assert e.code == 400, e.code
    dst.close()


CASES = [case_drop, case_send, case_stall, case_bandwidth, case_expire,
         case_raw]


if __name__ == "__main__":
    sys.exit(tc.run_cases(CASES, sys.argv[1:]))
