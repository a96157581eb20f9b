"""agent_hostile_source.py TOKEN_FILE: a V3 source (tunnel_client.py)
that treats iot-tunnel-agent badly, in one tunnel: a flood of
CONNECTION_STARTs (more than the agent's connection limit), resets naming
stale streams and unknown connections, a flood of STREAM_STARTs, then a
frame that is no protobuf Message. Through all but the last the agent
keeps the tunnel and still answers on a fresh stream; the last may end
this tunnel (only). The .sh then checks the agent serves the next one.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tunnel_client as tc  # noqa: E402
from tunnel_client import (DATA, STREAM_START, STREAM_RESET,  # noqa: E402
                           SERVICE_IDS, CONNECTION_START, CONNECTION_RESET,
                           encode)


def banner_on(ws, stream, conn, limit=20000):
    """True on sshd's banner, False if the stream was reset first."""
    for _ in range(limit):
        m = ws.recv_msgs(1, timeout=60)[0]
        if m["streamId"] != stream:
            continue
        if m["type"] in (STREAM_RESET, CONNECTION_RESET):
            return False
        if m["type"] == DATA and m["connectionId"] == conn and \
                m["payload"].startswith(b"SSH-2.0-"):
            return True
    raise AssertionError("no sshd banner on stream %d connection %d"
                         % (stream, conn))


def main():
    token = open(sys.argv[1]).read().strip()
    ws = tc.connect("source", token=token)
    assert isinstance(ws, tc.WS), "refused: %r" % (ws,)
    m = ws.recv_msgs(1)[0]
    assert m["type"] == SERVICE_IDS, m

    # A flood of connections on one stream: 200, over the agent's limit.
    frames = [encode(STREAM_START, 1, service_id="SSH", connection_id=1)]
    frames += [encode(CONNECTION_START, 1, service_id="SSH",
                      connection_id=c) for c in range(2, 201)]
    ws.send_msgs(*frames)
    # Resets with stale and unknown ids, and the flood's own resets.
    ws.send_msgs(encode(STREAM_RESET, 999, service_id="SSH"),
                 encode(CONNECTION_RESET, 1, service_id="SSH",
                        connection_id=4242),
                 encode(CONNECTION_RESET, 77, service_id="SSH",
                        connection_id=1),
                 *[encode(CONNECTION_RESET, 1, service_id="SSH",
                          connection_id=c) for c in range(1, 201)])
    # A flood of STREAM_STARTs, each replacing the last.
    ws.send_msgs(*[encode(STREAM_START, s, service_id="SSH",
                          connection_id=1) for s in range(2, 302)])
    # Still served: a fresh stream gets sshd's banner. The flood left
    # sshd with hundreds of fresh connections, and past MaxStartups it
    # drops new ones at random (the agent then resets the stream), so a
    # few fresh streams may be needed before sshd has caught up.
    for stream in range(500, 520):
        ws.send_msgs(encode(STREAM_START, stream, service_id="SSH",
                            connection_id=1))
        if banner_on(ws, stream, 1):
            break
        time.sleep(1)
    else:
        raise AssertionError("sshd's banner never came on a fresh stream")
    # Garbage: length 3, bytes that are no Message.
    ws.send_message(b"\x00\x03\xff\xff\xff")
    ws.expect_close(timeout=60)
    print("agent_hostile_source: ok")


main()
