"""An RTSP camera for the tests and benchmarks: GStreamer's RTSP server with a live x264
encoder behind it, configured the ways installed IP cameras are.

It runs under Debian's Python (``/usr/bin/python3``, which has ``gi`` once python3-gi is
installed), not the project's virtual environment, so it is always a separate process,
as a camera is:

    /usr/bin/python3 tests/rtsp_camera.py --port 0 --profile high --bframes 2

Once it accepts connections it prints ``ready rtsp://127.0.0.1:PORT/cam`` on standard
output. It serves until its standard input closes (so it never outlives the process that
started it) or it gets SIGTERM. ``--record FILE`` also writes the exact H.264 byte stream
the encoder made, so a test can compare what a lane passes on with what the camera sent.
Packages: gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-ugly (x264enc),
gstreamer1.0-plugins-good (rtph264pay), gstreamer1.0-plugins-base, python3-gi.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PATH = "/cam"


def launch(args: argparse.Namespace) -> str:
    """The pipeline of one camera: a moving test picture, encoded live."""
    width, height = args.size.split("x")
    if args.bframes:
        # zerolatency would turn B-frames off; a camera encoding them has no lookahead.
        tuning = f"bframes={args.bframes} b-adapt=false rc-lookahead=0 sync-lookahead=0"
    else:
        tuning = "tune=zerolatency sliced-threads=false"
    encoder = (
        f"x264enc speed-preset=veryfast {tuning} key-int-max={args.gop} "
        f"bitrate={args.kbps} byte-stream=true"
    )
    caps = f"video/x-h264,profile={args.profile},stream-format=byte-stream"
    record = ""
    if args.record:
        record = f" t. ! queue ! filesink buffer-mode=unbuffered location={args.record}"
    return (
        f"( videotestsrc is-live=true pattern=ball "
        f"! video/x-raw,width={width},height={height},framerate={args.fps}/1 "
        f"! {encoder} ! {caps} ! tee name=t "
        f"! queue ! rtph264pay name=pay0 pt=96 config-interval=-1{record} )"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--profile", default="baseline", help="baseline, main or high")
    parser.add_argument("--bframes", type=int, default=0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--gop", type=int, default=15, help="frames from keyframe to keyframe")
    parser.add_argument("--kbps", type=int, default=1500)
    parser.add_argument("--record", help="also write the encoded H.264 byte stream here")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch(args))
    factory.set_shared(True)  # one encoder for every client, as in a camera
    server.get_mount_points().add_factory(PATH, factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{args.port}")

    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)

    def stdin_readable(channel: GLib.IOChannel, condition: GLib.IOCondition) -> bool:
        if channel.read_line()[1]:
            return True  # a line: keep watching
        loop.quit()  # end of input: whoever started this camera has gone
        return False

    GLib.io_add_watch(
        GLib.IOChannel.unix_new(sys.stdin.fileno()),
        GLib.PRIORITY_DEFAULT,
        GLib.IOCondition.IN | GLib.IOCondition.HUP,
        stdin_readable,
    )
    print(f"ready rtsp://127.0.0.1:{server.get_bound_port()}{PATH}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
