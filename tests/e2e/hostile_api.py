"""hostile_api.py PORTFILE LOG MODE: an IoT Secure Tunneling API over
plain HTTP that answers every call with what MODE says, for tests of what
the programs do with answers a real service would not send. Each
request's X-Amz-Target and body go to LOG, one JSON line each.

MODE:
  long-id     OpenTunnel answers a tunnelId of 200 valid characters
  escape-id   OpenTunnel answers a tunnelId holding terminal escapes
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IDS = {
    "long-id": "a" * 200,
    "escape-id": "id\x1b]0;owned\x07\x1b[2J",
}


def main():
    portfile, log, mode = sys.argv[1:4]

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n).decode(errors="replace")
            target = self.headers.get("X-Amz-Target", "")
            with open(log, "a") as f:
                f.write(json.dumps({"target": target, "body": body}) + "\n")
            op = target.rpartition(".")[2]
            if op == "OpenTunnel":
                out = {"tunnelId": IDS[mode],
                       "tunnelArn": "arn:aws:iot:us-east-1:1:tunnel/x",
                       "sourceAccessToken": "src-token-SECRET",
                       "destinationAccessToken": "dst-token-SECRET"}
            else:
                out = {}
            data = json.dumps(out).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    import os
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


main()
