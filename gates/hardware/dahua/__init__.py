"""Dahua ITC cameras: plates from the ``attachFileProc`` event stream, the barrier by
``openStrobe``. HTTP Digest throughout.

A lane file's table for one::

    [devices.cam]
    family = "dahua"
    host = "192.168.1.108"
    password_file = "/etc/seat/cam.pass"
    heartbeat = 5                # seconds between the stream's heartbeats
"""

from __future__ import annotations

from gates.hardware.camera_http import from_options
from gates.hardware.dahua.camera import ItcCamera
from gates.hardware.options import DeviceOptions
from gates.hardware.parts import Device, Workshop


def build(options: DeviceOptions, workshop: Workshop) -> Device:
    _, http = from_options(options)
    return ItcCamera(
        options.name,
        http,
        channel=options.integer("channel", 1, low=1, high=64),
        heartbeat=options.integer("heartbeat", 5, low=1, high=60),
    )
