"""The lane's faults, made of its devices' faults. Pure.

The lane link knows a fault by its code (``camera_unreachable``), while a lane can have
two devices that raise the same one: a plate camera and a second camera pulsing the
barrier, a relay and a barrier controller. One device answering again must not clear
the lane's fault while the other is still away, and the console must say which device
it is. So a code stands on the lane while any device holds it, and its detail names
each device that does ("cam: no push from 192.168.1.64 for 15 s").

A device holds a code in two ways: it raised it itself, as it went quiet (only it
clears that: a camera's TCP SDK answering does not mean its pushes came back), or a
command found it away, which its next answer to a command clears, as does its own
word that it answers again.
"""

from __future__ import annotations

from collections.abc import Callable

from gates.lane.drivers import FaultRaised


class LaneFaults:
    def __init__(self, send: Callable[[FaultRaised], None]) -> None:
        self._send = send
        self._own: dict[str, dict[str, str]] = {}  # code -> device -> detail
        self._found: dict[str, dict[str, str]] = {}
        self._shown: dict[str, str] = {}  # code -> the detail the lane last sent

    def raised(self, device: str, code: str, detail: str) -> None:
        """The device raised ``code`` itself."""
        self._own.setdefault(code, {})[device] = detail
        self._update(code)

    def cleared(self, device: str, code: str) -> None:
        """The device cleared its own ``code``: it answers again, so what a command
        found of it is over too."""
        self._own.get(code, {}).pop(device, None)
        self._found.get(code, {}).pop(device, None)
        self._update(code)

    def found_away(self, device: str, code: str, detail: str) -> None:
        """A command to the device found it away."""
        self._found.setdefault(code, {})[device] = detail
        self._update(code)

    def answered(self, device: str) -> None:
        """The device carried out a command: what commands found is over."""
        for code in [code for code, holders in self._found.items() if device in holders]:
            del self._found[code][device]
            self._update(code)

    def _update(self, code: str) -> None:
        holders = {**self._found.get(code, {}), **self._own.get(code, {})}
        if not holders:
            if self._shown.pop(code, None) is not None:
                self._send(FaultRaised(code, "", active=False))
            return
        detail = _detail(holders)
        if self._shown.get(code) != detail:
            self._shown[code] = detail
            self._send(FaultRaised(code, detail))


def _detail(holders: dict[str, str]) -> str:
    """Each holding device named (the lane session makes the words fit the link)."""
    return "; ".join(
        f"{device}: {text}" if text else device for device, text in sorted(holders.items())
    )
