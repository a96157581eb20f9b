"""agent_v3.py TOKEN_FILE: a V3 source (tunnel_client.py, independent of
the C code) against iot-tunnel-agent: two connections on one stream each
get their own TCP connection to sshd; resetting one leaves the other
working; a service the agent does not map is answered with STREAM_RESET.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tunnel_client as tc  # noqa: E402
from tunnel_client import (DATA, STREAM_START, STREAM_RESET,  # noqa: E402
                           SERVICE_IDS, CONNECTION_START, CONNECTION_RESET,
                           encode)


def until(ws, pred, what, limit=50):
    seen = []
    for _ in range(limit):
        m = ws.recv_msgs(1, timeout=60)[0]
        seen.append(m)
        if pred(m, seen):
            return seen
    raise AssertionError("no " + what + " in %r" % seen)


def main():
    token = open(sys.argv[1]).read().strip()
    src = tc.connect("source", token=token)
    assert isinstance(src, tc.WS), "refused: %r" % (src,)
    m = src.recv_msgs(1)[0]
    assert m["type"] == SERVICE_IDS, m
    assert sorted(m["availableServiceIds"]) == ["SSH", "VNC"], m

    src.send_msgs(encode(STREAM_START, 1, service_id="SSH", connection_id=1),
                  encode(CONNECTION_START, 1, service_id="SSH",
                         connection_id=2))
    banners = {}

    def both(m, seen):
        if m["type"] == DATA and m["payload"].startswith(b"SSH-2.0-"):
            banners[m["connectionId"]] = m["payload"]
        return len(banners) == 2
    until(src, both, "sshd banner on connections 1 and 2")
    assert set(banners) == {1, 2}, banners

    # End connection 1; connection 2 goes on: our banner makes sshd send
    # its key exchange offer.
    src.send_msgs(encode(CONNECTION_RESET, 1, service_id="SSH",
                         connection_id=1),
                  encode(DATA, 1, service_id="SSH", connection_id=2,
                         payload=b"SSH-2.0-agent_v3_test\r\n"))
    until(src, lambda m, s: m["type"] == DATA and m["connectionId"] == 2
          and b"curve25519" in m["payload"], "key exchange on connection 2")

    # A service the agent does not serve.
    src.send_msgs(encode(STREAM_START, 1, service_id="VNC", connection_id=1))
    until(src, lambda m, s: m["type"] == STREAM_RESET
          and m["serviceId"] == "VNC", "STREAM_RESET for VNC")
    src.close()
    print("agent_v3: ok")


main()
