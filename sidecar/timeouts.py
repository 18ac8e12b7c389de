"""Slow clients cannot hold connections: a request head must arrive in time, and so must its body.

    connection opened -> its first request head within server.header_timeout_s, else the connection closes
    head received     -> the body within server.body_timeout_s, else 408 (sidecar.proxy.forward.read_body)
    response sent     -> idle keep-alive up to server.keepalive_timeout_s (aiohttp's own timer), which
                         also bounds a next head that trickles in on a kept-alive connection

Without these, a client that connects and sends a few bytes a second (slowloris) holds a socket and a
file descriptor for as long as it likes: thousands of them exhaust ``ulimit -n`` and new agents are
refused. aiohttp bounds idle keep-alive connections only; :func:`guard_heads` adds the head timeout
through the hooks its low-level ``web.Server`` calls for every connection (``connection_made``,
``connection_lost``) and every parsed request head (``request_factory``).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from sidecar.stats import ProxyStats

log = logging.getLogger("sidecar.timeouts")


class HeadGuard:
    """Close connections whose first request head is not complete within ``timeout_s``."""

    def __init__(self, server: web.Server, timeout_s: float, stats: ProxyStats) -> None:
        self.timeout_s = timeout_s
        self.stats = stats
        self._timers: dict[RequestHandler, asyncio.TimerHandle] = {}
        self._made = server.connection_made
        self._lost = server.connection_lost
        self._factory = server.request_factory
        # Instance attributes win over the class's methods: aiohttp looks these up on every call.
        server.connection_made = self._connection_made  # type: ignore[method-assign]
        server.connection_lost = self._connection_lost  # type: ignore[method-assign]
        server.request_factory = self._request_factory

    def _connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        self._made(handler, transport)
        loop = asyncio.get_running_loop()
        self._timers[handler] = loop.call_later(self.timeout_s, self._expire, handler)

    def _connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        timer = self._timers.pop(handler, None)
        if timer is not None:
            timer.cancel()
        self._lost(handler, exc)

    def _request_factory(
        self,
        message: RawRequestMessage,
        payload: StreamReader,
        handler: RequestHandler,
        writer: AbstractStreamWriter,
        task: asyncio.Task[None],
    ) -> web.BaseRequest:
        timer = self._timers.pop(handler, None)  # a head arrived: the connection is no longer suspect
        if timer is not None:
            timer.cancel()
        return self._factory(message, payload, handler, writer, task)

    def _expire(self, handler: RequestHandler) -> None:
        if self._timers.pop(handler, None) is None:
            return
        self.stats.rejected["head_timeout"] += 1
        log.debug("connection closed: no complete request head within %.1f s", self.timeout_s)
        handler.force_close()


def guard_heads(server: web.Server, timeout_s: float, stats: ProxyStats) -> HeadGuard:
    """Install the request-head timeout on an aiohttp low-level server (``AppRunner.server``)."""
    return HeadGuard(server, timeout_s, stats)
