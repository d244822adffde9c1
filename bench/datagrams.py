"""What the kernel charges a sender for one UDP datagram to a receiver on the same
machine, alone and in bursts: the floor under any relay's cost per packet here.

A datagram to a process asleep in ``epoll_wait`` wakes it, and on loopback the sender
pays for that wake-up: on the development machine about 80 us of the sender's CPU for
a lone datagram, against about 13 us each for a burst of ten, where only the first
wakes anyone. Every bench viewer lives on the centre's machine, so an Opus packet (one
datagram every 20 ms) pays the lone price and a video frame (a burst) mostly the burst
price; a browser on another machine costs the centre neither. ``floor()`` measures
both with a plain socket and a receiver process, no relay, in the same run as the
figures it is compared with.

    python bench/datagrams.py
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

_RECEIVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
while s.recv(2048) != b"end":
    pass
"""


def cost(gap_s: float, burst: int, seconds: float, size: int = 200) -> float:
    """The sender's CPU per datagram, in us, sending ``burst`` datagrams every
    ``gap_s`` to a receiver process that sleeps in between."""
    receiver = subprocess.Popen([sys.executable, "-c", _RECEIVER], stdout=subprocess.PIPE)
    try:
        assert receiver.stdout is not None
        address = ("127.0.0.1", int(receiver.stdout.readline()))
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        data = b"\x80" * size
        cpu = 0.0
        sent = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(gap_s)  # the receiver goes back to sleep, as between packets
            started = time.thread_time()
            for _ in range(burst):
                sender.sendto(data, address)
            cpu += time.thread_time() - started
            sent += burst
        sender.sendto(b"end", address)
        sender.close()
        return round(1e6 * cpu / sent, 1)
    finally:
        receiver.wait(timeout=5)


def floor(burst: int, seconds: float = 4.0) -> dict[str, float]:
    """The lone price (a datagram every 20 ms, as Opus) and the burst price (``burst``
    datagrams every 67 ms, as a 15 fps video frame)."""
    return {"lone_us": cost(0.020, 1, seconds), "burst_us": cost(1 / 15, burst, seconds)}


if __name__ == "__main__":
    figures = floor(10)
    print(f"datagram_floor_lone: {figures['lone_us']} us per datagram")
    print(
        f"datagram_floor_burst: {figures['burst_us']} us per datagram "
        f"({figures['burst_us'] / figures['lone_us']:.2f}x lone)"
    )
