"""The app factory: the centre's parts wired together, with no module globals."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiortc import RTCIceServer
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from gates.hub import LaneHub
from gates.protocol import LINK_PATH
from media.bridge import MediaBridge
from media.messages import MEDIA_PATH

from .actions import Actions
from .api import Api
from .audit import AuditLog
from .auth import LoginThrottle, token_matches
from .errors import ConsoleError
from .settings import Settings
from .store import Store
from .streams import Streams
from .watching import Watching
from .web import SecurityHeaders, on_console_error, on_http_error


def create_app(settings: Settings, store: Store) -> Starlette:
    """The centre as an ASGI app. The caller opens and closes ``store``."""

    async def verify_lane(lane_id: str, token: str) -> bool:
        lane = await store.get_lane(lane_id)
        return lane is not None and token_matches(token, lane.token_hash)

    hub = LaneHub(verify_lane, settings.heartbeat)
    audit = AuditLog(store)
    actions = Actions(audit, hub, settings.command_timeout_s)
    streams = Streams(store, hub, audit)
    bridge = MediaBridge(
        hub,
        verify_lane,
        ice_servers=[RTCIceServer(**server) for server in settings.ice_servers],
        grace_s=settings.media_grace_s,
        connect_s=settings.media_connect_s,
    )
    watching = Watching(bridge, audit)
    api = Api(settings, store, hub, audit, actions, streams, watching, LoginThrottle())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await audit.start()
        yield
        # uvicorn has closed every WebSocket by now (lanes hear 1012 and redial).
        await bridge.close()
        await actions.drain()
        await watching.drain()

    app = Starlette(
        routes=[
            Route("/healthz", api.healthz),
            Mount("/api", routes=api.routes()),
            WebSocketRoute(LINK_PATH, hub.serve),
            WebSocketRoute(MEDIA_PATH, bridge.serve),
            Mount("/", StaticFiles(directory=settings.web_dir, html=True)),
        ],
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={ConsoleError: on_console_error, HTTPException: on_http_error},
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.audit = audit
    app.state.media = bridge
    return app
