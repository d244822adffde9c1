"""Configuration, read once from the environment (see the README's table)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gates.link import HeartbeatPolicy

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = 8080
    # Long enough for a 12-hour seat shift; an agent logs in again at handover.
    session_ttl_s: int = 12 * 3600
    # How long an agent's open-gate request waits for the lane's outcome.
    command_timeout_s: float = 10.0
    # Set behind TLS (the usual deployment) so the browser never sends the cookie in clear.
    secure_cookies: bool = False
    max_body_bytes: int = 16 * 1024
    heartbeat: HeartbeatPolicy = field(default_factory=HeartbeatPolicy)
    web_dir: Path = WEB_DIR
    # STUN/TURN servers for browsers and the centre, as WebRTC's ``iceServers``. None by
    # default: on a LAN host candidates connect, and an unreachable STUN server would add
    # seconds to every connection.
    ice_servers: tuple[dict[str, Any], ...] = ()
    # How long a lane keeps streaming after its last viewer left: an agent flicking
    # between lanes gets the picture back at once.
    media_grace_s: float = 10.0
    # How long a browser's peer connection may take to come up after its answer: one
    # that vanished while connecting is dropped then (media.switchboard).
    media_connect_s: float = 10.0

    @property
    def database(self) -> Path:
        return self.data_dir / "seat.db"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Raises ``ValueError`` naming the variable when one does not parse."""

        def number(name: str, default: str, kind: type[int] | type[float]) -> Any:
            raw = env.get(name, default)
            try:
                return kind(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number, not {raw!r}") from None

        return cls(
            data_dir=Path(env.get("SEAT_DATA_DIR", "var")),
            host=env.get("SEAT_HOST", "127.0.0.1"),
            port=number("SEAT_PORT", "8080", int),
            session_ttl_s=number("SEAT_SESSION_TTL_S", str(12 * 3600), int),
            command_timeout_s=number("SEAT_COMMAND_TIMEOUT_S", "10", float),
            secure_cookies=env.get("SEAT_SECURE_COOKIES", "0") in ("1", "true", "yes"),
            ice_servers=parse_ice_servers(env.get("SEAT_ICE_SERVERS", "")),
            media_grace_s=number("SEAT_MEDIA_GRACE_S", "10", float),
            media_connect_s=number("SEAT_MEDIA_CONNECT_S", "10", float),
        )


def parse_ice_servers(raw: str) -> tuple[dict[str, Any], ...]:
    """``SEAT_ICE_SERVERS``: a JSON list of ``{"urls", "username", "credential"}`` as
    in WebRTC's ``RTCIceServer``, or a comma-separated list of stun:/turn: URLs."""
    raw = raw.strip()
    if not raw:
        return ()
    if not raw.startswith("["):
        servers: Any = [{"urls": url.strip()} for url in raw.split(",") if url.strip()]
    else:
        try:
            servers = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"SEAT_ICE_SERVERS is not valid JSON: {exc}") from None
    problem = "SEAT_ICE_SERVERS entries must be objects with stun:/turn:/turns: 'urls'"
    if not isinstance(servers, list):
        raise ValueError(problem)
    for server in servers:
        if not isinstance(server, dict) or not set(server) <= {"urls", "username", "credential"}:
            raise ValueError(problem + ", and optionally 'username' and 'credential'")
        urls = server.get("urls")
        urls = [urls] if isinstance(urls, str) else urls
        if not urls or not all(
            isinstance(u, str) and u.split(":", 1)[0] in ("stun", "turn", "turns") for u in urls
        ):
            raise ValueError(problem)
        for key in ("username", "credential"):
            if key in server and not isinstance(server[key], str):
                raise ValueError(f"SEAT_ICE_SERVERS: '{key}' must be a string")
    return tuple(servers)
