"""emulator_dataplane.py: the emulator's data plane, case by case.

Run by emulator_dataplane.sh (EMU_URL, IST_CA and AWS credentials set).
Each case opens its own tunnel through botocore. A failed assert ends
the run with the case's name.
"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tunnel_client as tc  # noqa: E402
from tunnel_client import (DATA, STREAM_START, STREAM_RESET,  # noqa: E402
                           SESSION_RESET, SERVICE_IDS, CONNECTION_START,
                           encode)

API = tc.api()
CT = "c0ffee00-1111-2222-3333-444455556666"


def open_tunnel(services=("SSH",), thing=None):
    dc = {"services": list(services)}
    if thing:
        dc["thingName"] = thing
    r = API.open_tunnel(destinationConfig=dc)
    return r


def states(tid):
    t = API.describe_tunnel(tunnelId=tid)["tunnel"]
    return (t["sourceConnectionState"]["status"],
            t["destinationConnectionState"]["status"], t)


def refused(r, status, text=None):
    assert isinstance(r, tc.Refused), "expected a refusal, got 101"
    assert r.status == status, "status %d, want %d (%s)" % (
        r.status, status, r.body)
    assert r.headers.get("channel-id"), "refusal without channel-id"
    if text:
        assert text in r.body, "%r not in %r" % (text, r.body)


def accepted(r):
    assert isinstance(r, tc.WS), "refused: %r" % (r,)
    assert r.headers.get("channel-id"), "no channel-id"
    return r


def service_ids(ws):
    m = ws.recv_msgs(1)[0]
    assert m["type"] == SERVICE_IDS, "first message %r" % m
    return m["availableServiceIds"]


def case_refusals():
    t = open_tunnel()
    src, dst = t["sourceAccessToken"], t["destinationAccessToken"]
    refused(tc.connect(token=src, path="/nope"), 400, "/tunnel")
    refused(tc.connect(token=src, protocols=()), 400, "Protocol")
    refused(tc.connect(token=src, protocols=("chat",)), 400, "Protocol")
    refused(tc.connect(token=src, query=""), 400, "local-proxy-mode")
    refused(tc.connect(token=src, query="local-proxy-mode=both"), 400,
            "local-proxy-mode")
    refused(tc.connect(), 400, "missing access token")
    refused(tc.connect(token=src, cookie="awsiot-tunnel-token=" + src),
            400, "more than one")
    refused(tc.connect(cookie="awsiot-tunnel-token=%s; "
                       "awsiot-tunnel-token=%s" % (src, src)), 400,
            "more than one")
    refused(tc.connect(token=src, client_token="short"), 400, "client-token")
    refused(tc.connect(token=src, client_token="x" * 31 + "!"), 400,
            "client-token")
    refused(tc.connect(token="AQGAAnot-a-token"), 401)
    refused(tc.connect(mode="destination", token=src), 400, "mode")
    refused(tc.connect(token=src, extra_headers=["User-Agent: " + "p" * 4200]),
            400, "4096")
    # None of those spent the token; header names are case-insensitive.
    ws = accepted(tc.connect(extra_headers=["Access-Token: " + src]))
    ws.close()


def case_subprotocols():
    for offer, want in [((tc.PROTOS[0],), tc.PROTOS[0]),
                        ((tc.PROTOS[1], tc.PROTOS[0]), tc.PROTOS[1]),
                        (("chat", tc.PROTOS[2]), tc.PROTOS[2])]:
        t = open_tunnel()
        ws = accepted(tc.connect(token=t["sourceAccessToken"],
                                 protocols=offer))
        got = ws.headers.get("sec-websocket-protocol")
        assert got == want, "offer %r answered %r" % (offer, got)
        ws.close()


def case_token_spent():
    t = open_tunnel()
    src = t["sourceAccessToken"]
    ws = accepted(tc.connect(token=src))
    refused(tc.connect(token=src), 409, "already connected")
    ws.close()
    tc.wait_until(lambda: states(t["tunnelId"])[0] == "DISCONNECTED")
    refused(tc.connect(token=src), 401, "already used")


def case_client_token():
    t = open_tunnel()
    dst = t["destinationAccessToken"]
    ws = accepted(tc.connect("destination", token=dst, client_token=CT))
    # the same client token cannot connect twice at once
    refused(tc.connect("destination", token=dst, client_token=CT), 409)
    ws.close()
    tc.wait_until(lambda: states(t["tunnelId"])[1] == "DISCONNECTED")
    # a retry with the same client token works, others do not
    refused(tc.connect("destination", token=dst), 401)
    refused(tc.connect("destination", token=dst,
                       client_token=CT.replace("c", "d")), 401)
    ws = accepted(tc.connect("destination", token=dst, client_token=CT))
    ws.close()


def case_service_ids_and_states():
    t = open_tunnel(services=("SSH", "VNC"))
    tid = t["tunnelId"]
    s0, d0, t0 = states(tid)
    assert (s0, d0) == ("DISCONNECTED", "DISCONNECTED")
    src = accepted(tc.connect(token=t["sourceAccessToken"]))
    assert service_ids(src) == ["SSH", "VNC"]
    s1, d1, t1 = states(tid)
    assert (s1, d1) == ("CONNECTED", "DISCONNECTED"), (s1, d1)
    assert t1["sourceConnectionState"]["lastUpdatedAt"] > \
        t0["sourceConnectionState"]["lastUpdatedAt"]
    dst = accepted(tc.connect("destination",
                              token=t["destinationAccessToken"]))
    assert service_ids(dst) == ["SSH", "VNC"]
    assert states(tid)[:2] == ("CONNECTED", "CONNECTED")
    # pings are answered
    src.ping(b"p1")
    assert src.wait_pong() == b"p1", "no pong"
    dst.close()
    tc.wait_until(lambda: states(tid)[:2] == ("CONNECTED", "DISCONNECTED"),
                  what="destination DISCONNECTED")
    src.close()


def case_v1_no_service_ids():
    t = open_tunnel()
    src = accepted(tc.connect(token=t["sourceAccessToken"],
                              protocols=(tc.PROTOS[2],)))
    dst = accepted(tc.connect("destination",
                              token=t["destinationAccessToken"],
                              protocols=(tc.PROTOS[2],)))
    src.send_msgs(encode(STREAM_START, 1))
    m = dst.recv_msgs(1)[0]
    assert m["type"] == STREAM_START, "V1 got %r first" % m
    src.close()
    dst.close()


def pair(services=("SSH",)):
    t = open_tunnel(services)
    src = accepted(tc.connect(token=t["sourceAccessToken"]))
    service_ids(src)
    dst = accepted(tc.connect("destination",
                              token=t["destinationAccessToken"]))
    service_ids(dst)
    return t, src, dst


def case_relay_in_order():
    t, src, dst = pair()
    frames = [encode(STREAM_START, 1, service_id="SSH", connection_id=1)]
    payloads = [bytes([i % 256]) * (1 + (i * 997) % 3000)
                for i in range(200)]
    payloads.append(os.urandom(64512))
    frames += [encode(DATA, 1, payload=p, service_id="SSH", connection_id=1)
               for p in payloads]
    blob = b"".join(frames)
    # Tunnel frames across WebSocket frames and messages anyhow.
    off, k = 0, 0
    sizes = [1, 2, 3, 700, 5, 4096, 13, 65536, 1, 131076, 20000]
    while off < len(blob):
        n = sizes[k % len(sizes)]
        part = blob[off:off + n]
        src.send_message(part, chunks=[1, 1, 17, 300])
        off += n
        k += 1
    got = dst.recv_msgs(1 + len(payloads), timeout=60)
    assert got[0]["type"] == STREAM_START and got[0]["streamId"] == 1
    assert got[0]["serviceId"] == "SSH" and got[0]["connectionId"] == 1
    for i, m in enumerate(got[1:]):
        assert m["type"] == DATA and m["payload"] == payloads[i], \
            "message %d differs" % i
    # and back, several frames in one WebSocket message
    dst.send_msgs(*[encode(DATA, 1, payload=b"r%d" % i, service_id="SSH",
                           connection_id=1) for i in range(50)])
    back = src.recv_msgs(50)
    assert [m["payload"] for m in back] == [b"r%d" % i for i in range(50)]
    src.close()
    dst.close()


def case_hold_until_peer():
    t = open_tunnel()
    src = accepted(tc.connect(token=t["sourceAccessToken"]))
    service_ids(src)
    src.send_msgs(encode(DATA, 7, payload=b"early", service_id="SSH",
                         connection_id=1))
    time.sleep(0.2)
    dst = accepted(tc.connect("destination",
                              token=t["destinationAccessToken"]))
    m = dst.recv_msgs(2)
    assert m[0]["type"] == SERVICE_IDS, m
    assert m[1]["type"] == DATA and m[1]["payload"] == b"early", m
    src.close()
    dst.close()


def case_stream_reset():
    # STREAM_START with no destination: STREAM_RESET (undocumented)
    t = open_tunnel()
    src = accepted(tc.connect(token=t["sourceAccessToken"]))
    service_ids(src)
    src.send_msgs(encode(STREAM_START, 3, service_id="SSH", connection_id=1))
    m = src.recv_msgs(1)[0]
    assert m["type"] == STREAM_RESET and m["streamId"] == 3, m
    assert m["serviceId"] == "SSH", m
    # a service the tunnel does not have: STREAM_RESET
    src.send_msgs(encode(STREAM_START, 4, service_id="RDP", connection_id=1))
    m = src.recv_msgs(1)[0]
    assert m["type"] == STREAM_RESET and m["streamId"] == 4, m
    src.close()

    # destination gone: the source gets STREAM_RESET for its stream
    t, src, dst = pair()
    src.send_msgs(encode(STREAM_START, 5, service_id="SSH", connection_id=1))
    assert dst.recv_msgs(1)[0]["type"] == STREAM_START
    dst.close()
    m = src.recv_msgs(1)[0]
    assert m["type"] == STREAM_RESET and m["streamId"] == 5, m

    # source gone: the destination gets STREAM_RESET
    t, src, dst = pair()
    src.send_msgs(encode(STREAM_START, 9, service_id="SSH", connection_id=1))
    assert dst.recv_msgs(1)[0]["type"] == STREAM_START
    src.close()
    m = dst.recv_msgs(1)[0]
    assert m["type"] == STREAM_RESET and m["streamId"] == 9, m
    dst.close()

    # a stream ended by a STREAM_RESET is not reset again
    t, src, dst = pair()
    src.send_msgs(encode(STREAM_START, 2, service_id="SSH", connection_id=1))
    assert dst.recv_msgs(1)[0]["type"] == STREAM_START
    dst.send_msgs(encode(STREAM_RESET, 2, service_id="SSH"))
    assert src.recv_msgs(1)[0]["type"] == STREAM_RESET
    src.send_msgs(encode(DATA, 2, payload=b"x", service_id="SSH",
                         connection_id=1))
    assert dst.recv_msgs(1)[0]["type"] == DATA
    dst.close()
    src.sock.settimeout(1)
    try:
        op, data = src.recv_message()
        raise AssertionError("unexpected message after reset: %r" % data)
    except (TimeoutError, OSError):
        pass
    src.close()


def case_violations():
    bad = [
        ("destination", encode(STREAM_START, 1, service_id="SSH"),
         "destination never sends"),
        ("destination", encode(CONNECTION_START, 1, service_id="SSH",
                               connection_id=2), "destination never sends"),
        ("source", encode(SERVICE_IDS, available=["SSH"]), "never send"),
        ("source", encode(SESSION_RESET), "never send"),
        ("source", encode(0, 1, payload=b"x"), "type"),
        ("source", encode(DATA, 1, payload=b"x", extra=b"\x40\x01"),
         "unknown fields"),
        ("source", encode(DATA, 1, payload=b"x" * 64513), "payload"),
        ("source", encode(99, 1), "unknown message type"),
        ("source", encode(DATA, 0, payload=b"x"), "stream id"),
        ("source", b"\x00\x03\xff\xff\xff", ""),
    ]
    for side, frame, text in bad:
        t, src, dst = pair()
        ws = src if side == "source" else dst
        ws.send_msgs(frame)
        code, reason = ws.expect_close()
        assert code == 1002, "%s %r: close %r %r" % (side, frame[:8], code,
                                                      reason)
        assert text in reason, "reason %r lacks %r" % (reason, text)
        other = dst if ws is src else src
        other.close()
    # fields newer than the connection's subprotocol
    for proto, frame, text in [
            (tc.PROTOS[2], encode(STREAM_START, 1, service_id="SSH"),
             "serviceId in subprotocol 1.0"),
            (tc.PROTOS[1], encode(STREAM_START, 1, service_id="SSH",
                                  connection_id=1), "connectionId")]:
        t = open_tunnel()
        ws = accepted(tc.connect(token=t["sourceAccessToken"],
                                 protocols=(proto,)))
        ws.send_msgs(frame)
        code, reason = ws.expect_close()
        assert code == 1002 and text in reason, (proto, code, reason)
    # a text frame
    t, src, dst = pair()
    src.send_message(b"hello", opcode=1)
    code, reason = src.expect_close()
    assert code == 1002 and "text" in reason, (code, reason)
    dst.close()
    # an ignorable unknown type is dropped, the connection lives on
    t, src, dst = pair()
    src.send_msgs(encode(99, 1, ignorable=True),
                  encode(STREAM_START, 1, service_id="SSH", connection_id=1))
    m = dst.recv_msgs(1)[0]
    assert m["type"] == STREAM_START, m
    src.close()
    dst.close()


def case_close_tunnel():
    t, src, dst = pair()
    API.close_tunnel(tunnelId=t["tunnelId"])
    for ws in (src, dst):
        code, reason = ws.expect_close()
        assert code == 1000, (code, reason)
    s, d, desc = states(t["tunnelId"])
    assert desc["status"] == "CLOSED"
    tc.wait_until(lambda: states(t["tunnelId"])[:2] ==
                  ("DISCONNECTED", "DISCONNECTED"), what="disconnected")
    refused(tc.connect(token=t["sourceAccessToken"]), 401)


def case_lifetime_expiry():
    # The emulator runs with --seconds-per-minute 1: 1 minute lasts 1 s.
    # 10 s, not 1: both sides must connect before the end, and on a
    # loaded machine two TLS handshakes can take more than a second.
    t = API.open_tunnel(destinationConfig={"services": ["SSH"]},
                        timeoutConfig={"maxLifetimeTimeoutMinutes": 10})
    src = accepted(tc.connect(token=t["sourceAccessToken"]))
    dst = accepted(tc.connect("destination",
                              token=t["destinationAccessToken"]))
    for ws in (src, dst):
        code, reason = ws.expect_close(timeout=60)
        assert code == 1000, (code, reason)
    d = API.describe_tunnel(tunnelId=t["tunnelId"])["tunnel"]
    assert d["status"] == "CLOSED", d["status"]
    assert d["timeoutConfig"]["maxLifetimeTimeoutMinutes"] == 10


def case_rotate_drops():
    t, src, dst = pair()
    src.send_msgs(encode(STREAM_START, 6, service_id="SSH", connection_id=1))
    assert dst.recv_msgs(1)[0]["type"] == STREAM_START
    r = API.rotate_tunnel_access_token(tunnelId=t["tunnelId"],
                                       clientMode="DESTINATION")
    # The new token connects at once: the old connection is gone.
    dst2 = accepted(tc.connect("destination",
                               token=r["destinationAccessToken"]))
    assert service_ids(dst2) == ["SSH"]
    code, reason = dst.expect_close()
    assert code == 1008 and "rotated" in reason, (code, reason)
    m = src.recv_msgs(1)[0]
    assert m["type"] == STREAM_RESET and m["streamId"] == 6, m
    refused(tc.connect("destination", token=t["destinationAccessToken"]),
            401)
    src.close()
    dst2.close()


def case_back_pressure():
    t, src, dst = pair()
    src.send_msgs(encode(STREAM_START, 1, service_id="SSH", connection_id=1))
    chunk = os.urandom(60000)
    frame = encode(DATA, 1, payload=chunk, service_id="SSH",
                   connection_id=1)
    # The destination does not read: the emulator must stop reading
    # from the source instead of buffering without bound.
    src.sock.settimeout(3)
    sent = 0
    try:
        while sent < 1700 * len(frame):
            src.send_msgs(frame)
            sent += len(frame)
    except (TimeoutError, OSError):
        pass
    assert sent < 1700 * len(frame), "100 MB absorbed: no back-pressure"
    # All of it arrives once the destination reads, in order.
    n = sent // len(frame)
    got = dst.recv_msgs(1 + n, timeout=60)
    assert all(m["payload"] == chunk for m in got[1:n])
    src.close()
    dst.close()


# ---- RFC 6455 rules the emulator enforces (issue 13 item 11) ----

def no_message(ws, secs=1):
    """Nothing arrives on ws within secs (a deadline, not a timing)."""
    ws.sock.settimeout(secs)
    try:
        op, data = ws.recv_message()
        raise AssertionError("unexpected message: %r" % data[:40])
    except (TimeoutError, OSError):
        pass


def case_unmasked_frame_refused():
    t, src, dst = pair()
    src.send_frame(2, encode(STREAM_START, 1, service_id="SSH",
                             connection_id=1), masked=False)
    code, reason = src.expect_close()
    assert code == 1002 and "mask" in reason, (code, reason)
    no_message(dst)  # and nothing of it was relayed
    dst.close()


def case_bad_close_reason_refused():
    t, src, dst = pair()
    bad = b"\xff\xfe not UTF-8 \xc0\xaf"
    src.send_frame(8, struct.pack(">H", 1000) + bad)
    code, reason = src.expect_close()
    assert code == 1007, (code, reason)
    assert b"not UTF-8 \xc0" not in src.close_raw, src.close_raw
    dst.close()
    # A valid close is answered with its code, never its reason.
    t, src, dst = pair()
    src.send_frame(8, struct.pack(">H", 1000) + b"client says bye")
    code, reason = src.expect_close()
    assert code == 1000 and "bye" not in reason, (code, reason)
    dst.close()


def case_ping_inside_fragmented_message():
    t, src, dst = pair()
    frames = [encode(STREAM_START, 1, service_id="SSH", connection_id=1)]
    payloads = [os.urandom(n) for n in (1, 5000, 64512, 3)]
    frames += [encode(DATA, 1, payload=p, service_id="SSH", connection_id=1)
               for p in payloads]
    blob = b"".join(frames)
    a, b = len(blob) // 3, 2 * len(blob) // 3
    src.send_frame(2, blob[:a], fin=False)
    src.ping(b"ping one")
    src.send_frame(0, blob[a:b], fin=False)
    src.ping(b"ping two")
    src.send_frame(0, blob[b:], fin=True)
    assert src.wait_pong() == b"ping one"
    assert src.wait_pong() == b"ping two"
    got = dst.recv_msgs(1 + len(payloads))
    assert got[0]["type"] == STREAM_START, got[0]
    assert [m["payload"] for m in got[1:]] == payloads
    src.close()
    dst.close()


def case_frame_too_big_refused():
    # One frame over 131076 bytes: refused from its header (1009), the
    # payload never sent.
    for length in (131077, (1 << 63) - 1):
        t, src, dst = pair()
        src.send_frame(2, b"\x00" * 100, length=length)
        code, reason = src.expect_close()
        assert code == 1009, (length, code, reason)
        assert str(length) in reason and "131076" in reason, reason
        dst.close()
    # A message over it in frames that are each under it.
    t, src, dst = pair()
    blob = encode(STREAM_START, 1, service_id="SSH", connection_id=1) + \
        b"".join(encode(DATA, 1, payload=os.urandom(60000), service_id="SSH",
                        connection_id=1) for i in range(3))
    src.send_frame(2, blob[:70000], fin=False)
    try:
        src.send_frame(0, blob[70000:140000], fin=True)
    except OSError:
        pass  # refused from the header: the rest may meet a closed socket
    code, reason = src.expect_close()
    assert code == 1009 and "131076" in reason, (code, reason)
    dst.close()




CASES = [case_refusals, case_subprotocols, case_token_spent,
         case_client_token, case_service_ids_and_states,
         case_v1_no_service_ids, case_relay_in_order, case_hold_until_peer,
         case_stream_reset, case_violations, case_close_tunnel,
         case_lifetime_expiry, case_rotate_drops, case_back_pressure,
         case_unmasked_frame_refused, case_bad_close_reason_refused,
         case_ping_inside_fragmented_message, case_frame_too_big_refused]


if __name__ == "__main__":
    sys.exit(tc.run_cases(CASES, sys.argv[1:]))
