#!/usr/bin/python3
"""A hostile tunnel data plane for the e2e tests: a TLS WebSocket server
that answers the upgrade (or does not) and then breaks a rule on purpose.

    hostile_dataplane.py --cert C --key K --mode MODE [--plain]

MODE may be a comma-separated list: the i-th connection gets the i-th
mode (the last one for the rest).

Prints "listening PORT" on stdout once it accepts connections on
127.0.0.1 (port chosen by the kernel). Every connection gets MODE. Events
go to stderr, one line each ("request ...", "client close 1009", ...);
tokens are never printed.

Handshake modes:
  hang            TLS is accepted, the upgrade request read, never answered
  hang-tcp        TCP is accepted, nothing else (not even TLS)
  subprotocol     a valid 101 naming aws.iot.securetunneling-2.0
  http09          "hello" without a status line, then close
Frame modes, after a valid 101 (and SERVICE_IDS with --service-ids):
  big:N           one binary frame announcing N payload bytes, then as
                  many of them as the client takes: N <= 131076 carries
                  valid (stale) tunnel messages and a close 1000 follows
  hold            nothing more (a quiet, healthy tunnel)
  ping            a ping with 5 bytes, then (after the pong) a close 1000
  masked rsv op3 cont close1 ping200 len63 text
"""
import argparse
import base64
import hashlib
import select
import socket
import ssl
import struct
import sys
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROTO = "aws.iot.securetunneling-3.0"


LOG_LOCK = threading.Lock()


def log(*a):
    # One write per line under a lock: a connection's reader thread and
    # its sender log at once, and the tests match whole lines.
    line = " ".join(str(x) for x in a) + "\n"
    with LOG_LOCK:
        sys.stderr.write(line)
        sys.stderr.flush()


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def tunnel_frame(msg):
    return struct.pack(">H", len(msg)) + msg


def service_ids():
    # type SERVICE_IDS (5), availableServiceIds ["SSH"]
    return tunnel_frame(b"\x08\x05" + b"\x32\x03SSH")


def stale_data(n):
    """Tunnel frames totalling exactly n bytes (n >= 9): DATA on stream
    7777, which is not the active one (dropped as stale, PROTOCOL.md 2)."""
    out = []
    while n > 0:
        take = min(n, 60000)
        if 0 < n - take < 9:
            take = n - 9
        for vl in (1, 2, 3):
            pl = take - 8 - vl
            if pl >= 0 and len(varint(pl)) == vl:
                break
        msg = b"\x08\x01\x10" + varint(7777) + b"\x22" + varint(pl) + \
            b"x" * pl
        assert len(msg) + 2 == take
        out.append(tunnel_frame(msg))
        n -= take
    return b"".join(out)


def header(op, n, fin=True, rsv=0, mask=False):
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    m = 0x80 if mask else 0
    if n < 126:
        h = bytes([b0, m | n])
    elif n < 65536:
        h = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        h = bytes([b0, m | 127]) + struct.pack(">Q", n)
    return h + (b"\x01\x02\x03\x04" if mask else b"")


class Shared:
    """The connection after the upgrade, used by a reader thread and the
    sender at once. An ssl object is not safe across threads (two of them
    reading one corrupt its record state), so every call holds a lock and
    the socket is non-blocking: nobody waits while holding it."""

    RETRY = (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError)

    def __init__(self, s):
        self.s = s
        self.lock = threading.Lock()
        s.setblocking(False)

    def recv(self, n):
        while True:
            with self.lock:
                try:
                    return self.s.recv(n)
                except self.RETRY:
                    pass
            select.select([self.s], [], [], 0.05)

    def sendall(self, data, stall=None):
        """Raises TimeoutError when nothing is taken for stall seconds."""
        view = memoryview(data)
        last = time.monotonic()
        while view:
            with self.lock:
                try:
                    view = view[self.s.send(view):]
                    last = time.monotonic()
                    continue
                except self.RETRY:
                    pass
            if stall is not None and time.monotonic() - last > stall:
                raise TimeoutError("the client took nothing for %gs" % stall)
            select.select([], [self.s], [], 0.05)


def read_head(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            return None, b""
        buf += d
        if len(buf) > 65536:
            return None, b""
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


def client_frames(s, rest):
    """Logs what the client sends after the upgrade (masked frames)."""
    buf = rest
    log("reading client frames")
    try:
        while True:
            while len(buf) < 2:
                d = s.recv(65536)
                if not d:
                    log("client closed the connection")
                    return
                buf += d
            n = buf[1] & 0x7F
            hl = 2
            if n == 126:
                hl = 4
            elif n == 127:
                hl = 10
            hl += 4 if buf[1] & 0x80 else 0
            while len(buf) < hl:
                d = s.recv(65536)
                if not d:
                    log("client closed the connection")
                    return
                buf += d
            if n == 126:
                n = struct.unpack(">H", buf[2:4])[0]
            elif n == 127:
                n = struct.unpack(">Q", buf[2:10])[0]
            while len(buf) < hl + n:
                d = s.recv(65536)
                if not d:
                    log("client closed the connection")
                    return
                buf += d
            op = buf[0] & 0x0F
            payload = bytearray(buf[hl:hl + n])
            if buf[1] & 0x80:
                key = buf[hl - 4:hl]
                for i in range(len(payload)):
                    payload[i] ^= key[i % 4]
            else:
                log("client frame not masked")
            buf = buf[hl + n:]
            if op == 8:
                code = struct.unpack(">H", payload[:2])[0] if n >= 2 else 0
                log("client close %d" % code)
            elif op == 10:
                log("client pong %d" % n)
    except (OSError, ssl.SSLError, ValueError) as ex:
        # ValueError: the sender closed the socket under us.
        log("client connection error: %s" % ex)


def serve(c, a, mode):
    s = c
    try:
        if mode == "hang-tcp":
            log("tcp accepted, hanging")
            time.sleep(300)
            return
        if not a.plain:
            s = a.ctx.wrap_socket(c, server_side=True)
        head, rest = read_head(s)
        if head is None:
            log("no request")
            return
        lines = head.split("\r\n")
        log("request " + lines[0])
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        for k in ("access-token", "client-token", "sec-websocket-protocol",
                  "origin"):
            log("header %s %s" % (k, "present" if k in hdrs else "absent"))
        if mode == "hang":
            log("upgrade read, hanging")
            time.sleep(300)
            return
        if mode == "http09":
            s.sendall(b"hello\n")
            time.sleep(0.2)
            return
        acc = base64.b64encode(hashlib.sha1(
            hdrs.get("sec-websocket-key", "").encode() + GUID).digest())
        proto = PROTO if mode != "subprotocol" else \
            "aws.iot.securetunneling-2.0"
        s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket"
                  b"\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acc +
                  b"\r\nSec-WebSocket-Protocol: " + proto.encode() +
                  b"\r\nchannel-id: hostile\r\n\r\n")
        if mode == "subprotocol":
            time.sleep(2)
            return
        s = Shared(s)
        m = mode
        big = int(m[4:]) if m.startswith("big:") else 0
        # One reader per TLS socket: an ssl object read from two threads
        # corrupts its record state (both then fail "wrong version number").
        reader = None
        if big <= 131076:
            reader = threading.Thread(target=client_frames, args=(s, rest),
                                      daemon=True)
            reader.start()
        if a.service_ids:
            msg = service_ids()
            s.sendall(header(2, len(msg)) + msg)
            time.sleep(0.3)
        if big:
            n = big
            s.sendall(header(2, n))
            log("sent a frame header of %d bytes" % n)
            if n <= 131076:
                s.sendall(stale_data(n))
                time.sleep(0.5)
                s.sendall(header(8, 2) + struct.pack(">H", 1000))
                log("sent close 1000")
                time.sleep(2)
                return
            # As much of the payload as the client takes (it should stop
            # reading at the header), then what it says.
            chunk = b"\0" * 65536
            sent = 0
            try:
                while sent < n and sent < 64 * 1024 * 1024:
                    s.sendall(chunk[:min(65536, n - sent)], stall=2)
                    sent += min(65536, n - sent)
            except (OSError, ssl.SSLError) as ex:
                log("sending stopped: %s" % ex)
            log("sent about %d payload bytes" % sent)
            client_frames(s, rest)
            return
        if m == "ping":
            s.sendall(header(9, 5) + b"hello")
            log("sent ping")
            time.sleep(1)
            s.sendall(header(8, 2) + struct.pack(">H", 1000))
            log("sent close 1000")
            time.sleep(2)
            return
        if m == "hold":
            log("holding")
            reader.join()
            return
        frames = {
            "masked": header(2, 4, mask=True) + b"abcd",
            "rsv": header(2, 2, rsv=4) + b"\0\0",
            "op3": header(3, 0),
            "cont": header(0, 3) + b"abc",
            "close1": header(8, 1) + b"\x03",
            "ping200": header(9, 200) + b"p" * 200,
            "len63": bytes([0x82, 127]) + b"\x80" + b"\0" * 7,
            "text": header(1, 5) + b"hello",
        }
        s.sendall(frames[m])
        log("sent %s" % m)
        time.sleep(3)
    except (OSError, ssl.SSLError) as ex:
        log("connection error: %s" % ex)
    finally:
        try:
            (s.s if isinstance(s, Shared) else s).close()
        except OSError:
            pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--mode", required=True)
    p.add_argument("--plain", action="store_true")
    p.add_argument("--service-ids", action="store_true")
    a = p.parse_args()
    a.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    a.ctx.load_cert_chain(a.cert, a.key)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    print("listening %d" % ls.getsockname()[1], flush=True)
    modes = a.mode.split(",")
    i = 0
    while True:
        c, addr = ls.accept()
        mode = modes[min(i, len(modes) - 1)]
        i += 1
        log("accepted connection %d: %s" % (i, mode))
        threading.Thread(target=serve, args=(c, a, mode),
                         daemon=True).start()


if __name__ == "__main__":
    main()
