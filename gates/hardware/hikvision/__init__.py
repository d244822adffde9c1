"""Hikvision ANPR cameras (ISAPI): plates pushed to the lane's listening host, the
barrier and its state, the voice. HTTP Digest throughout.

A lane file's table for one::

    [devices.cam]
    family = "hikvision"
    host = "192.168.1.64"        # its IP: pushes are told apart by their sender
    password_env = "CAM_PASSWORD"
    listen = "0.0.0.0:8181"      # the host and port set as its listening host
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable

from gates.hardware.camera_http import from_options
from gates.hardware.hikvision.camera import AnprCamera, AnprCameraWithBarrierState
from gates.hardware.options import DeviceOptions
from gates.hardware.parts import Device, Workshop


def build(options: DeviceOptions, workshop: Workshop) -> Device:
    if options.has("listen"):
        try:
            ipaddress.ip_address(options.text("host"))
        except ValueError:
            raise options.fail(
                "host", "pushes are told apart by their sender: give the camera's IP address"
            ) from None
    host, http = from_options(options)
    channel = options.integer("channel", 1, low=1, high=64)
    push_path = options.text("push_path", "/hikvision/anpr")
    volume = options.integer("volume", 5, low=1, high=10)
    # How often the camera's presence is asked where its barrier is not read.
    cadence = options.seconds("check_every", 5.0, low=1.0, high=300.0)
    make: Callable[..., AnprCamera] = AnprCamera
    if options.flag("gate_status", True):
        gate_poll = options.seconds("gate_poll", 0.5, low=0.1, high=10.0)
        make = functools.partial(AnprCameraWithBarrierState, gate_poll=gate_poll)
    camera = make(
        options.name,
        http,
        address=host,
        channel=channel,
        push_path=push_path,
        volume=volume,
        cadence=cadence,
    )
    if options.has("listen"):
        workshop.listener(options.text("listen")).add(camera)
    return camera
