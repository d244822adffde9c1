"""Configuration, read once from the environment (see the README's table)."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

from gates.centre.link import HeartbeatPolicy

from .auth import BEARER_TOKEN
from .calls.model import CallKind
from .calls.model import Settings as CallSettings
from .cluster.lease_rules import LeasePolicy
from .payments.wechat_settings import WeChatSettings, check_provider_choice
from .sticker_token import KEY_BYTES

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

ProxyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_SERVER_NAME = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def default_login_workers() -> int:
    """Half the cores: a burst of logins must leave the event loop a core of its own."""
    return max(1, (os.cpu_count() or 2) // 2)


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = 8080
    # Long enough for a 12-hour seat shift; an agent logs in again at handover.
    session_ttl_s: int = 12 * 3600
    # How long an agent's open-gate request waits for the lane's outcome.
    command_timeout_s: float = 10.0
    # A second open of a lane within this long of one that ended done joins it.
    open_join_s: float = 3.0
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
    # Reverse proxies whose X-Forwarded-For is believed. None by default: otherwise any
    # client could name any address, dodge the login throttle and forge the ledger.
    trusted_proxies: tuple[ProxyNetwork, ...] = ()
    # Password checks run at once, and how many more may wait before a login gets 503.
    login_workers: int = field(default_factory=default_login_workers)
    login_queue: int = 16
    # Signed checkpoints of the ledger's head (README, "The audit ledger"): the file they
    # are appended to (None: in the data dir), and how often: after this many entries,
    # or this many seconds after the first entry not yet covered.
    audit_anchor: Path | None = None
    audit_anchor_entries: int = 1000
    audit_anchor_s: float = 10.0
    # How long a browser's peer connection may take to come up after its answer: one
    # that vanished while connecting is dropped then (media.centre.switchboard).
    media_connect_s: float = 10.0
    # ``seat demo``: about how often one of its simulated lanes presses call, so a first
    # look at the console hears a ring within a minute.
    demo_call_every_s: float = 40.0
    # Where drivers' phones reach the centre, e.g. https://seat.example.com: the help
    # stickers' QR codes point below it. None: a sticker needs ``--base-url``.
    public_url: str | None = None
    # How long a payment order's pay link works (console.payments): a QR code left on
    # a display is not paid for by the next car.
    payment_expiry_s: float = 900.0
    # The sandbox pays with one tap: only a demo or a test may offer it.
    payment_sandbox: bool = False
    # An order no notification has paid is asked after with its provider this long
    # after it was made, then at doubling intervals (console.payments.chasing).
    payment_query_after_s: float = 30.0
    # Cars without a plate (console.noplate): how long a lane's no-plate QR code opens
    # the gate after it was shown (a photo of it is no use later), and how many days a
    # driver's phone is remembered as the holder of its stay (its cookie's lifetime).
    noplate_code_s: float = 180.0
    noplate_phone_days: int = 30
    # The key that signs help stickers, for operators who keep secrets outside the
    # database. None: the key in the store, made on first need (console.stickers).
    sticker_key: bytes | None = field(default=None, repr=False)
    # The call queue (console.calls): how long one agent is rung, an agent's wrap-up
    # after a call, how long a lane call waits unanswered before it counts as abandoned,
    # how long a dropped console keeps its call, and the kinds of call, first answered
    # first.
    call_ring_s: float = 15.0
    call_wrap_s: float = 30.0
    call_abandon_s: float = 300.0
    call_reconnect_s: float = 30.0
    call_priorities: tuple[CallKind, ...] = tuple(CallKind)
    # A phone call whose help page has had no stream open this long is hung up
    # (console.help_rules).
    help_gone_s: float = 10.0
    # Vehicle events (console.vehicles): reads of one plate at one lane within this
    # many seconds of each other are one car (0: every read is an event), and the days
    # of snapshots kept, today included.
    vehicle_repeat_s: float = 30.0
    snapshot_days: int = 30
    # The OCR's second reading of plates (console.vehicles.readings): events that may
    # wait for the one being read, and ONNX Runtime's threads for a read.
    ocr_queue: int = 4
    ocr_threads: int = 1
    # The merchant's WeChat Pay account (console.payments.wechat_settings); None: off.
    wechat: WeChatSettings | None = field(default=None, repr=False)
    # A PostgreSQL database shared by several centres (console.pg_store); None: the
    # SQLite file in ``data_dir``. Not in repr: it may hold a password.
    database_url: str | None = field(default=None, repr=False)
    # This server's name among the centre's (console.audit): the same across restarts.
    server_name: str = field(default_factory=socket.gethostname)
    # Redis, where the servers of one centre share what is live (console.cluster);
    # None: one server, everything in its memory. Its password may be in the URL.
    redis_url: str | None = field(default=None, repr=False)
    # The bearer token a Prometheus scrape of ``/metrics`` must carry; None: the
    # figures are served to this machine only (console.metrics).
    metrics_token: str | None = field(default=None, repr=False)
    # With Redis: how long a server's console tabs keep their agents online after the
    # server last renewed them (console.calls.presence): a server that dies takes its
    # agents offline about this long after.
    call_presence_s: float = 10.0
    # How often each server reads the store's change feed (console.changes): what the
    # seat CLI and the other servers changed. With Redis, ended logins come at once
    # anyway.
    change_poll_s: float = 1.0
    # How long a lane's lease outlives its server's last renewal (console.cluster): a
    # dead server's lanes come up on another after at most this long. None: as long as
    # the heartbeat policy lets the slowest lane be silent (12.5 s by default).
    lane_lease_s: float | None = None

    @property
    def lease(self) -> LeasePolicy:
        if self.lane_lease_s is None:
            return LeasePolicy.for_heartbeat(self.heartbeat)
        return LeasePolicy(self.lane_lease_s)

    @property
    def calls(self) -> CallSettings:
        """The queue's rules' numbers."""
        ranks = len(self.call_priorities)
        return CallSettings(
            ring_s=self.call_ring_s,
            wrap_s=self.call_wrap_s,
            abandon_s=self.call_abandon_s,
            reconnect_s=self.call_reconnect_s,
            priorities={kind: ranks - n for n, kind in enumerate(self.call_priorities)},
        )

    @property
    def database(self) -> Path:
        return self.data_dir / "seat.db"

    @property
    def anchor_file(self) -> Path:
        return self.audit_anchor or self.data_dir / "audit-anchors.jsonl"

    @property
    def audit_key(self) -> Path:
        """The centre's Ed25519 key that signs checkpoints (mode 0600)."""
        return self.data_dir / "audit-key.pem"

    @property
    def audit_public_key(self) -> Path:
        return self.data_dir / "audit-key.pub"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Raises ``ValueError`` naming the variable when one does not parse."""

        def number(
            name: str, default: str, kind: type[int] | type[float], low: float | None = None
        ) -> Any:
            raw = env.get(name, default)
            try:
                value = kind(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number, not {raw!r}") from None
            if low is not None and value < low:
                raise ValueError(f"{name} must be at least {low}, not {raw!r}")
            return value

        def seconds(name: str, default: str, *, zero: bool = False) -> float:
            """A finite number of seconds: positive, or also 0 where ``zero``."""
            value: float = number(name, default, float)
            if not (value >= 0 if zero else value > 0) or value == float("inf"):
                least = "0 or more" if zero else "more than 0"
                raise ValueError(f"{name} must be a number of seconds, {least}, not {value!r}")
            return value

        anchor_entries = number("SEAT_AUDIT_ANCHOR_ENTRIES", "1000", int)
        if anchor_entries < 1:
            raise ValueError("SEAT_AUDIT_ANCHOR_ENTRIES must be at least 1")
        anchor_s = number("SEAT_AUDIT_ANCHOR_S", "10", float)
        if not 0 < anchor_s < float("inf"):
            raise ValueError("SEAT_AUDIT_ANCHOR_S must be a positive number of seconds")
        demo_call_every_s = number("SEAT_DEMO_CALL_EVERY_S", "40", float)
        if not 0 < demo_call_every_s < float("inf"):
            raise ValueError("SEAT_DEMO_CALL_EVERY_S must be a positive number of seconds")
        settings = cls(
            data_dir=Path(env.get("SEAT_DATA_DIR", "var")),
            host=env.get("SEAT_HOST", "127.0.0.1"),
            port=number("SEAT_PORT", "8080", int),
            session_ttl_s=number("SEAT_SESSION_TTL_S", str(12 * 3600), int),
            command_timeout_s=number("SEAT_COMMAND_TIMEOUT_S", "10", float),
            open_join_s=number("SEAT_OPEN_JOIN_S", "3", float),
            secure_cookies=env.get("SEAT_SECURE_COOKIES", "0") in ("1", "true", "yes"),
            ice_servers=parse_ice_servers(env.get("SEAT_ICE_SERVERS", "")),
            media_grace_s=number("SEAT_MEDIA_GRACE_S", "10", float),
            trusted_proxies=parse_trusted_proxies(env.get("SEAT_TRUSTED_PROXIES", "")),
            login_workers=number("SEAT_LOGIN_WORKERS", str(default_login_workers()), int, 1),
            login_queue=number("SEAT_LOGIN_QUEUE", "16", int, 0),
            audit_anchor=Path(env["SEAT_AUDIT_ANCHOR"]) if env.get("SEAT_AUDIT_ANCHOR") else None,
            audit_anchor_entries=anchor_entries,
            audit_anchor_s=anchor_s,
            media_connect_s=number("SEAT_MEDIA_CONNECT_S", "10", float),
            demo_call_every_s=demo_call_every_s,
            public_url=_optional(env, "SEAT_PUBLIC_URL", parse_public_url),
            redis_url=_optional(env, "SEAT_REDIS_URL", parse_redis_url),
            server_name=parse_server_name(env.get("SEAT_SERVER_NAME") or socket.gethostname()),
            call_presence_s=seconds("SEAT_CALL_PRESENCE_S", "10"),
            change_poll_s=seconds("SEAT_CHANGE_POLL_S", "1"),
            lane_lease_s=seconds("SEAT_LANE_LEASE_S", "0", zero=True) or None,
            payment_expiry_s=seconds("SEAT_PAYMENT_EXPIRY_S", "900"),
            payment_sandbox=env.get("SEAT_PAYMENT_SANDBOX", "0") in ("1", "true", "yes"),
            payment_query_after_s=seconds("SEAT_PAYMENT_QUERY_AFTER_S", "30"),
            noplate_code_s=seconds("SEAT_NOPLATE_CODE_S", "180"),
            noplate_phone_days=number("SEAT_NOPLATE_PHONE_DAYS", "30", int, 1),
            sticker_key=_optional(env, "SEAT_STICKER_KEY", parse_sticker_key),
            call_ring_s=seconds("SEAT_CALL_RING_S", "15"),
            call_wrap_s=seconds("SEAT_CALL_WRAP_S", "30", zero=True),
            call_abandon_s=seconds("SEAT_CALL_ABANDON_S", "300"),
            call_reconnect_s=seconds("SEAT_CALL_RECONNECT_S", "30", zero=True),
            call_priorities=parse_call_priorities(
                env.get("SEAT_CALL_PRIORITY", "exit,entry,phone,hotline")
            ),
            vehicle_repeat_s=seconds("SEAT_VEHICLE_REPEAT_S", "30", zero=True),
            snapshot_days=number("SEAT_SNAPSHOT_DAYS", "30", int, 1),
            ocr_queue=number("SEAT_OCR_QUEUE", "4", int, 0),
            ocr_threads=number("SEAT_OCR_THREADS", "1", int, 1),
            wechat=WeChatSettings.from_env(env),
            database_url=_optional(env, "SEAT_DATABASE_URL", parse_database_url),
            metrics_token=_optional(env, "SEAT_METRICS_TOKEN", parse_metrics_token),
        )
        check_provider_choice(settings.payment_sandbox, settings.wechat, settings.public_url)
        return settings


_T = TypeVar("_T")


def _optional(env: Mapping[str, str], name: str, parse: Callable[[str], _T]) -> _T | None:
    """The variable parsed, None when unset or empty; ``ValueError`` names it."""
    raw = env.get(name, "")
    if not raw:
        return None
    try:
        return parse(raw)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def parse_public_url(raw: str) -> str:
    """An http(s) URL with a host and no query, as a base for paths: without its
    trailing slash."""
    raw = raw.strip()
    if not raw.isprintable() or " " in raw:
        raise ValueError(f"spaces or control characters in {raw!r}")
    url = urllib.parse.urlsplit(raw)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"not an http:// or https:// URL with a host: {raw!r}")
    if url.query or url.fragment or url.username is not None:
        raise ValueError(f"a base URL has no query, fragment or user: {raw!r}")
    return urllib.parse.urlunsplit((url.scheme, url.netloc, url.path.rstrip("/"), "", ""))


def parse_database_url(raw: str) -> str:
    """A ``postgresql://`` URL (or ``postgres://``) that libpq reads."""
    raw = raw.strip()
    if urllib.parse.urlsplit(raw).scheme not in ("postgresql", "postgres"):
        raise ValueError("not a postgresql:// URL (unset it for the SQLite file)")
    try:
        conninfo_to_dict(raw)
    except psycopg.ProgrammingError as exc:
        raise ValueError(f"not a URL PostgreSQL reads: {exc}") from None
    return raw


def parse_server_name(raw: str) -> str:
    """``SEAT_SERVER_NAME`` (or the host name it defaults to): written in ledger
    entries and Redis keys, so a short plain word."""
    if not _SERVER_NAME.fullmatch(raw):
        raise ValueError(
            f"SEAT_SERVER_NAME: {raw[:80]!r} is not 1 to 64 letters, digits, '.', '_', '-', ':'"
        )
    return raw


def parse_redis_url(raw: str) -> str:
    """A redis://, rediss:// (TLS) or unix:// URL, as redis-py reads them."""
    raw = raw.strip()
    if not raw.isprintable() or " " in raw:
        raise ValueError("spaces or control characters in the URL")
    url = urllib.parse.urlsplit(raw)
    if url.scheme in ("redis", "rediss") and url.hostname:
        return raw
    if url.scheme == "unix" and url.path:
        return raw
    # Not the URL itself: it may hold the password.
    raise ValueError(f"not a redis://, rediss:// or unix:// URL (scheme {url.scheme!r})")


def parse_sticker_key(raw: str) -> bytes:
    """At least 32 bytes in hex (``openssl rand -hex 32``)."""
    try:
        key = bytes.fromhex(raw.strip())
    except ValueError:
        raise ValueError("not hex digits") from None
    if len(key) < KEY_BYTES:
        raise ValueError(f"at least {KEY_BYTES} bytes (64 hex digits), not {len(key)}")
    return key


METRICS_TOKEN_MIN = 32


def parse_metrics_token(raw: str) -> str:
    """A bearer token of at least 32 characters (``openssl rand -hex 32``): one short
    enough to guess is no protection."""
    if BEARER_TOKEN.fullmatch(raw) is None or len(raw) < METRICS_TOKEN_MIN:
        raise ValueError(
            f"at least {METRICS_TOKEN_MIN} characters of letters, digits and -._~+/ "
            "(openssl rand -hex 32)"
        )
    return raw


# ``SEAT_CALL_PRIORITY``'s names for the kinds of call.
_CALL_KINDS = {
    "exit": CallKind.EXIT_LANE,
    "entry": CallKind.ENTRY_LANE,
    "phone": CallKind.PHONE,
    "hotline": CallKind.HOTLINE,
}


def parse_call_priorities(raw: str) -> tuple[CallKind, ...]:
    """``SEAT_CALL_PRIORITY``: every kind of call once, comma-separated, first answered
    first: ``exit,entry,phone,hotline``."""
    names = [name.strip() for name in raw.split(",")]
    names_rule = ", ".join(_CALL_KINDS)
    unknown = [name for name in names if name not in _CALL_KINDS]
    if unknown:
        raise ValueError(f"SEAT_CALL_PRIORITY: {unknown[0]!r} is not one of {names_rule}")
    if sorted(names) != sorted(_CALL_KINDS):
        raise ValueError(f"SEAT_CALL_PRIORITY must name each of {names_rule} exactly once")
    return tuple(_CALL_KINDS[name] for name in names)


def parse_trusted_proxies(raw: str) -> tuple[ProxyNetwork, ...]:
    """``SEAT_TRUSTED_PROXIES``: comma-separated addresses or CIDR networks
    (``10.0.0.5``, ``10.0.0.0/24``, ``fd00::/8``)."""
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError as exc:
            raise ValueError(f"SEAT_TRUSTED_PROXIES: {exc}") from None
    return tuple(networks)


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
