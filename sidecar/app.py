"""The aiohttp application: typed state, resources opened and closed in order, routes.

Request path, outermost first: stats -> telemetry -> pruning -> routing middlewares -> the catch-all
proxy handler (sidecar.proxy.forward). Each optional component is an *installer*: a function that adds its
middleware, its cleanup_ctx and its routes to the app. The sidecar's own endpoints live under
/sidecar/ so they never shadow an upstream path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from sidecar.config import Config
from sidecar.keys import CONFIG, HEALTH_SOURCES, STATS, UPSTREAM, Installer, health_document
from sidecar.logsafe import install_log_filters
from sidecar.proxy.forward import forward
from sidecar.proxy.responses import error_response
from sidecar.proxy.upstream import new_session
from sidecar.stats import ProxyStats


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
    """Open the one upstream ClientSession; close it last."""
    session = new_session(app[CONFIG].upstream)
    app[UPSTREAM] = session
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
    return web.json_response({"status": "draining" if stats.draining else "starting"}, status=503)


async def health(request: web.Request) -> web.Response:
    """Aggregates since start-up, one section per component."""
    body = msgspec.json.encode(health_document(request.app))
    return web.Response(body=body, content_type="application/json")


async def not_found(request: web.Request) -> web.Response:
    """Answer unknown /sidecar/ paths here: they are ours and never go upstream."""
    return error_response(404, "not_found", "no such sidecar endpoint")


def default_installers() -> list[Installer]:
    """The components of a full sidecar, in middleware order (outermost first)."""
    from sidecar.dashboard.routes import install_dashboard
    from sidecar.mcpserver.http import install_mcp
    from sidecar.pruning.lifecycle import install_pruner
    from sidecar.pruning.middleware import install_pruning
    from sidecar.routing.middleware import install_routing
    from sidecar.telemetry.middleware import install_telemetry

    return [
        install_telemetry,
        install_pruner,
        install_pruning,
        install_routing,
        install_mcp,
        install_dashboard,
    ]


def build_app(config: Config, installers: Sequence[Installer] | None = None) -> web.Application:
    """Build the sidecar application for ``config`` with ``installers`` (default: every component)."""
    install_log_filters()  # aiohttp's parser errors quote client bytes: keep them out of the log
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
    for install in default_installers() if installers is None else installers:
        install(app)
    app.router.add_route("*", "/sidecar", not_found)  # ours too: never forwarded upstream
    app.router.add_route("*", "/sidecar/{tail:.*}", not_found)
    app.router.add_route("*", "/{tail:.*}", proxy_handler)
    app.on_startup.append(_mark_ready)  # after every cleanup_ctx has opened its resource
    return app


async def _mark_ready(app: web.Application) -> None:
    app[STATS].ready = True
