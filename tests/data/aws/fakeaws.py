#!/usr/bin/env python3
"""A small local HTTP server for the unit tests of the AWS modules.

It plays, on one port of 127.0.0.1:
  - the EC2 instance metadata service, IMDSv2 (PUT /latest/api/token first);
  - a container credentials endpoint (GET /creds), which checks the
    Authorization header;
  - the IoT Secure Tunneling API (POST /), checking each request's SigV4
    signature with botocore's signer, an implementation independent of ours,
    and answering from a tiny in-memory table of tunnels. Faults: the first
    N API calls answer with a given status and __type (--fail N:STATUS:TYPE).

Every request is appended to LOG as one JSON line, so the tests can check
what was sent (method, path, selected headers, attempt count).
Usage: fakeaws.py PORTFILE LOG [--container-auth TOKEN] [--no-role]
       [--imds-v1-only] [--fail N:STATUS:TYPE] [--secret KEY]
"""
import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

IMDS_TOKEN = "imds-session-token-SECRET-5d8f"
ROLE = "test-role"
CREDS = {
    "AccessKeyId": "ASIAFAKEMETADATA",
    "SecretAccessKey": "metadata-secret-key-SECRET-77",
    "Token": "metadata-session-token-SECRET-88",
    "Expiration": "2099-01-01T00:00:00Z",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("portfile")
    ap.add_argument("log")
    ap.add_argument("--container-auth")
    ap.add_argument("--no-role", action="store_true")
    ap.add_argument("--imds-v1-only", action="store_true")
    ap.add_argument("--fail", default="0:0:none")
    ap.add_argument("--secret", default="api-secret-key-SECRET-11")
    args = ap.parse_args()
    n, status, ftype = args.fail.split(":", 2)
    state = {"fail": int(n), "status": int(status), "type": ftype,
             "tunnels": {}, "next": 1}

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def record(self, extra=None):
            entry = {"method": self.command, "path": self.path,
                     "headers": {k.lower(): v for k, v in
                                 self.headers.items()}}
            entry.update(extra or {})
            with open(args.log, "a") as f:
                f.write(json.dumps(entry) + "\n")

        def send(self, code, body, ctype="application/json"):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self):
            n = int(self.headers.get("Content-Length", "0"))
            return self.rfile.read(n) if n else b""

        def do_PUT(self):
            self.body()
            self.record()
            if self.path == "/latest/api/token" and not args.imds_v1_only \
                    and self.headers.get(
                        "X-aws-ec2-metadata-token-ttl-seconds"):
                self.send(200, IMDS_TOKEN, "text/plain")
            else:
                self.send(403, "forbidden", "text/plain")

        def do_GET(self):
            self.record()
            base = "/latest/meta-data/iam/security-credentials/"
            if self.path.startswith(base):
                if self.headers.get("X-aws-ec2-metadata-token") != \
                        IMDS_TOKEN:
                    return self.send(401, "unauthorized", "text/plain")
                if self.path == base:
                    if args.no_role:
                        return self.send(404, "not found", "text/plain")
                    return self.send(200, ROLE + "\n", "text/plain")
                if self.path == base + ROLE:
                    return self.send(200, json.dumps(dict(
                        CREDS, Code="Success", Type="AWS-HMAC")))
                return self.send(404, "not found", "text/plain")
            if self.path == "/creds":
                if args.container_auth and self.headers.get(
                        "Authorization") != args.container_auth:
                    return self.send(401, '{"message":"bad token"}')
                return self.send(200, json.dumps(CREDS))
            self.send(404, "not found", "text/plain")

        def verify(self, body):
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("AWS4-HMAC-SHA256 "):
                return "no SigV4 Authorization header"
            parts = dict(p.strip().split("=", 1)
                         for p in auth[17:].split(","))
            akid, date, region, service, _ = parts["Credential"].split("/")
            if service != "IoTSecuredTunneling":
                return "signing name %s" % service
            signed = parts["SignedHeaders"].split(";")
            for need in ("host", "x-amz-date", "x-amz-target"):
                if need not in signed:
                    return "%s not signed" % need
            if self.headers.get("X-Amz-Security-Token") and \
                    "x-amz-security-token" not in signed:
                return "session token not signed"
            hdrs = {h: self.headers.get(h) for h in signed}
            # Through a proxy the request line holds the absolute URL.
            path = urlsplit(self.path).path or "/"
            req = AWSRequest(method="POST", url="http://%s%s" % (
                self.headers["Host"], path), data=body, headers=hdrs)
            req.context["timestamp"] = self.headers["X-Amz-Date"]
            signer = SigV4Auth(Credentials(akid, args.secret,
                               self.headers.get("X-Amz-Security-Token")),
                               service, region)
            creq = signer.canonical_request(req)
            sig = signer.signature(signer.string_to_sign(req, creq), req)
            if sig != parts["Signature"]:
                return "signature mismatch; botocore's canonical request:" \
                    "\n" + creq
            return None

        def error(self, code, etype, msg):
            self.send(code, json.dumps({"__type": etype, "message": msg}),
                      "application/x-amz-json-1.1")

        def do_POST(self):
            body = self.body()
            target = self.headers.get("X-Amz-Target", "")
            problem = self.verify(body)
            self.record({"target": target, "body": body.decode(),
                         "verify": problem})
            if problem:
                return self.error(403, "InvalidSignatureException", problem)
            if state["fail"] > 0:
                state["fail"] -= 1
                return self.error(state["status"], state["type"],
                                  "injected fault")
            op = target.split(".", 1)[-1]
            req = json.loads(body or b"{}")
            t = state["tunnels"]
            if op == "OpenTunnel":
                tid = "tunnel-%04d" % state["next"]
                state["next"] += 1
                t[tid] = {"tunnelId": tid, "status": "OPEN",
                          "tunnelArn": "arn:aws:iot:us-east-1:123456789012:"
                          "tunnel/" + tid,
                          "destinationConfig": req.get("destinationConfig"),
                          "description": req.get("description", "")}
                return self.send(200, json.dumps({
                    "tunnelId": tid, "tunnelArn": t[tid]["tunnelArn"],
                    "sourceAccessToken": "src-TOKEN-SECRET-" + tid,
                    "destinationAccessToken": "dst-TOKEN-SECRET-" + tid}))
            tid = req.get("tunnelId")
            if op in ("DescribeTunnel", "CloseTunnel",
                      "RotateTunnelAccessToken") and tid not in t:
                return self.error(400, "com.amazonaws.iot.securedtunneling"
                                  "#ResourceNotFoundException",
                                  "tunnel %s not found" % tid)
            if op == "DescribeTunnel":
                return self.send(200, json.dumps({"tunnel": t[tid]}))
            if op == "CloseTunnel":
                t[tid]["status"] = "CLOSED"
                if req.get("delete"):
                    del t[tid]
                return self.send(200, "{}")
            if op == "RotateTunnelAccessToken":
                out = {"tunnelArn": t[tid]["tunnelArn"]}
                if req["clientMode"] in ("SOURCE", "ALL"):
                    out["sourceAccessToken"] = "src-ROTATED-SECRET"
                if req["clientMode"] in ("DESTINATION", "ALL"):
                    out["destinationAccessToken"] = "dst-ROTATED-SECRET"
                return self.send(200, json.dumps(out))
            if op == "ListTunnels":
                s = [{"tunnelId": k, "status": v["status"]}
                     for k, v in sorted(t.items())]
                return self.send(200, json.dumps({"tunnelSummaries": s}))
            return self.error(400, "UnknownOperationException", op)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    tmp = args.portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.portfile)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
