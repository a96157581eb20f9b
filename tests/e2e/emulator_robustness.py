"""emulator_robustness.py: hostile and broken clients, then a check that
the emulator still serves both planes. Run by emulator_robustness.sh."""
import os
import random
import socket
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tunnel_client as tc  # noqa: E402
from tunnel_client import DATA, STREAM_START, encode  # noqa: E402

URL = os.environ["EMU_URL"]
PORT = int(URL.rsplit(":", 1)[1])
CTX = ssl.create_default_context(cafile=os.environ["IST_CA"])
rnd = random.Random(1234)


def tls():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    return CTX.wrap_socket(s, server_hostname="127.0.0.1")


def drain(s):
    try:
        s.settimeout(2)
        while s.recv(65536):
            pass
    except (OSError, ssl.SSLError):
        pass
    s.close()


def main():
    api = tc.api()
    # Raw TCP garbage instead of a TLS handshake.
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        s.sendall(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1,
                                                                    3000))))
        drain(s)
    # Garbage HTTP over TLS, oversized headers, truncated requests.
    junk = [b"\x00" * 100, b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 40000,
            b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n{",
            b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
            b"GET /tunnel?local-proxy-mode=source HTTP/1.1\r\nUpgrade: "
            b"websocket\r\nConnection: Upgrade\r\n\r\n",
            b"GET /tunnel HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"
            b"Sec-WebSocket-Protocol: aws.iot.securetunneling-3.0\r\n"
            b"access-token: " + b"t" * 20000 + b"\r\n\r\n",
            b"POST /admin/fail HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"]
    for j in junk:
        try:
            s = tls()
            s.sendall(j)
            drain(s)
        except (OSError, ssl.SSLError):
            pass
    # Connections dropped at each stage of a session.
    for i in range(10):
        t = api.open_tunnel(destinationConfig={"services": ["SSH"]})
        src = tc.connect(token=t["sourceAccessToken"])
        dst = tc.connect("destination", token=t["destinationAccessToken"])
        src.send_msgs(encode(STREAM_START, 1, service_id="SSH",
                             connection_id=1))
        frame = encode(DATA, 1, payload=os.urandom(30000), service_id="SSH",
                       connection_id=1)
        # half a WebSocket frame, then gone
        src.send_message(frame * 3, chunks=[rnd.randrange(1, 90000)])
        src.sock.close()
        if i % 2:
            dst.sock.close()
        else:
            dst.expect_close(timeout=1)
            dst.sock.close()
        if i % 3 == 0:
            api.close_tunnel(tunnelId=t["tunnelId"], delete=True)
    # Many tunnels: a full page of ListTunnels (a large answer), and the
    # rest on the next page.
    for i in range(110):
        api.open_tunnel(description="bulk %d" % i)
    r = api.list_tunnels(maxResults=100)
    assert len(r["tunnelSummaries"]) == 100 and r.get("nextToken"), \
        len(r["tunnelSummaries"])
    assert r["tunnelSummaries"][0]["description"] == "bulk 109"
    r2 = api.list_tunnels(maxResults=100, nextToken=r["nextToken"])
    ids = {x["tunnelId"] for x in r["tunnelSummaries"]} | \
        {x["tunnelId"] for x in r2["tunnelSummaries"]}
    assert len(ids) == 100 + len(r2["tunnelSummaries"]) >= 110
    # Still serving: a full exchange works.
    t = api.open_tunnel(destinationConfig={"services": ["SSH"]})
    src = tc.connect(token=t["sourceAccessToken"])
    dst = tc.connect("destination", token=t["destinationAccessToken"])
    assert isinstance(src, tc.WS) and isinstance(dst, tc.WS)
    src.recv_msgs(1)
    dst.recv_msgs(1)
    src.send_msgs(encode(STREAM_START, 1, service_id="SSH", connection_id=1),
                  encode(DATA, 1, payload=b"still here", service_id="SSH",
                         connection_id=1))
    m = dst.recv_msgs(2)
    assert m[1]["payload"] == b"still here", m
    http_framing()
    print("ok robustness")


def read_answer(s, buf):
    """One HTTP answer from s (buf: bytes already read); returns
    (status, headers, body, rest)."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise AssertionError("closed before an answer: %r" % buf[:80])
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, _, v in
            (h.partition(":") for h in lines[1:])}
    n = int(hdrs.get("content-length", "0"))
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            break
        rest += d
    return int(lines[0].split()[1]), hdrs, rest[:n], rest[n:]


def http_framing():
    """The emulator's own HTTP/1.1 reader: pipelining, keep-alive,
    100-continue, what it refuses."""
    req = (b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: "
           b"IoTSecuredTunneling.ListTunnels\r\nContent-Length: 2\r\n\r\n{}")
    # Three requests in one write, a fourth split byte by byte: four
    # answers, in order, on the same connection.
    s = tls()
    s.sendall(req + b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" + req)
    for ch in req:
        s.sendall(bytes([ch]))
    rest, got = b"", []
    for i in range(4):
        st, h, body, rest = read_answer(s, rest)
        got.append(st)
        assert h.get("x-amzn-requestid"), h
    assert got == [403, 404, 403, 403], got
    # Expect: 100-continue is answered before the body is sent.
    s.sendall(req.replace(b"Content-Length", b"Expect: 100-continue\r\n"
                          b"Content-Length").rsplit(b"{}", 1)[0])
    st, h, body, rest = read_answer(s, b"")
    assert st == 100, st
    s.sendall(b"{}")
    st, h, body, rest = read_answer(s, rest)
    assert st == 403, st
    s.close()
    # Refused, and the connection closed: chunked bodies, a body over
    # 512 KiB, HTTP/2 preface.
    for r, want in [
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
            (b"POST / HTTP/1.1\r\nContent-Length: 600000\r\n\r\n", 413),
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400)]:
        s = tls()
        s.sendall(r)
        st, h, body, rest = read_answer(s, b"")
        assert st == want, (r, st)
        assert h.get("connection") == "close", h
        s.settimeout(10)
        assert s.recv(100) == b"", "still open after %d" % st
        s.close()
    print("ok http framing")


if __name__ == "__main__":
    main()
