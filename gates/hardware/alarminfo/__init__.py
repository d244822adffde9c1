"""The "AlarmInfoPlate" cameras: Vzenith 臻识, Alphadigi, Boyue and their kin, the
commonest LPR cameras in Chinese car parks.

    [devices.cam]
    family = "alarminfo"
    address = "192.168.1.64"      # the camera: only its pushes are taken
    listen = "0.0.0.0:8181"       # where the camera's push URL points (the default)
    path = "/alarminfo"           # the push URL's path, plates and polls alike
    open_via = "sdk"              # or "poll": the comet poll's answer opens
    sdk_port = 8131               # the camera's TCP SDK
    pulse_ms = 500                # how long an output closes to lift the barrier
    poll_s = 1                    # the camera's comet poll interval, as set in it
    silent_s = 15                 # no push or poll this long: camera_unreachable
"""

from __future__ import annotations

from gates.hardware.alarminfo.camera import AlarmInfoCamera, Settings
from gates.hardware.options import DeviceOptions
from gates.hardware.parts import Workshop


def build(options: DeviceOptions, workshop: Workshop) -> AlarmInfoCamera:
    poll_s = options.seconds("poll_s", 1.0, low=0.2, high=60.0)
    settings = Settings(
        address=options.text("address"),
        paths=(options.text("path", "/alarminfo"),),
        sdk_port=options.integer("sdk_port", 8131, low=1, high=65535),
        open_via=options.text("open_via", "sdk", choices=("sdk", "poll")),
        pulse_ms=options.integer("pulse_ms", 500, low=100, high=5000),
        poll_s=poll_s,
        silent_s=options.seconds("silent_s", max(15.0, 3 * poll_s), low=3 * poll_s, high=600.0),
    )
    if not settings.paths[0].startswith("/"):
        raise options.fail("path", f"a URL path starts with '/', not {settings.paths[0]!r}")
    camera = AlarmInfoCamera(options.name, settings, options.fail)
    try:
        workshop.listener(options.text("listen", "0.0.0.0:8181")).add(camera)
    except ValueError as exc:  # another device pushes from the same address
        raise options.fail("address", str(exc)) from None
    return camera
