"""Fixtures that build the real thing: a centre under uvicorn on 127.0.0.1:0, a real
SQLite store, and lane agents speaking the lane link over real WebSockets."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypedDict, Unpack

import httpx
import psycopg
import pytest
import uvicorn
from argon2 import PasswordHasher
from playwright.async_api import Browser, async_playwright

from console.app import create_app
from console.audit import AuditLog
from console.auth import hash_password, new_token, token_hash
from console.calls.service import CallService
from console.changes import ChangeFeed
from console.cluster.redis_link import RedisLink
from console.lane_view import LaneView
from console.models import Direction, LaneRecord, Role
from console.pg_schema import upgrade
from console.pg_store import PostgresStore
from console.server import listening_socket, uvicorn_config
from console.settings import Settings
from console.sqlite_store import SQLiteStore
from console.stores import open_store
from console.vehicles.readings import PlateReadings
from console.vehicles.recorder import VehicleRecorder
from gates.backoff import Backoff
from gates.centre.hub import LaneHub
from gates.centre.link import HeartbeatPolicy
from gates.centre.status import LaneStatus
from gates.lane.agent import LaneAgent, Uplink, link_url
from gates.lane.session import LaneSession
from gates.protocol import DeviceInfo, DisplaySize
from media.centre.bridge import MediaBridge
from tests.lanes import ScriptedDriver
from tests.netproxy import CuttableProxy
from tests.services import PostgresServer, RedisServer
from tests.viewers import ViewerPeer

# Names of the tests' PostgreSQL databases, unique within one test process.
_DATABASES = itertools.count(1)

# Either store, as a test module that runs on both (``both_stores``) gets it.
AnyStore = SQLiteStore | PostgresStore

PASSWORD = "correct horse battery"
# Argon2 is slow on purpose: with the centre's parameters a check takes ~0.2 s here, and
# most tests log in only to be logged in, several times each. Their accounts get a hash
# made with Argon2's cheapest parameters, which the same check reads from the hash.
# Tests of what a login costs (a storm, a busy pool) give their accounts REAL_PASSWORD_HASH.
PASSWORD_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
REAL_PASSWORD_HASH = hash_password(PASSWORD)


@dataclass
class Centre:
    url: str
    store: AnyStore
    hub: LaneHub
    media: MediaBridge
    audit: AuditLog
    settings: Settings
    changes: ChangeFeed
    calls: CallService
    vehicles: VehicleRecorder
    readings: PlateReadings
    redis: RedisLink | None = None
    # Every lane of the centre as this server's console sees it (the hub alone, without
    # Redis; every server's lanes with it).
    lanes: LaneView | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def link(self) -> str:
        return link_url(self.url)

    async def add_user(self, name: str, role: Role, password_hash: str = PASSWORD_HASH) -> None:
        await self.store.add_user(name, role, password_hash, datetime.now(UTC))

    async def add_lane(self, lane_id: str, direction: Direction = Direction.EXIT) -> str:
        token = new_token()
        await self.store.put_lane(
            LaneRecord(lane_id, f"{lane_id} name", "人民路停车场", direction, token_hash(token))
        )
        # As the seat CLI would, through the store; the centre hears of it by its change
        # feed, read now rather than at its next poll.
        await self.changes.poll()
        self.tokens[lane_id] = token
        return token

    async def wait_status(
        self, lane: str, check: Callable[[LaneStatus], bool], timeout: float = 10.0
    ) -> LaneStatus:
        """Wait for the hub to report a status of ``lane`` that passes ``check``."""
        return await wait_status(self.hub, lane, check, timeout)

    @contextlib.asynccontextmanager
    async def client(self, username: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
        """An HTTP client, logged in as ``username`` when given (CSRF header set)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            if username is not None:
                response = await client.post(
                    "/api/login", json={"username": username, "password": PASSWORD}
                )
                response.raise_for_status()
                client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
            yield client


async def wait_status(
    hub: LaneView, lane: str, check: Callable[[LaneStatus], bool], timeout: float = 10.0
) -> LaneStatus:
    seen: asyncio.Queue[LaneStatus] = asyncio.Queue()
    unsubscribe = hub.subscribe(
        lambda status: seen.put_nowait(status) if status.lane == lane else None
    )
    try:
        status = hub.status(lane)
        async with asyncio.timeout(timeout):
            while not check(status):
                status = await seen.get()
        return status
    finally:
        unsubscribe()


TEST_POLICY = HeartbeatPolicy(min_ms=100, max_ms=5000, hello_timeout_s=2.0)


@dataclass
class Running:
    server: uvicorn.Server
    task: asyncio.Task[None]
    port: int
    hub: LaneHub
    media: MediaBridge
    audit: AuditLog
    changes: ChangeFeed
    calls: CallService
    vehicles: VehicleRecorder
    readings: PlateReadings
    redis: RedisLink | None
    lanes: LaneView

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task

    def centre(self, store: AnyStore, settings: Settings) -> Centre:
        return Centre(
            f"http://127.0.0.1:{self.port}",
            store,
            self.hub,
            self.media,
            self.audit,
            settings,
            self.changes,
            self.calls,
            self.vehicles,
            self.readings,
            self.redis,
            self.lanes,
        )


async def start_centre(settings: Settings, store: AnyStore, port: int = 0) -> Running:
    """A real centre under uvicorn; ``port=0`` picks a free one."""
    app = create_app(settings, store)
    config = uvicorn_config(settings, app, port=port)
    sock = listening_socket(config)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    state = app.state
    return Running(
        server,
        task,
        sock.getsockname()[1],
        state.hub,
        state.media,
        state.audit,
        state.changes,
        state.calls,
        state.vehicles,
        state.readings,
        state.redis,
        state.lanes,
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server per test process; each test takes a database of its own
    (``postgres_url``)."""
    server = PostgresServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database on the tests' own PostgreSQL server."""
    return postgres_server.create_database(f"t{next(_DATABASES)}")


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A Redis server of the test's own: it starts in milliseconds, and no test sees
    another's keys, leases or subscriptions."""
    server = RedisServer()
    server.start()
    yield server
    server.close()


ENGINES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module marked ``both_stores`` runs each of its tests on either engine; a test
    in it marked ``sqlite_only`` tests what only the SQLite file has."""
    if "engine" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("both_stores") is None:
        return
    only = metafunc.definition.get_closest_marker("sqlite_only") is not None
    metafunc.parametrize("engine", ENGINES[:1] if only else ENGINES, indirect=True)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """The store's engine: SQLite, unless the module runs on both (``both_stores``)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def postgres_schema(postgres_server: PostgresServer) -> str:
    """A database at the store's current schema, that each test on the PostgreSQL store
    copies (``postgres_store_url``): cheaper than migrating a database per test."""
    name = "seat_schema"
    with psycopg.connect(postgres_server.create_database(name), autocommit=True) as conn:
        upgrade(conn)
    return name


@pytest.fixture
def postgres_store_url(postgres_server: PostgresServer, postgres_schema: str) -> str:
    """A new database of the test's own, at the store's current schema, empty."""
    return postgres_server.create_database(f"s{next(_DATABASES)}", template=postgres_schema)


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, engine: str) -> Settings:
    """The test settings, changed by the test's indirect parameter when it has one."""
    changed: dict[str, Any] = getattr(request, "param", {})
    base = Settings(data_dir=tmp_path, port=0, command_timeout_s=3.0, heartbeat=TEST_POLICY)
    if engine == "postgresql":
        base = replace(base, database_url=request.getfixturevalue("postgres_store_url"))
    return replace(base, **changed)


class StoreOptions(TypedDict, total=False):
    """``open``'s options of both stores."""

    clock: Callable[[], datetime]
    changes_kept: int


class StoreOpener(Protocol):
    def __call__(self, **options: Unpack[StoreOptions]) -> Awaitable[AnyStore]: ...


@pytest.fixture
def open_test_store(settings: Settings) -> StoreOpener:
    """Opens the test's store (again) on its engine, with ``open``'s options (a clock,
    the changes kept): each call opens the same database."""

    async def open_(**options: Unpack[StoreOptions]) -> AnyStore:
        if settings.database_url is not None:
            return await PostgresStore.open(settings.database_url, **options)
        return await SQLiteStore.open(settings.database, **options)

    return open_


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[AnyStore]:
    opened = await open_store(settings)
    yield opened
    await opened.close()


@pytest.fixture
async def centre(settings: Settings, store: AnyStore) -> AsyncIterator[Centre]:
    running = await start_centre(settings, store)
    yield running.centre(store, settings)
    await running.stop()


@pytest.fixture
async def cluster(settings: Settings, redis_server: RedisServer) -> AsyncIterator[list[Centre]]:
    """Two servers of one centre, on one store and one Redis. The store is one SQLite
    file, which the writer shares between processes (each batch under ``BEGIN
    IMMEDIATE``, the ledger's head read inside it) as PostgreSQL shares a database
    between machines. A lane added through one is known to both; each server has a
    store of its own and a name of its own, as a process would."""
    async with servers_of_one_centre(
        [replace(settings, redis_url=redis_server.url) for _ in range(2)]
    ) as running:
        yield running


@contextlib.asynccontextmanager
async def servers_of_one_centre(settings: Sequence[Settings]) -> AsyncIterator[list[Centre]]:
    """A server for each of ``settings`` (``cluster``'s, each with a Redis URL of its
    own if it reaches Redis through a proxy), named ``server-N``."""
    named = [replace(each, server_name=f"server-{n}") for n, each in enumerate(settings)]
    stores: list[SQLiteStore] = []
    running: list[Running] = []
    try:
        for each in named:
            stores.append(await SQLiteStore.open(each.database))
            running.append(await start_centre(each, stores[-1]))
        yield [
            server.centre(store, each)
            for server, store, each in zip(running, stores, named, strict=True)
        ]
    finally:
        for server in running:
            await server.stop()
        for store in stores:
            await store.close()


@dataclass
class Lane:
    agent: LaneAgent
    driver: ScriptedDriver
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class LaneOptions(TypedDict, total=False):
    """``start_lane``'s options, for the helpers that pass them on."""

    token: str | None
    heartbeat_ms: int
    wait: bool
    publisher: Uplink | None
    display: DisplaySize | None
    devices: tuple[DeviceInfo, ...]


class LaneFactory(Protocol):
    def __call__(self, lane_id: str, **options: Unpack[LaneOptions]) -> Awaitable[Lane]: ...


async def start_lane(
    centre: Centre,
    lane_id: str,
    *,
    token: str | None = None,
    heartbeat_ms: int = 1000,
    wait: bool = True,
    publisher: Uplink | None = None,
    display: DisplaySize | None = None,
    devices: tuple[DeviceInfo, ...] = (),
) -> Lane:
    """An in-process lane agent against ``centre`` (registering the lane if it is new),
    by default connected: it has heard its welcome."""
    if lane_id not in centre.tokens and token is None:
        await centre.add_lane(lane_id)
    session = LaneSession(
        lane_id,
        token or centre.tokens[lane_id],
        heartbeat_ms=heartbeat_ms,
        display=display,
        devices=devices,
    )
    driver = ScriptedDriver()
    agent = LaneAgent(
        [centre.link], session, driver, Backoff(first=0.05, cap=0.2), publisher=publisher
    )
    lane = Lane(agent, driver, asyncio.create_task(agent.run()))
    if wait:
        async with asyncio.timeout(10):
            await agent.connected.wait()
    return lane


@pytest.fixture
async def lanes(centre: Centre) -> AsyncIterator[LaneFactory]:
    """Starts in-process lane agents against ``centre``; each waits for its welcome."""
    started: list[Lane] = []

    async def start(lane_id: str, **options: Unpack[LaneOptions]) -> Lane:
        lane = await start_lane(centre, lane_id, **options)
        started.append(lane)
        return lane

    yield start
    for lane in started:
        lane.task.cancel()
    await asyncio.gather(*(lane.task for lane in started), return_exceptions=True)


@contextlib.asynccontextmanager
async def lane_behind_proxy(centre: Centre) -> AsyncIterator[tuple[ScriptedDriver, CuttableProxy]]:
    """A connected lane whose link runs through a proxy the test can cut, and whose
    driver holds every lift until the test releases it."""
    token = await centre.add_lane("P1-OUT")
    proxy = CuttableProxy(int(centre.url.rsplit(":", 1)[1]))
    await proxy.start()
    driver = ScriptedDriver()
    driver.hold = asyncio.Event()
    agent = LaneAgent(
        [link_url(f"http://127.0.0.1:{proxy.port}")],
        LaneSession("P1-OUT", token, heartbeat_ms=1000),
        driver,
        Backoff(first=0.05, cap=0.2),
    )
    running = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.connected.wait(), 10)
        yield driver, proxy
    finally:
        running.cancel()
        await proxy.close()


@pytest.fixture
async def staffed(centre: Centre) -> Centre:
    """The centre with two agents, alice and bob, and a supervisor, sue."""
    await centre.add_user("alice", Role.AGENT)
    await centre.add_user("bob", Role.AGENT)
    await centre.add_user("sue", Role.SUPERVISOR)
    return centre


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """``console.logs.configure`` sets up the process's logging; put back what pytest had."""
    loggers = [logging.getLogger(name) for name in ("", "aioice", "aiortc")]
    saved = [(logger, logger.handlers[:], logger.level) for logger in loggers]
    yield
    for logger, handlers, level in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)


CHROMIUM = "/usr/bin/chromium"  # Debian's package: browser downloads cannot work here
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # A fake camera and microphone (a beeping tone), allowed without a prompt, and
    # audio that plays without a user gesture: the intercom's browser end.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """One Chromium per test process: starting Playwright's driver and the browser takes
    seconds, a fresh context in it milliseconds."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def browser(chromium: Browser) -> AsyncIterator[Browser]:
    """The process's Chromium, whose every page is in a context of the test's own
    (``new_page`` opens one too): each is closed after the test, so no cookie, storage,
    permission or open page carries into the next."""
    yield chromium
    await asyncio.gather(*(context.close() for context in chromium.contexts))


@pytest.fixture(autouse=True)
async def tasks_ended() -> AsyncIterator[None]:
    """The tests of a process share one event loop, as the browser they share must. The
    tasks a test leaves running are cancelled after it, as closing a loop of its own
    would: none carries on into the next test. Set up before the test's other fixtures,
    it ends after them."""
    before = asyncio.all_tasks()
    yield
    ending = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() - before if task is not ending]
    for task in left:
        task.cancel()
    await asyncio.gather(*left, return_exceptions=True)
    loop = asyncio.get_running_loop()
    for task in left:
        if not task.cancelled() and task.exception() is not None:
            # Reported as a loop's close reports it, not passed over.
            loop.call_exception_handler(
                {
                    "message": "a task the test left failed as it was cancelled",
                    "task": task,
                    "exception": task.exception(),
                }
            )


@pytest.fixture
async def peers() -> AsyncIterator[list[ViewerPeer]]:
    """Viewer peers a test opened; closed at the end whatever happened."""
    opened: list[ViewerPeer] = []
    yield opened
    for peer in opened:
        await peer.close()
