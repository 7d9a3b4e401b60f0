"""`create_app(settings)`: the FastAPI application (OpenAPI at /api/docs, routes under /api/v1)."""

from __future__ import annotations

import importlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from appliance.api import errors
from appliance.api.ratelimit import limiter_for
from appliance.api.routers import ROUTERS
from appliance.config import Settings
from appliance.metrics import HTTP_LATENCY
from appliance.store.db import Database, open_database

API_PREFIX = "/api/v1"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The matched route's full path template (`/api/v1/calls/{call_id}`), or "unmatched"."""
    # FastAPI includes routers lazily: the effective route context knows the prefixed path, the route only its own.
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    template = getattr(context, "path_format", None) or getattr(scope.get("route"), "path_format", None)
    return str(template) if template else "unmatched"


class BodyLimit:
    """413 for a request body over `max_bytes`, declared (Content-Length) or streamed (chunked)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await errors.problem(413, f"request body over {self.max_bytes} bytes")(scope, receive, send)
            return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        # Streamed (chunked) body: read it up to the limit before the app sees it, then replay it.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.max_bytes:
                await errors.problem(413, f"request body over {self.max_bytes} bytes")(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RequestMetrics:
    """HTTP latency histogram labelled by route template and method (never by raw path or an unknown method:
    ids and made-up verbs would explode the label sets)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "other"
            HTTP_LATENCY.labels(method, route_template(scope), str(status[0])).observe(time.perf_counter() - start)


def create_app(settings: Settings, *, db: Database | None = None) -> FastAPI:
    """The API for one box. `db`: an open Database to use (tests); else one is opened from `settings`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = app.state.db is None
        if owned:
            app.state.db = open_database(settings)
        try:
            for hook in app.state.on_startup:
                await hook(app)
            yield
        finally:
            for hook in app.state.on_shutdown:
                await hook(app)
            if owned:
                app.state.db.close()
                app.state.db = None

    app = FastAPI(title="VocalIQ", version="1", docs_url="/api/docs", openapi_url="/api/openapi.json",
                  redoc_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.db = db
    app.state.limiter = limiter_for(settings.redis.url)
    app.state.appliance = None  # `vocaliq serve` sets the running Appliance (live calls, SIP registrations)
    app.state.on_startup = []  # async hooks(app): background tasks such as the webhook dispatcher
    app.state.on_shutdown = []
    errors.install(app)
    for name in ROUTERS:
        module = importlib.import_module(f"appliance.api.routers.{name}")
        app.include_router(module.router, prefix=getattr(module, "PREFIX", API_PREFIX))
        if hasattr(module, "setup"):
            module.setup(app)
    app.add_middleware(BodyLimit, max_bytes=settings.security.max_request_bytes)
    app.add_middleware(RequestMetrics)
    return app
