"""Configuration, read once from the environment (see the README's table)."""

from __future__ import annotations

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
        )
