"""Which centre a lane dials next, and when it waits: the rotation, the addresses a
name resolves to, and what a connection to one of them says its server is, without a
centre."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from gates.lane.rotation import Rotation, dial_order
from gates.lane.targets import Target, resolve, split_servers


def dials(rotation: Rotation[str], outcomes: list[bool]) -> list[tuple[str, bool]]:
    """Dial as the agent does: each outcome True if the target came online (and was
    later lost); returns each target dialled with whether a wait followed."""
    seen = []
    for came_online in outcomes:
        target = rotation.current
        if came_online:
            rotation.online()
        seen.append((target, rotation.missed()))
    return seen


def test_a_failed_centre_is_followed_by_the_next_at_once_and_a_wait_only_after_all() -> None:
    rotation = Rotation(["a", "b", "c"])
    assert dials(rotation, [False, False, False, False]) == [
        ("a", False),
        ("b", False),
        ("c", True),
        ("a", False),
    ]


def test_a_lost_centre_is_followed_by_the_next_at_once() -> None:
    """Online on b, then b is lost: a is tried without waiting; a failing too, every
    centre has failed since b worked, and the lane waits before b again."""
    rotation = Rotation(["a", "b"], position=1)
    assert dials(rotation, [True, False, False]) == [("b", False), ("a", True), ("b", False)]


def test_one_centre_waits_after_each_loss_as_a_lane_always_did() -> None:
    rotation = Rotation(["a"])
    assert dials(rotation, [True, False, True]) == [("a", True), ("a", True), ("a", True)]


def test_a_new_round_starts_after_a_success_or_a_wait() -> None:
    rotation = Rotation(["a", "b"])
    assert rotation.starting
    rotation.missed()
    assert not rotation.starting
    rotation.online()
    assert rotation.starting
    rotation.missed()
    rotation.missed()
    assert rotation.starting


def test_renewed_targets_keep_the_current_one_where_it_is_still_there() -> None:
    rotation = Rotation(["a", "b", "c"], position=1)
    rotation.renew(["c", "b"])
    assert rotation.current == "b"
    rotation.renew(["x", "y"])
    assert rotation.current == "x"


CENTRES = ["ws://a:8080/link", "ws://b:8080/link", "ws://c:8080/link"]
LANES = [f"P{n:04d}-IN" for n in range(2000)]


def next_alive(lane: str, given: list[str], dead: str) -> str:
    """Where the lane comes up when ``dead`` dies: its first centre still alive."""
    return next(centre for centre in dial_order(lane, given) if centre != dead)


def test_each_lane_dials_its_first_centre_first_then_every_other_once() -> None:
    for lane in LANES:
        order = dial_order(lane, CENTRES)
        assert order[0] == CENTRES[0]
        assert sorted(order) == sorted(CENTRES)


@pytest.mark.parametrize("dead", CENTRES)
def test_a_dead_centres_lanes_spread_over_the_survivors(dead: str) -> None:
    """Three servers, 2,000 lanes, each lane's list rotated by one from the last (the
    lanes' homes spread evenly): the lanes of the one that dies come up at both others,
    neither taking more than three in five, not all at one."""
    given = {lane: CENTRES[n % 3 :] + CENTRES[: n % 3] for n, lane in enumerate(LANES)}
    orphans = [lane for lane in LANES if given[lane][0] == dead]
    assert len(orphans) in (666, 667)
    landed = Counter(next_alive(lane, given[lane], dead) for lane in orphans)
    assert set(landed) == set(CENTRES) - {dead}
    assert all(0.4 < count / len(orphans) < 0.6 for count in landed.values()), landed


def test_lanes_given_the_same_list_spread_when_their_first_dies() -> None:
    landed = Counter(next_alive(lane, CENTRES, CENTRES[0]) for lane in LANES)
    assert set(landed) == set(CENTRES[1:])
    assert all(0.4 < count / len(LANES) < 0.6 for count in landed.values()), landed


def test_a_lanes_order_is_its_own_whatever_the_process_or_the_listing() -> None:
    """Drawn from the lane's id and the URLs alone (not Python's salted ``hash``): the
    same after a restart, and the same with the others listed in another order."""
    a, b, c = CENTRES
    assert dial_order("P2-IN", CENTRES) == [a, c, b]
    assert dial_order("P2-OUT", CENTRES) == [a, b, c]
    for lane in LANES[:200]:
        assert dial_order(lane, [a, c, b]) == dial_order(lane, CENTRES)
        # A centre taken out of the list moves no lane between the others.
        assert dial_order(lane, [a, b]) == [x for x in dial_order(lane, CENTRES) if x != c]


def test_a_lane_with_no_centre_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one centre"):
        dial_order("P1-IN", [])


def test_no_targets_is_an_error_not_an_idle_lane() -> None:
    with pytest.raises(ValueError, match="at least one centre"):
        Rotation[str]().renew([])
    with pytest.raises(LookupError):
        _ = Rotation[str]().current


def test_servers_are_repeated_or_comma_separated() -> None:
    assert split_servers(["http://a:1, http://b:2", "http://c:3"]) == [
        "http://a:1",
        "http://b:2",
        "http://c:3",
    ]
    with pytest.raises(ValueError, match="centre URLs"):
        split_servers(["http://a:1,,http://b:2"])


def test_a_target_connects_to_its_address_and_keeps_its_name_for_tls() -> None:
    target = Target("wss://centre.example:443/link", "2001:db8::1")
    assert target.options() == {"host": "2001:db8::1"}
    assert Target("ws://centre:80/link").options() == {}
    media = target.beside("wss://centre.example:443/link/media")
    assert (media.url, media.address) == ("wss://centre.example:443/link/media", "2001:db8::1")


async def test_a_name_is_dialled_address_by_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop's resolver is asked (never a blocking call), each address is a target
    once, in its order, and a name that does not resolve stays as itself."""
    asked: list[tuple[Any, ...]] = []

    async def getaddrinfo(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        asked.append((host, port, kwargs.get("type")))
        if host == "nowhere.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        stream = (socket.SOCK_STREAM, 6, "")
        return [
            (socket.AF_INET6, *stream, ("::1", port, 0, 0)),
            (socket.AF_INET, *stream, ("127.0.0.1", port)),
            (socket.AF_INET, *stream, ("127.0.0.2", port)),
            (socket.AF_INET, *stream, ("127.0.0.1", port)),
        ]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    targets = await resolve(["ws://centres:8080/link", "ws://nowhere.invalid/link"])
    assert asked == [
        ("centres", 8080, socket.SOCK_STREAM),
        ("nowhere.invalid", 80, socket.SOCK_STREAM),
    ]
    assert [str(t) for t in targets] == [
        "ws://centres:8080/link@::1",
        "ws://centres:8080/link@127.0.0.1",
        "ws://centres:8080/link@127.0.0.2",
        "ws://nowhere.invalid/link",
    ]


async def test_a_proxied_name_is_left_for_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert await resolve(["wss://centre.example/link"]) == [Target("wss://centre.example/link")]


def self_signed(name: str, directory: Path) -> tuple[Path, Path]:
    """A certificate for ``name`` (its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_a_resolved_address_keeps_the_name_for_tls_and_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """wss:// to a name dialled at its address: the TLS handshake names the server and
    checks its certificate by the name, and the request's Host is the name too."""
    cert_file, key_file = self_signed("centres.test", tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the lane trusts it as a CA
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert_file, key_file)
    names: list[str | None] = []
    served.sni_callback = lambda sock, name, context: names.append(name)
    hosts: list[str | None] = []

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        hosts.append(ws.request.headers.get("Host"))
        await ws.close()

    async with serve(handler, "127.0.0.1", 0, ssl=served) as server:
        port = server.sockets[0].getsockname()[1]
        target = Target(f"wss://centres.test:{port}/link", "127.0.0.1")
        async with connect(target.url, **target.options()) as ws:
            await ws.wait_closed()
    assert names == ["centres.test"]
    assert hosts == [f"centres.test:{port}"]
