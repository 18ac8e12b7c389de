"""Run the app as a server: bind, serve until SIGINT/SIGTERM, then drain.

On a stop signal: readiness turns false, the server waits ``server.drain_delay_s`` (so a load
balancer or Kubernetes stops routing), stops accepting, lets in-flight requests finish for up to
``server.shutdown_timeout_s``, then closes the upstream session and the other resources.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket

from aiohttp import web

from sidecar.app import build_app
from sidecar.config import Config, ServerConfig
from sidecar.keys import STATS
from sidecar.timeouts import guard_heads

log = logging.getLogger("sidecar.server")


def make_runner(
    app: web.Application,
    shutdown_timeout: float,
    keepalive_timeout: float = ServerConfig().keepalive_timeout_s,
) -> web.AppRunner:
    """Create the runner with the server settings a proxy needs."""
    return web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=shutdown_timeout,
        handler_cancellation=True,  # an agent that disconnects cancels its upstream request
        access_log=None,  # paths and agents are not logged; metadata goes to telemetry
        keepalive_timeout=keepalive_timeout,  # aiohttp's own default is an hour
    )


async def serve(
    config: Config, *, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None
) -> None:
    """Serve until a stop signal (or ``stop`` is set), then drain and close."""
    app = build_app(config)
    runner = make_runner(app, config.server.shutdown_timeout_s, config.server.keepalive_timeout_s)
    await runner.setup()
    assert runner.server is not None  # set by setup()
    guard_heads(runner.server, config.server.header_timeout_s, app[STATS])
    site = web.TCPSite(runner, config.server.host, config.server.port, backlog=1024, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        where = f"{config.server.host}:{config.server.port}"
        raise SystemExit(f"sidecar: cannot listen on {where}: {exc.strerror}") from exc
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    bound = [s.getsockname() for s in _sockets(site)]
    log.info("listening on %s, upstream %s", bound, config.upstream.url)
    print(
        f"sidecar listening on http://{config.server.host}:{bound[0][1] if bound else config.server.port}"
        f" -> {config.upstream.url}",
        flush=True,
    )
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        stats = app[STATS]
        stats.draining = True
        log.info("draining: %d requests in flight", stats.in_flight)
        if config.server.drain_delay_s:
            await asyncio.sleep(config.server.drain_delay_s)
        await runner.cleanup()
        log.info("stopped")


def _sockets(site: web.TCPSite) -> list[socket.socket]:
    server = site._server  # aiohttp keeps the asyncio server private
    if server is None:
        return []
    return list(getattr(server, "sockets", None) or [])
