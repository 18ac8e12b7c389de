"""The aiohttp application: typed state, resources opened and closed in order, routes.

Request path, outermost first: stats middleware -> (telemetry, routing, pruning middlewares) ->
the catch-all proxy handler. The sidecar's own endpoints live under /sidecar/ so they never shadow
an upstream path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .config import Config
from .proxy import forward, new_session
from .stats import ProxyStats

HealthSource = Callable[[], msgspec.Struct]

CONFIG = web.AppKey("sidecar_config", Config)
STATS = web.AppKey("sidecar_stats", ProxyStats)
UPSTREAM = web.AppKey("sidecar_upstream", aiohttp.ClientSession)
HEALTH_SOURCES = web.AppKey("sidecar_health_sources", dict[str, HealthSource])


def stats_middleware() -> Middleware:
    """Count requests in flight, so draining and /sidecar/health can see them."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        stats = request.app[STATS]
        stats.requests_total += 1
        stats.in_flight += 1
        try:
            return await handler(request)
        finally:
            stats.in_flight -= 1

    return middleware


async def upstream_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the one upstream ClientSession; ready once it is open; close it last."""
    session = new_session(app[CONFIG].upstream)
    app[UPSTREAM] = session
    app[STATS].ready = True
    try:
        yield
    finally:
        app[STATS].ready = False
        await session.close()


async def proxy_handler(request: web.Request) -> web.StreamResponse:
    """Forward anything that is not /sidecar/* to the configured upstream."""
    app = request.app
    config = app[CONFIG]
    return await forward(
        request, app[UPSTREAM], app[STATS], config.upstream.url, config.server.max_body_bytes
    )


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the upstream session is open and the process is not draining."""
    stats = request.app[STATS]
    if stats.ready and not stats.draining:
        return web.json_response({"status": "ready"})
    reason = "draining" if stats.draining else "starting"
    return web.json_response({"status": reason}, status=503)


async def health(request: web.Request) -> web.Response:
    """Aggregates since start-up, one section per component."""
    app = request.app
    doc: dict[str, object] = {"proxy": msgspec.to_builtins(app[STATS].snapshot())}
    for name, source in app[HEALTH_SOURCES].items():
        doc[name] = msgspec.to_builtins(source())
    return web.Response(body=msgspec.json.encode(doc), content_type="application/json")


async def not_found(request: web.Request) -> web.Response:
    """Answer unknown /sidecar/ paths here: they are ours and never go upstream."""
    return web.json_response(
        {"error": {"message": "no such sidecar endpoint", "type": "not_found"}}, status=404
    )


def build_app(config: Config) -> web.Application:
    """Build the sidecar application for ``config``."""
    middlewares: list[Middleware] = [stats_middleware()]
    app = web.Application(
        middlewares=middlewares,
        client_max_size=config.server.max_body_bytes,
        # Compressed request bodies are relayed as they are, never inflated.
        handler_args={"max_field_size": 65536, "max_line_size": 65536, "auto_decompress": False},
    )
    app[CONFIG] = config
    app[STATS] = ProxyStats()
    app[HEALTH_SOURCES] = {}
    app.cleanup_ctx.append(upstream_ctx)
    app.router.add_get("/sidecar/healthz", healthz)
    app.router.add_get("/sidecar/readyz", readyz)
    app.router.add_get("/sidecar/health", health)
    app.router.add_route("*", "/sidecar/{tail:.*}", not_found)
    app.router.add_route("*", "/{tail:.*}", proxy_handler)
    return app
