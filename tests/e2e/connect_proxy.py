#!/usr/bin/python3
"""An HTTP CONNECT proxy for the e2e tests, with awkward answers on demand.

    connect_proxy.py MODE LOG

Prints "listening PORT" on stdout (and creates LOG). MODE:
  plain   an ordinary proxy
  split   "HTTP/1.1 200 " and the rest of the answer in two TCP segments
          (lws 4.1.6's own CONNECT broke TLS on that)
  407     "HTTP/1.1 407 Proxy Authentication Required"
  auth    an ordinary proxy for the user "us@er" with the password "p w"
          only (HTTPS_PROXY percent-encodes them), 407 for anyone else
Each request head goes to LOG as one line (" | " between header lines),
with a Proxy-Authorization value replaced by "<set>".
"""
import base64
import socket
import sys
import threading
import time


def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(c, mode, logf):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(4096)
        if not d:
            return
        buf += d
    head = buf.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    lines = [("Proxy-Authorization: <set>"
              if ln.lower().startswith("proxy-authorization:") else ln)
             for ln in head.split("\r\n")]
    with open(logf, "a") as f:
        f.write(" | ".join(lines) + "\n")
    method = lines[0].split()[0] if lines[0] else ""
    if method != "CONNECT":
        c.sendall(b"HTTP/1.1 405 no\r\n\r\n")
        return
    auth = [ln.split(":", 1)[1].strip() for ln in head.split("\r\n")
            if ln.lower().startswith("proxy-authorization:")]
    want = "Basic " + base64.b64encode(b"us@er:p w").decode()
    if mode == "407" or (mode == "auth" and auth != [want]):
        c.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                  b"Content-Length: 0\r\n\r\n")
        time.sleep(0.5)
        c.close()
        return
    host, port = lines[0].split()[1].rsplit(":", 1)
    u = socket.create_connection((host.strip("[]"), int(port)))
    if mode == "split":
        c.sendall(b"HTTP/1.1 200 ")
        time.sleep(0.3)
        c.sendall(b"Connection established\r\n\r\n")
    else:
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    pipe(u, c)


def main():
    mode, logf = sys.argv[1], sys.argv[2]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    open(logf, "a").close()
    print("listening %d" % s.getsockname()[1], flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, mode, logf),
                         daemon=True).start()


if __name__ == "__main__":
    main()
