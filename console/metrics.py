"""The centre's figures for Prometheus (``GET /metrics``), and who may read them.

Each app has a registry of its own, so centres built in one process (the tests build
many) never share a figure. Counts and latencies are recorded where they happen, by
listeners on the lane hub (each command's one outcome) and on the store (each write
that appended ledger entries): a counter's increment and a histogram's observation
are all the command path pays, and only when a command ends. What is true now (lanes
online, live viewers, calls waiting) is read when Prometheus scrapes, from the parts
that keep it, so it cannot drift from them.

The figures say how busy a seat is, and Prometheus scrapes from another machine: with
``SEAT_METRICS_TOKEN`` set a scrape must carry it as a bearer token; without it only
this machine may read them (``access_refusal``).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.process_collector import ProcessCollector

from gates.centre.commands import Outcome, Resolved
from gates.centre.hub import LaneHub
from media.centre.bridge import MediaBridge

from .auth import BEARER_TOKEN
from .calls.service import CallService
from .errors import ConsoleError, Forbidden, NotAuthenticated
from .store import Store

CONTENT_TYPE = CONTENT_TYPE_LATEST
# From a lift answered on loopback (a few ms) to the longest command timeout.
COMMAND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A group commit is one fsync: well under a millisecond on an SSD, tens on a busy disk.
LEDGER_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _Now:
    """The gauges, read from the parts that keep them at each scrape."""

    def __init__(self, hub: LaneHub, bridge: MediaBridge, calls: CallService) -> None:
        self.hub = hub
        self.bridge = bridge
        self.calls = calls

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "seat_lanes_online", "Lanes whose lane link is up.", value=len(self.hub.online())
        )
        yield GaugeMetricFamily(
            "seat_viewers", "Live media viewers of the lanes.", value=len(self.bridge.viewers())
        )
        yield GaugeMetricFamily(
            "seat_calls_waiting",
            "Calls waiting in the queue or being rung.",
            value=self.calls.queue.waiting(),
        )


class Metrics:
    def __init__(self, hub: LaneHub, bridge: MediaBridge, calls: CallService) -> None:
        self.registry = CollectorRegistry()
        self.commands = Counter(
            "seat_commands",
            "Commands to lanes, by how they ended.",
            ["outcome"],
            registry=self.registry,
        )
        # Each outcome shown from the start, at 0; and looked up once, not per command.
        self._by_outcome = {outcome: self.commands.labels(outcome.value) for outcome in Outcome}
        self.command_seconds = Histogram(
            "seat_command_seconds",
            "Seconds from a command's issue to its outcome.",
            buckets=COMMAND_BUCKETS,
            registry=self.registry,
        )
        self.ledger_seconds = Histogram(
            "seat_ledger_append_seconds",
            "Seconds from a ledger entry's submission until it was durable.",
            buckets=LEDGER_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_Now(hub, bridge, calls))
        ProcessCollector(registry=self.registry)
        hub.subscribe_outcomes(self._command_ended)

    def watch(self, store: Store) -> Callable[[], None]:
        """Count ``store``'s ledger appends until the returned function is called: the
        store outlives the app (the caller opens and closes it)."""
        return store.watch_appends(self._appended)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def _command_ended(self, resolved: Resolved, seconds: float) -> None:
        self._by_outcome[resolved.outcome].inc()
        self.command_seconds.observe(seconds)

    def _appended(self, entries: int, seconds: float) -> None:
        for _ in range(entries):
            self.ledger_seconds.observe(seconds)


def access_refusal(
    token: str | None, authorizations: list[str], client: str
) -> ConsoleError | None:
    """Why a scrape from ``client`` with these ``Authorization`` header values is
    refused, or None. With a ``token``, exactly one well-formed ``Bearer`` credential
    equal to it (compared in constant time) lets it in, from anywhere; without one,
    only a client on this machine. ``client`` is the address ``ClientAddress``
    settled, so behind a trusted proxy it is the proxy's client, not the proxy."""
    if token is None:
        if _loopback(client):
            return None
        return Forbidden(
            "metrics_local_only",
            "without SEAT_METRICS_TOKEN the figures are served to this machine only",
        )
    if not authorizations:
        return NotAuthenticated(
            "not_authenticated", "send the metrics token as Authorization: Bearer <token>"
        )
    given = _bearer(authorizations)
    if given is None:
        return NotAuthenticated(
            "bad_authorization", "Authorization must be one header: Bearer <token>"
        )
    if not hmac.compare_digest(given.encode(), token.encode()):
        return NotAuthenticated("bad_token", "that is not the metrics token")
    return None


def _bearer(authorizations: list[str]) -> str | None:
    if len(authorizations) != 1:
        return None
    scheme, _, credential = authorizations[0].partition(" ")
    if scheme.lower() != "bearer" or BEARER_TOKEN.fullmatch(credential) is None:
        return None
    return credential


def _loopback(client: str) -> bool:
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
