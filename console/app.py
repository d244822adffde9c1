"""The app factory: the centre's parts wired together, with no module globals."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiortc import RTCIceServer
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from gates.centre.hub import LaneHub
from gates.protocol import LINK_PATH
from media.centre.bridge import MediaBridge
from media.messages import MEDIA_PATH
from media.plates.ocr import PlateReader

from .actions import Actions
from .anchoring import Anchoring
from .api import Api
from .audit import AuditLog
from .auth import PasswordChecker, token_matches
from .calls.api import CallsApi
from .calls.service import CallService
from .changes import ChangeFeed
from .cluster.bounded import CLOSE_WAIT_S
from .cluster.holding import LaneHolding
from .cluster.lanes import ClusterLanes
from .cluster.news import NewsWire
from .cluster.redis_link import RedisLink
from .cluster.requests import Requests
from .cluster.servers import Servers
from .cluster.stranded import Stranded
from .cluster.throttle import RedisThrottle
from .cluster.told import ToldChanges
from .cluster.views import Views
from .directory import Directory
from .errors import ConsoleError
from .gatekeeping.api import GateKeepingApi
from .gatekeeping.escapes import Escapes
from .gatekeeping.keeper import GateKeeper
from .gatekeeping.lists import CurrentLists
from .help import HelpDesk
from .lane_view import LaneView
from .ledger_check import StartCheck
from .live import LiveLogins
from .login import Logins
from .metrics import Metrics
from .noplate.api import NoPlateApi
from .noplate.page import NoPlatePage
from .noplate.service import NoPlate
from .payments.api import PaymentsApi
from .payments.page import PayPage
from .payments.service import Payments
from .readiness import Phase, Readiness
from .settings import Settings
from .stays.api import StaysApi
from .store import Store
from .streams import Streams
from .throttle import LocalThrottle
from .vehicles.api import VehiclesApi
from .vehicles.readings import PlateReadings
from .vehicles.recorder import VehicleRecorder
from .vehicles.relink import Relinking
from .vehicles.relink_api import RelinkApi
from .watching import Watching
from .web import ClientAddress, SecurityHeaders, on_console_error, on_http_error


def create_app(
    settings: Settings, store: Store, start_check: StartCheck | None = None
) -> Starlette:
    """The centre as an ASGI app. The caller opens and closes ``store``, having checked
    the ledger first (``ensure_ledger_sound``); a ``start_check`` that failed is one the
    operator chose to start on, and the start records it."""

    directory = Directory(store)
    live = LiveLogins()
    # Several servers as one centre share their live state through Redis.
    redis = RedisLink(settings.redis_url) if settings.redis_url else None

    async def verify_lane(lane_id: str, token: str) -> bool:
        lane = await directory.lane(lane_id)
        return lane is not None and token_matches(token, lane.token_hash)

    hub = LaneHub(verify_lane, settings.heartbeat)
    bridge = MediaBridge(
        hub,
        verify_lane,
        ice_servers=[RTCIceServer(**server) for server in settings.ice_servers],
        grace_s=settings.media_grace_s,
        connect_s=settings.media_connect_s,
    )
    # The console sees every lane of the centre through ``lanes``: this server's hub
    # alone, or with Redis the lanes of every server (leases say which holds which).
    lanes: LaneView = hub
    audit = AuditLog(store, Anchoring(store, settings), settings.server_name)
    cluster: tuple[Requests, LaneHolding, ClusterLanes] | None = None
    # Which servers are alive: one round renews this one's presence and its leases.
    servers = None
    if redis is not None:
        servers = Servers(
            redis, settings.server_name, settings.call_presence_s, settings.lease.renew_s
        )
        Stranded(servers, audit, settings.command_timeout_s)
        requests = Requests(redis)
        holding = LaneHolding(redis, requests, hub, settings.lease, servers)
        cluster = (
            requests,
            holding,
            ClusterLanes(redis, requests, hub, holding, settings.command_timeout_s),
        )
        lanes = cluster[2]
    views = Views(bridge, cluster[0] if cluster else None)
    actions = Actions(audit, lanes, settings.command_timeout_s, settings.open_join_s)
    streams = Streams(directory, lanes, audit, live)
    calls = CallService(
        settings.calls,
        store,
        audit,
        streams,
        directory,
        hub,
        bridge,
        link=redis,
        servers=servers,
    )
    vehicles = VehicleRecorder(settings, store, directory, hub)
    relinking = Relinking(store, audit, vehicles)
    changes = ChangeFeed(
        store, directory, live, hub, bridge, streams, calls, settings.change_poll_s
    )
    told = ToldChanges(redis, changes)
    watching = Watching(bridge, views, audit, live)
    metrics = Metrics(hub, bridge, calls)
    # What this centre cannot serve without, for /readyz: one line per service.
    readiness = Readiness()
    readiness.add("store", store.ping)
    if redis is not None:
        readiness.add("redis", redis.check)
    passwords = PasswordChecker(settings.login_workers, settings.login_queue)
    # Across servers a guesser is counted once, in Redis.
    throttle = RedisThrottle(redis) if redis is not None else LocalThrottle()
    logins = Logins(directory, audit, passwords, throttle)
    api = Api(
        settings,
        store,
        directory,
        live,
        lanes,
        audit,
        actions,
        streams,
        watching,
        logins,
        told,
        lambda: vehicles.dropped + keeper.dropped,
        readiness,
        metrics,
    )
    calls_api = CallsApi(calls, directory, settings.max_body_bytes)
    readings = PlateReadings(
        store, audit, settings.data_dir, PlateReader(settings.ocr_threads), settings.ocr_queue
    )
    vehicles_api = VehiclesApi(store, directory, settings.data_dir, readings)
    relink_api = RelinkApi(relinking, directory, settings.max_body_bytes)
    lists = CurrentLists(store)
    stays_api = StaysApi(store, directory, lists)
    help_desk = HelpDesk(settings, store, directory, calls, bridge)
    payments = Payments(settings, store, audit, actions, streams, lists)
    payments_api = PaymentsApi(payments, store, directory, settings.max_body_bytes)
    escapes = Escapes(store, audit, lists, relinking.index)
    keeper = GateKeeper(
        store, directory, audit, actions, payments, streams, vehicles, lists, hub, escapes
    )
    # What one server tells its tabs, every server's tabs are told.
    news = NewsWire(redis, streams, audit, store) if redis is not None else None
    if news is not None:
        news.on_heard(payments.teller.heard)
    keeping_api = GateKeepingApi(escapes, store, directory, settings.max_body_bytes)
    pay_page = PayPage(settings, payments)
    noplate = NoPlate(settings, store, audit, actions, directory, vehicles, relinking, payments)
    noplate_api = NoPlateApi(noplate, directory, settings.max_body_bytes)
    noplate_page = NoPlatePage(settings, noplate)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        unwatch = metrics.watch(store)
        await audit.start(start_check)
        await changes.start()
        await directory.load()
        await calls.start()
        await relinking.start()  # its index, before the first event can change the stays
        await payments.start()
        await keeper.start()  # decides from the first event on, and issues orders
        await vehicles.start()
        await help_desk.start()
        await noplate.start()
        if news is not None:
            await news.start()
        if servers is not None:
            await servers.start(audit.started)
        if cluster is not None:
            await cluster[2].start()
        if redis is not None:
            await redis.start()
        following = asyncio.create_task(changes.run())
        readiness.phase = Phase.SERVING
        yield
        readiness.phase = Phase.STOPPING
        following.cancel()
        await told.close()
        # uvicorn has closed every WebSocket by now (lanes hear 1012 and redial).
        await help_desk.close()
        await calls.close()
        await vehicles.close()  # before the caller closes the store
        await keeper.close()  # decides what the recorder kept last
        await readings.close()
        relinking.close()
        await bridge.close()
        await noplate.close()  # its paid exits before the payments' opens end
        await payments.close()
        await actions.drain()
        await watching.drain()
        logins.close()
        await audit.close()  # after the last entry: its checkpoint covers them all
        if news is not None:
            await news.close()
        if cluster is not None and servers is not None:
            await cluster[2].close()  # the lanes' last statuses: offline, for the others
            await servers.close(CLOSE_WAIT_S)  # no more rounds: the others find it gone
            await cluster[1].close(CLOSE_WAIT_S)  # the leases: the lanes come up elsewhere
            await cluster[0].close()
        if redis is not None:
            await redis.close()
        unwatch()

    app = Starlette(
        routes=[
            Route("/healthz", api.healthz),
            Route("/readyz", api.readyz),
            Route("/metrics", api.metrics_text),
            Mount(
                "/api",
                routes=api.routes()
                + calls_api.routes()
                + vehicles_api.routes()
                + relink_api.routes()
                + stays_api.routes()
                + payments_api.routes()
                + noplate_api.routes()
                + keeping_api.routes(),
            ),
            Mount("/help", routes=help_desk.routes()),
            Mount("/pay", routes=pay_page.routes()),
            Mount("/noplate", routes=noplate_page.routes()),
            WebSocketRoute(LINK_PATH, hub.serve),
            WebSocketRoute(MEDIA_PATH, bridge.serve),
            Mount("/", StaticFiles(directory=settings.web_dir, html=True)),
        ],
        middleware=[
            Middleware(ClientAddress, trusted=settings.trusted_proxies),
            Middleware(SecurityHeaders),
        ],
        exception_handlers={ConsoleError: on_console_error, HTTPException: on_http_error},
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.audit = audit
    app.state.media = bridge
    app.state.changes = changes
    app.state.calls = calls
    app.state.vehicles = vehicles
    app.state.relinking = relinking
    app.state.readings = readings
    app.state.payments = payments
    app.state.keeper = keeper
    app.state.noplate = noplate
    app.state.redis = redis
    app.state.lanes = lanes
    return app
