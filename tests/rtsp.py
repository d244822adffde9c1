"""A real RTSP camera for a test: ``tests/rtsp_camera.py`` (GStreamer's RTSP server) in
its own process, started with Debian's Python, stopped when the test is done."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

SCRIPT = Path(__file__).with_name("rtsp_camera.py")
# Debian's interpreter, where python3-gi puts ``gi``; the venv's Python has no GStreamer.
PYTHON = "/usr/bin/python3"
PACKAGES = (
    "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base "
    "gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly"
)


class RtspCamera:
    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url

    @property
    def port(self) -> int:
        return int(self.url.split(":")[2].split("/")[0])

    async def stop(self) -> None:
        """Hang up as a camera losing power does: its connections close."""
        if self.process.returncode is None:
            self.process.terminate()
        await self.process.wait()


@contextlib.asynccontextmanager
async def rtsp_camera(*args: str) -> AsyncIterator[RtspCamera]:
    """A camera serving until the block ends; ``args`` go to tests/rtsp_camera.py."""
    camera = await start_camera(*args)
    try:
        yield camera
    finally:
        await camera.stop()


async def start_camera(*args: str) -> RtspCamera:
    process = await asyncio.create_subprocess_exec(
        PYTHON,
        str(SCRIPT),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    async with asyncio.timeout(30):
        line = (await process.stdout.readline()).decode()
    if not line.startswith("ready "):
        error = (await process.stderr.read()).decode()
        await process.wait()
        raise RuntimeError(
            f"the RTSP test camera did not start (install: apt-get install {PACKAGES}):\n{error}"
        )
    return RtspCamera(process, line.split()[1])
