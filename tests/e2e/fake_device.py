"""fake_device.py: a destination (the device side of a tunnel) written
with tunnel_client.py, that does what a test tells it to, for tests of
iot-ssh-proxy against a device that is not iot-tunnel-agent.

  fake_device.py TOKEN_FILE READY_FILE SCRIPT

It joins as destination with the token in TOKEN_FILE, writes "joined" to
READY_FILE and then plays SCRIPT on the first STREAM_START:
  data-reset-one   DATA "hello\n" and CONNECTION_RESET in one WebSocket
                   message
  data-reset-two   the same in two WebSocket messages, back to back
  data-sreset-one  DATA and STREAM_RESET in one message
  silent           nothing: holds the connection until the peer closes
It prints "stream N connection C" for the STREAM_START it saw.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tunnel_client as tc  # noqa: E402
from tunnel_client import (DATA, STREAM_START, STREAM_RESET,  # noqa: E402
                           CONNECTION_RESET, encode)

PAYLOAD = b"hello\n"


def main():
    token = open(sys.argv[1]).read().strip()
    ready, script = sys.argv[2], sys.argv[3]
    ws = tc.connect("destination", token=token)
    assert isinstance(ws, tc.WS), "refused: %r" % (ws,)
    with open(ready, "w") as f:
        f.write("joined\n")
    while True:
        m = ws.recv_msgs(1, timeout=120)[0]
        if m["type"] == STREAM_START:
            break
    sid, svc, cid = m["streamId"], m["serviceId"], m["connectionId"]
    print("stream %d connection %d" % (sid, cid), flush=True)
    data = encode(DATA, sid, service_id=svc, connection_id=cid,
                  payload=PAYLOAD)
    if script == "data-reset-one":
        ws.send_msgs(data, encode(CONNECTION_RESET, sid, service_id=svc,
                                  connection_id=cid))
    elif script == "data-reset-two":
        ws.send_msgs(data)
        ws.send_msgs(encode(CONNECTION_RESET, sid, service_id=svc,
                            connection_id=cid))
    elif script == "data-sreset-one":
        ws.send_msgs(data, encode(STREAM_RESET, sid, service_id=svc,
                                  connection_id=cid))
    elif script != "silent":
        raise SystemExit("unknown script " + script)
    ws.expect_close(timeout=120)


main()
