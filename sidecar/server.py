"""Run the app as a server: bind, serve until SIGINT/SIGTERM, then drain within a fixed bound.

On a stop signal, everything ends within ``drain_delay_s + shutdown_timeout_s`` (what a pod's
``terminationGracePeriodSeconds`` must cover):

    readiness false -> drain_delay_s (a load balancer or Kubernetes stops routing; requests still served)
    -> the listener closes, idle connections close
    -> in-flight requests finish, until shutdown_timeout_s minus a reserve for the next two steps
    -> what is still running is cancelled (CANCEL_GRACE_S to unwind)
    -> resources close in reverse order (telemetry flushes with its own bound)
    -> at the deadline, whatever is left is abandoned: the process exits

aiohttp's own ``runner.cleanup()`` waits up to its shutdown timeout twice (for handlers, then for their
cancellation) and its resources' close without bound, so the graceful part is done here and the runner
gets only the short cancellation grace.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket

from aiohttp import web

from sidecar.app import build_app
from sidecar.config import Config, ServerConfig
from sidecar.dashboard.routes import DASHBOARD
from sidecar.keys import STATS
from sidecar.stats import ProxyStats
from sidecar.timeouts import guard_heads

log = logging.getLogger("sidecar.server")

CANCEL_GRACE_S = 0.5  # for cancelled handlers to unwind (aiohttp may wait this twice)
_POLL_S = 0.05


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
    runner = make_runner(app, CANCEL_GRACE_S, config.server.keepalive_timeout_s)
    await runner.setup()
    assert runner.server is not None  # set by setup()
    guard_heads(runner.server, config.server.header_timeout_s, app[STATS])
    # Modules and start-up state live as long as the process: out of the collector's sight, a full
    # collection (which stalls the loop) walks only what requests and caches allocate (~20 ms less).
    gc.freeze()
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
    base = f"http://{config.server.host}:{bound[0][1] if bound else config.server.port}"
    print(f"sidecar listening on {base} -> {config.upstream.url}", flush=True)
    if DASHBOARD in app:
        print(f"dashboard: {base}/sidecar/  (metrics: {base}/sidecar/metrics)", flush=True)
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
        await shut_down(runner, stats, config.server.shutdown_timeout_s)


async def shut_down(runner: web.AppRunner, stats: ProxyStats, timeout_s: float) -> None:
    """Stop accepting, let in-flight requests finish, close resources: all within ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    # Cancelling what is left and closing resources get a share of the budget at the end.
    reserve = min(2.0 * CANCEL_GRACE_S + 1.0, timeout_s / 2)
    for site in list(runner.sites):
        await site.stop()
    if runner.server is not None:
        runner.server.pre_shutdown()  # idle keep-alive connections close now, busy ones after their answer
    while stats.in_flight and loop.time() < deadline - reserve:
        await asyncio.sleep(_POLL_S)
    if stats.in_flight:
        log.warning("shutdown: %d requests still in flight are cancelled", stats.in_flight)
    try:
        async with asyncio.timeout_at(max(deadline, loop.time() + _POLL_S)):
            await runner.cleanup()
    except TimeoutError:
        log.warning("shutdown: resources not closed within server.shutdown_timeout_s; exiting anyway")
        return
    log.info("stopped")


def _sockets(site: web.TCPSite) -> list[socket.socket]:
    server = site._server  # aiohttp keeps the asyncio server private
    if server is None:
        return []
    return list(getattr(server, "sockets", None) or [])
