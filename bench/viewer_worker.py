"""Viewers of one lane in a process of their own, so the centre's CPU can be measured
with many viewers without the viewers sharing its cores' time in its own process.

    python -m bench.viewer_worker CENTRE_URL LANE

Logs in as the bench agent and reads commands on standard input, answering each with
one JSON line: ``open N`` (N more viewers, each signed through the HTTP API; answered
once each has received a frame; ``open N listen``: viewers that also hear the lane,
``open 1 talk``: one on the intercom, speaking the simulator's voice), ``count`` (video
frames, and RTP packets of each kind, each viewer has received so far), ``close``
(every viewer leaves).
End of input closes everything and exits.

The viewers do not decode (``ViewerPeer(decode=False)``): sixteen 1280x720 H.264
decoders would take both of this machine's cores and starve the centre being measured.
They receive everything a browser would (ICE, DTLS, SRTP, RTP, aiortc's reassembly of
each frame, RTCP feedback) and count the reassembled frames.
"""

from __future__ import annotations

import asyncio
import json
import sys

from bench.peers import CentreLane, ViewerPeer, leave
from bench.processes import PASSWORD, USERNAME
from console.service import run_fast
from media.lane.voice import ToneMicrophone


async def serve(url: str, lane: str) -> None:
    client = await CentreLane.login(url, USERNAME, PASSWORD)
    target = CentreLane(client, lane)
    peers: list[ViewerPeer] = []
    loop = asyncio.get_running_loop()
    try:
        while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            command, _, argument = line.partition(" ")
            if command == "open":
                count, _, mode = argument.partition(" ")
                for _ in range(int(count)):
                    peer = ViewerPeer(decode=False, listen=mode == "listen", talk=mode == "talk")
                    peers.append(peer)
                    await peer.connect(target)
                    await asyncio.wait_for(peer.first_frame, 30)
                    if mode == "talk":
                        peer.keep_speaking(ToneMicrophone(seed=len(peers)))
                answer: object = {"viewers": len(peers)}
            elif command == "count":
                packets = [await peer.packets() for peer in peers]
                answer = {
                    "frames": [peer.counter.frames if peer.counter else 0 for peer in peers],
                    "video_packets": [p["video"] for p in packets],
                    "audio_packets": [p["audio"] for p in packets],
                }
            elif command == "close":
                for peer in peers:
                    await leave(peer, target)
                peers.clear()
                answer = {"viewers": 0}
            else:
                answer = {"error": f"unknown command {command!r}"}
            print(json.dumps(answer), flush=True)
    finally:
        for peer in peers:
            await peer.close()
        await client.aclose()


if __name__ == "__main__":
    run_fast(serve(sys.argv[1], sys.argv[2]))
