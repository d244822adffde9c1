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
    gate_input = "in0"            # the arm's up-limit switch on input 0 or 1, if wired
    gate_input_up = 0             # its level while the arm is up: 0 closed, 1 open
    gate_poll_s = 0.2             # how often the input is read over the TCP SDK
"""

from __future__ import annotations

from gates.hardware.alarminfo import frames
from gates.hardware.alarminfo.camera import (
    AlarmInfoCamera,
    AlarmInfoCameraWithGateInput,
    GateInput,
    Settings,
)
from gates.hardware.options import DeviceOptions
from gates.hardware.parts import Workshop

INPUTS = {f"in{n}": n for n in frames.INPUTS}


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
    gate = _gate_input(options)
    camera = (
        AlarmInfoCamera(options.name, settings, options.fail)
        if gate is None
        else AlarmInfoCameraWithGateInput(options.name, settings, options.fail, gate)
    )
    try:
        workshop.listener(options.text("listen", "0.0.0.0:8181")).add(camera)
    except ValueError as exc:  # another device pushes from the same address
        raise options.fail("address", str(exc)) from None
    return camera


def _gate_input(options: DeviceOptions) -> GateInput | None:
    """The input the arm's limit switch is on, if the file says one is: only then is the
    camera the lane's gate sensor."""
    if not options.has("gate_input"):
        for key in ("gate_input_up", "gate_poll_s"):
            if options.has(key):
                raise options.fail(key, "give gate_input, the input the arm's switch is on")
        return None
    return GateInput(
        gpio=INPUTS[options.text("gate_input", choices=tuple(INPUTS))],
        up_level=options.integer("gate_input_up", 0, low=0, high=1),
        # Within the SDK's heartbeat (2 s), which the reads carry.
        poll_s=options.seconds("gate_poll_s", 0.2, low=0.05, high=frames.HEARTBEAT_S),
    )
