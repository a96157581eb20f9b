"""tunnel_client.py: a small AWS IoT Secure Tunneling client for tests.

Python standard library only: TLS with ssl, WebSocket framing (RFC 6455)
by hand, tunnel frames (2-byte big-endian length + protobuf Message) by
hand. It is deliberately independent of the C code it tests, and lets a
test send what a correct client never would (bad fields, odd fragments).
"""
import base64
import os
import socket
import ssl
import struct
import sys
import time
from urllib.parse import urlparse

PROTOS = ["aws.iot.securetunneling-3.0", "aws.iot.securetunneling-2.0",
          "aws.iot.securetunneling-1.0"]

DATA, STREAM_START, STREAM_RESET, SESSION_RESET, SERVICE_IDS, \
    CONNECTION_START, CONNECTION_RESET = range(1, 8)


# ---- protobuf Message ----

def _varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field, wire):
    return _varint(field << 3 | wire)


def encode(type, stream_id=0, ignorable=False, payload=b"", service_id=None,
           available=(), connection_id=0, extra=b"", prefix=True):
    """One tunnel frame (length prefix included unless prefix=False)."""
    b = bytearray()
    if type:
        b += _key(1, 0) + _varint(type)
    if stream_id:
        b += _key(2, 0) + _varint(stream_id)
    if ignorable:
        b += _key(3, 0) + _varint(1)
    if payload:
        b += _key(4, 2) + _varint(len(payload)) + payload
    if service_id:
        s = service_id.encode()
        b += _key(5, 2) + _varint(len(s)) + s
    for a in available:
        s = a.encode()
        b += _key(6, 2) + _varint(len(s)) + s
    if connection_id:
        b += _key(7, 0) + _varint(connection_id)
    b += extra
    if not prefix:
        return bytes(b)
    return struct.pack(">H", len(b)) + bytes(b)


def _read_varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def decode(body):
    m = {"type": 0, "streamId": 0, "ignorable": False, "payload": b"",
         "serviceId": "", "availableServiceIds": [], "connectionId": 0,
         "unknown": []}
    i = 0
    while i < len(body):
        k, i = _read_varint(body, i)
        field, wire = k >> 3, k & 7
        if wire == 0:
            v, i = _read_varint(body, i)
        elif wire == 2:
            n, i = _read_varint(body, i)
            v = bytes(body[i:i + n])
            i += n
        else:
            raise ValueError("wire type %d" % wire)
        if field == 1:
            m["type"] = v
        elif field == 2:
            m["streamId"] = v - (1 << 64) if v >= 1 << 63 else v
        elif field == 3:
            m["ignorable"] = bool(v)
        elif field == 4:
            m["payload"] = v
        elif field == 5:
            m["serviceId"] = v.decode()
        elif field == 6:
            m["availableServiceIds"].append(v.decode())
        elif field == 7:
            m["connectionId"] = v
        else:
            m["unknown"].append(field)
    return m


class FrameReader:
    """Reassembles tunnel frames from any split of the byte stream."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        out = []
        while len(self.buf) >= 2:
            n = struct.unpack(">H", self.buf[:2])[0]
            if len(self.buf) < 2 + n:
                break
            out.append(decode(bytes(self.buf[2:2 + n])))
            del self.buf[:2 + n]
        return out


# ---- WebSocket ----

class Closed(Exception):
    def __init__(self, code, reason, raw=b""):
        super().__init__("closed %s %r" % (code, reason))
        self.code = code
        self.reason = reason
        self.raw = raw  # the reason's bytes as they came


class WS:
    def __init__(self, sock, status, headers, leftover=b""):
        self.sock = sock
        self.status = status
        self.headers = headers
        self.rbuf = bytearray(leftover)
        self.reader = FrameReader()
        self.pending = []
        self.pongs = []
        self.close_raw = None

    # raw frames
    def send_frame(self, opcode, data, fin=True, masked=True, length=None):
        """One frame; masked=False breaks RFC 6455 (5.1), length claims
        a payload length other than len(data) (a hostile header)."""
        hdr = bytearray([(0x80 if fin else 0) | opcode])
        n = len(data) if length is None else length
        m = 0x80 if masked else 0
        if n < 126:
            hdr.append(m | n)
        elif n < 65536:
            hdr.append(m | 126)
            hdr += struct.pack(">H", n)
        else:
            hdr.append(m | 127)
            hdr += struct.pack(">Q", n)
        if not masked:
            self.sock.sendall(bytes(hdr) + data)
            return
        mask = os.urandom(4)
        hdr += mask
        out = bytes(b ^ mask[i & 3] for i, b in enumerate(data)) \
            if len(data) < 4096 else _mask_fast(data, mask)
        self.sock.sendall(bytes(hdr) + out)

    def send_message(self, data, opcode=2, chunks=None):
        """One message; chunks: sizes of its WebSocket frames."""
        if not chunks:
            self.send_frame(opcode, data)
            return
        parts, off = [], 0
        for n in chunks:
            if off >= len(data):
                break
            parts.append(data[off:off + n])
            off += n
        if off < len(data):
            parts.append(data[off:])
        for i, part in enumerate(parts):
            self.send_frame(opcode if i == 0 else 0, part,
                            fin=i == len(parts) - 1)

    def _read(self, n):
        while len(self.rbuf) < n:
            d = self.sock.recv(65536)
            if not d:
                raise Closed(None, "EOF")
            self.rbuf += d
        out = bytes(self.rbuf[:n])
        del self.rbuf[:n]
        return out

    def recv_frame(self):
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._read(8))[0]
        if b1 & 0x80:
            raise ValueError("masked frame from the server")
        return bool(b0 & 0x80), b0 & 0x0F, self._read(n)

    def recv_message(self):
        """(opcode, data); answers pings; raises Closed on close."""
        buf = bytearray()
        op = None
        while True:
            fin, opcode, data = self.recv_frame()
            if opcode == 9:
                self.send_frame(10, data)
                continue
            if opcode == 10:
                self.pongs.append(data)
                continue
            if opcode == 8:
                code = struct.unpack(">H", data[:2])[0] if len(data) >= 2 \
                    else None
                try:
                    self.send_frame(8, data[:2])
                except OSError:
                    pass
                raise Closed(code, data[2:].decode(errors="replace"),
                             data[2:])
            if opcode != 0:
                op = opcode
            buf += data
            if fin:
                return op, bytes(buf)

    def recv_msgs(self, n=1, timeout=60):
        """The next n tunnel messages."""
        self.sock.settimeout(timeout)
        while len(self.pending) < n:
            op, data = self.recv_message()
            if op != 2:
                raise ValueError("text message from the server")
            self.pending += self.reader.feed(data)
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def expect_close(self, timeout=60):
        """Reads until the server closes; returns (code, reason)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                self.recv_message()
        except Closed as c:
            self.close_raw = c.raw
            return c.code, c.reason
        except (ConnectionError, ssl.SSLError, OSError):
            return None, "connection lost"

    def send_msgs(self, *frames, chunks=None):
        self.send_message(b"".join(frames), chunks=chunks)

    def ping(self, data=b"hi"):
        self.send_frame(9, data)

    def wait_pong(self, timeout=60):
        """Reads frames until a pong arrives; returns its payload."""
        self.sock.settimeout(timeout)
        while not self.pongs:
            fin, opcode, data = self.recv_frame()
            if opcode == 10:
                self.pongs.append(data)
            elif opcode != 9:
                self.pending += self.reader.feed(data)
        return self.pongs.pop(0)

    def close(self):
        try:
            self.send_frame(8, struct.pack(">H", 1000))
            self.sock.close()
        except OSError:
            pass


def _mask_fast(data, mask):
    n = len(data)
    m = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(m, "big")).to_bytes(
        n, "big")


class Refused:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self):
        return "Refused(%d, %r)" % (self.status, self.body)


def connect(mode="source", token=None, cookie=None, client_token=None,
            protocols=(PROTOS[0],), path="/tunnel", query=None,
            extra_headers=(), url=None, ca=None, timeout=60):
    """Handshake; returns a WS (status 101) or a Refused."""
    u = urlparse(url or os.environ["EMU_URL"])
    ca = ca or os.environ.get("IST_CA")
    raw = socket.create_connection((u.hostname, u.port), timeout=timeout)
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=ca)
        ctx.set_alpn_protocols(["http/1.1"])
        sock = ctx.wrap_socket(raw, server_hostname=u.hostname)
    else:
        sock = raw
    if query is None:
        query = "local-proxy-mode=" + mode
    target = path + ("?" + query if query else "")
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET %s HTTP/1.1" % target, "Host: %s:%d" % (u.hostname, u.port),
             "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
    if protocols:
        lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
    if token is not None:
        lines.append("access-token: " + token)
    if cookie is not None:
        lines.append("Cookie: " + cookie)
    if client_token is not None:
        lines.append("client-token: " + client_token)
    lines += list(extra_headers)
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            sock.close()
            return Refused(0, {}, "connection closed without a reply")
        buf += d
    head, rest = bytes(buf).split(b"\r\n\r\n", 1)
    hl = head.decode(errors="replace").split("\r\n")
    status = int(hl[0].split()[1])
    headers = {}
    for h in hl[1:]:
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()
    if status == 101:
        return WS(sock, status, headers, rest)
    n = int(headers.get("content-length", "0"))
    body = bytearray(rest)
    sock.settimeout(timeout)
    while len(body) < n:
        d = sock.recv(65536)
        if not d:
            break
        body += d
    sock.close()
    return Refused(status, headers, bytes(body).decode(errors="replace"))


# ---- the API, through botocore (the AWS SDK the CLI uses) ----

def api():
    import botocore.session
    s = botocore.session.get_session()
    return s.create_client(
        "iotsecuretunneling", region_name="us-east-1",
        endpoint_url=os.environ["EMU_URL"], verify=os.environ["IST_CA"])


def wait_until(pred, timeout=60, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def admin(endpoint, **body):
    """POST /admin/<endpoint> (emulator started with --admin)."""
    import json
    import urllib.request
    ctx = ssl.create_default_context(cafile=os.environ["IST_CA"])
    req = urllib.request.Request(
        os.environ["EMU_URL"] + "/admin/" + endpoint,
        data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=60) as r:
        return json.loads(r.read())


def urllib_error():
    """The exception admin() raises for an HTTP error status."""
    import urllib.error
    return urllib.error.HTTPError


def run_cases(cases, only):
    """Runs the case functions (those named in only, if any), stopping at
    the first failure; returns the exit status for sys.exit."""
    import traceback
    for case in cases:
        if only and case.__name__ not in only:
            continue
        try:
            case()
        except Exception:
            traceback.print_exc()
            print("FAIL: %s" % case.__name__, file=sys.stderr)
            return 1
        print("ok %s" % case.__name__)
    return 0
