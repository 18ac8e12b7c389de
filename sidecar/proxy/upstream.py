"""The upstream client: one pooled session per app, and sending one request on it.

    new_session(config.upstream)   pooled (max_connections), no cookies, no redirects, raw bytes
    open_upstream(...)             -> the response once its headers arrived, or
                                      UpstreamBusy (503)        every pooled connection stayed busy for
                                                                upstream.pool_timeout_s
                                      UpstreamTimeout (504)     connect or first byte too slow
                                      UpstreamUnreachable (502) refused, reset, DNS... (a reused
                                                                connection found closed: resent once)

Getting a connection is bounded twice: the wait in the pool's queue (``pool_timeout_s``, bounded inside
the connector, so a full pool is told apart from a slow upstream), then the connect itself
(``connect_timeout_s``). Without the first, once ``max_connections`` streams were busy every new request
waited with no answer.

One failure is resent, once: a request that went out on a REUSED keep-alive connection and met that
connection's end (EOF, or a reset or broken pipe) before any byte of an answer. That is the upstream
closing the connection as idle while the request was on its way, so it never processed the request
(RFC 9112 section 9.3.1; Chromium's HttpNetworkTransaction::ShouldResendRequest). Every LLM call is a
POST, which aiohttp itself never resends. The resend goes out on a freshly opened connection, and its
failure is final: so is any failure on a fresh connection (the upstream may have processed the request
and dropped, and a resend would bill it twice), and any timeout. Counted as ``stale_connection`` in
``upstream_errors``, logged at debug level (the error class only).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import warnings
from collections.abc import Awaitable
from contextvars import ContextVar

import aiohttp
from aiohttp.client_reqrep import ConnectionKey
from aiohttp.connector import Connection
from aiohttp.tracing import Trace
from multidict import CIMultiDict
from yarl import URL

from sidecar.config import UpstreamConfig
from sidecar.errors import UpstreamBusy, UpstreamError, UpstreamTimeout, UpstreamUnreachable
from sidecar.stats import ProxyStats

__all__ = ["PoolBoundedConnector", "PoolExhausted", "error_kind", "new_session", "open_upstream"]

# Headers aiohttp's client would invent when the agent did not send them.
_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
_LARGE_BODY = 1024 * 1024  # aiohttp's threshold for its large-body warning
_NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})

log = logging.getLogger("sidecar.proxy.upstream")

# Set by the connector, read by open_upstream once session.request raised. aiohttp runs the whole request
# (the connector's _get included) in the caller's task, so a value set inside is seen by the caller.
_REUSED: ContextVar[bool] = ContextVar("sidecar_upstream_reused", default=False)  # got a pooled connection
_FRESH_ONLY: ContextVar[bool] = ContextVar("sidecar_upstream_fresh_only", default=False)  # pool skipped


class PoolExhausted(Exception):
    """Every pooled connection stayed busy for ``pool_timeout_s`` (raised out of the connector's wait).

    Neither a TimeoutError nor an aiohttp error, so aiohttp's client passes it through unchanged.
    """


class PoolBoundedConnector(aiohttp.TCPConnector):
    """A TCPConnector whose wait for a free connection, once all are busy, ends after ``pool_timeout_s``.

    aiohttp has no public bound on that wait. Its trace signals see it (``on_connection_queued_start``),
    but a session with any TraceConfig also sends every other signal on every request and builds a Trace,
    its parameters and two callbacks for each: about 30 us of CPU a request, a sixth of the proxy's own.
    So the bound lives in the private method the wait is made of (aiohttp is pinned below 4). A request
    that gets a pooled connection at once never enters it and arms no timer.

    Telling a reused connection from a fresh one (the trace signal ``on_connection_reuseconn``) is done
    the same way: ``_get``, which hands out pooled connections, notes each in a ContextVar, and skips the
    pool for a resend. tests/reliability/test_upstream_stale.py fails if either method is renamed.
    """

    pool_timeout_s: float = math.inf

    async def _wait_for_available_connection(self, key: ConnectionKey, traces: list[Trace]) -> None:
        try:
            async with asyncio.timeout(self.pool_timeout_s):
                await super()._wait_for_available_connection(key, traces)
        except TimeoutError as exc:
            raise PoolExhausted from exc

    async def _get(self, key: ConnectionKey, traces: list[Trace]) -> Connection | None:
        if _FRESH_ONLY.get():
            return None  # the caller opens a new connection (within the limits); the pool keeps its own
        conn = await super()._get(key, traces)  # never suspends without traces: no await reaches the loop
        if conn is not None:
            _REUSED.set(True)
        return conn


def new_session(config: UpstreamConfig) -> aiohttp.ClientSession:
    """Create the one upstream ClientSession of an app: pooled, no cookies, no redirects, raw bytes.

    Getting a connection is bounded: ``pool_timeout_s`` of waiting for a pooled one once
    ``max_connections`` are busy (a timeout there is a 503, not a slow upstream's 504), then
    ``connect_timeout_s`` to open it.
    """
    connector = PoolBoundedConnector(
        limit=config.max_connections,
        limit_per_host=config.max_connections_per_host,
        keepalive_timeout=config.keepalive_timeout_s,
        ttl_dns_cache=300,
    )
    connector.pool_timeout_s = config.pool_timeout_s
    timeout = aiohttp.ClientTimeout(
        total=None,
        connect=config.pool_timeout_s + config.connect_timeout_s,
        sock_connect=config.connect_timeout_s,
        sock_read=config.read_timeout_s,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        auto_decompress=False,  # relay compressed bodies as they are
        cookie_jar=aiohttp.DummyCookieJar(),  # never carry one agent's cookies to another
        raise_for_status=False,
    )


async def open_upstream(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: CIMultiDict[str],
    body: bytes,
    stats: ProxyStats | None = None,
) -> aiohttp.ClientResponse:
    """Send the request upstream and return the response once its headers arrived.

    A reused connection the upstream had closed is met by one resend on a new connection (counted in
    ``stats``). Raises UpstreamUnreachable (502), UpstreamTimeout (504) or UpstreamBusy (503: every
    pooled connection stayed busy); the caller closes the response.
    """
    target = URL(url, encoded=True)
    skip = [name for name in _AUTO_HEADERS if name not in headers]
    sent = body if body or method not in _NO_BODY_METHODS else None
    try:
        _REUSED.set(False)
        try:
            return await _request(session, method, target, headers, sent, skip)
        except (aiohttp.ClientConnectionError, OSError) as exc:
            if not (_REUSED.get() and _closed_while_idle(exc)):
                raise
            log.debug("the upstream closed a reused connection (%s): resending once", type(exc).__name__)
            if stats is not None:
                stats.upstream_errors["stale_connection"] += 1
        fresh = _FRESH_ONLY.set(True)
        try:
            return await _request(session, method, target, headers, sent, skip)
        finally:
            _FRESH_ONLY.reset(fresh)
    except PoolExhausted as exc:
        limit = session.connector.limit if session.connector is not None else 0
        raise UpstreamBusy(
            f"all {limit} upstream connections stayed busy (upstream.max_connections): retry later"
        ) from exc
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise UpstreamTimeout("the upstream did not answer in time") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise UpstreamUnreachable(f"the upstream could not be reached ({type(exc).__name__})") from exc


def _request(
    session: aiohttp.ClientSession,
    method: str,
    target: URL,
    headers: CIMultiDict[str],
    body: bytes | None,
    skip: list[str],
) -> Awaitable[aiohttp.ClientResponse]:
    """One attempt, its payload built anew: a resend never depends on a payload surviving its first send
    (aiohttp 3.14's BytesPayload would; a payload holding a stream would not). Returns aiohttp's
    awaitable itself: no coroutine frame of its own on the path."""
    return session.request(
        method,
        target,
        headers=headers,
        data=None if body is None else _payload(body),
        allow_redirects=False,
        skip_auto_headers=skip,
    )


def _closed_while_idle(exc: BaseException) -> bool:
    """Whether ``exc`` is the end of a connection the upstream closed before sending any byte of an answer.

    EOF (ServerDisconnectedError, whose ``message`` aiohttp replaces by the partly parsed head once any
    byte arrived), or a reset, broken pipe or write to a closing transport. Never a timeout, and never a
    failure to open a connection.
    """
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return isinstance(exc.message, str)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return False
    if isinstance(exc, aiohttp.ClientOSError) and exc.errno is None and exc.__cause__ is not None:
        # "Can not write request body": the upstream's close landed between taking the pooled
        # connection and writing the body, and aiohttp wrapped the write's own error (a closing
        # transport). Under load most races end this way (bench/reliability.py --only stale).
        return _closed_while_idle(exc.__cause__)
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return True  # aiohttp's ClientConnectionResetError among them
    return isinstance(exc, aiohttp.ClientOSError) and exc.errno in _RESET_ERRNOS


def _payload(body: bytes) -> bytes | aiohttp.BytesPayload:
    """Return the body to send; over 1 MiB, as the payload aiohttp would build, without its warning.

    aiohttp warns (ResourceWarning) that a large bytes body "might lock the event loop": it does not,
    the transport buffers it, and the body is in memory already (a stream would be slower, and chunked).
    """
    if len(body) <= _LARGE_BODY:
        return body
    with warnings.catch_warnings():  # synchronous: no other coroutine runs inside
        warnings.simplefilter("ignore", ResourceWarning)
        return aiohttp.BytesPayload(body)


def error_kind(exc: UpstreamError) -> str:
    """Return the /sidecar/health counter of an upstream failure: timeout, pool_timeout or connect."""
    if isinstance(exc, UpstreamBusy):
        return "pool_timeout"
    return "timeout" if isinstance(exc, UpstreamTimeout) else "connect"
