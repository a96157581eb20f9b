"""ws_recorder.py PORTFILE LOG: a data plane on plain TCP that records
each WebSocket handshake request's headers (one JSON object a line in
LOG) and refuses it with HTTP 503, so that clients retry. For tests that
need to know what a client sent, e.g. its client-token."""
import json
import os
import socket
import sys
import threading


def serve(c, log):
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d:
                return
            buf += d
        lines = buf.split(b"\r\n\r\n")[0].decode(errors="replace")
        heads = {}
        for h in lines.split("\r\n")[1:]:
            k, _, v = h.partition(":")
            heads[k.strip().lower()] = v.strip()
        with open(log, "a") as f:
            f.write(json.dumps(heads) + "\n")
        c.sendall(b"HTTP/1.1 503 Service Unavailable\r\n"
                  b"Content-Length: 0\r\nConnection: close\r\n\r\n")
    finally:
        c.close()


def main():
    portfile, log = sys.argv[1:3]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    os.rename(portfile + ".tmp", portfile)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, log), daemon=True).start()


main()
