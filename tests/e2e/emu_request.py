#!/usr/bin/python3
"""emu_request.py: one raw API request to the emulator, signed by botocore.

usage: emu_request.py OPERATION JSON [--skew SECONDS] [--region R]
       [--service S] [--no-auth] [--raw-body TEXT] [--target T]
Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
Prints "STATUS BODY" on one line. EMU_URL and IST_CA give the endpoint.
"""
import argparse
import datetime
import http.client
import os
import ssl
import sys
from unittest import mock
from urllib.parse import urlparse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("op")
    ap.add_argument("body")
    ap.add_argument("--skew", type=int, default=0)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--service", default="IoTSecuredTunneling")
    ap.add_argument("--no-auth", action="store_true")
    ap.add_argument("--target")
    a = ap.parse_args()

    url = os.environ["EMU_URL"]
    u = urlparse(url)
    target = a.target if a.target is not None else \
        "IoTSecuredTunneling." + a.op
    headers = {"Content-Type": "application/x-amz-json-1.1",
               "X-Amz-Target": target}
    req = AWSRequest(method="POST", url=url + "/", data=a.body.encode(),
                     headers=headers)
    if not a.no_auth:
        creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"],
                            os.environ["AWS_SECRET_ACCESS_KEY"])
        when = datetime.datetime.utcnow() + \
            datetime.timedelta(seconds=a.skew)
        with mock.patch("botocore.auth.datetime") as dt:
            dt.datetime.utcnow.return_value = when
            SigV4Auth(creds, a.service, a.region).add_auth(req)
    ctx = ssl.create_default_context(cafile=os.environ["IST_CA"])
    c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx,
                                    timeout=60)
    c.request("POST", "/", body=a.body.encode(), headers=dict(req.headers))
    r = c.getresponse()
    print(r.status, r.read().decode())


if __name__ == "__main__":
    sys.exit(main())
