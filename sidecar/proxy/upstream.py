"""The upstream client: one pooled session per app, and sending one request on it.

    new_session(config.upstream)   pooled (max_connections), no cookies, no redirects, raw bytes
    open_upstream(...)             -> the response once its headers arrived, or
                                      UpstreamBusy (503)        every pooled connection stayed busy for
                                                                upstream.pool_timeout_s
                                      UpstreamTimeout (504)     connect or first byte too slow
                                      UpstreamUnreachable (502) refused, reset, DNS...

Getting a connection is bounded twice: the wait in the pool's queue (``pool_timeout_s``, a deadline
armed by aiohttp's queue signals only while the request queues, so a full pool is told apart from a
slow upstream), then the connect itself (``connect_timeout_s``). Without the first, once
``max_connections`` streams were busy every new request waited with no answer.
"""

from __future__ import annotations

import asyncio
import warnings
from types import SimpleNamespace

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from sidecar.config import UpstreamConfig
from sidecar.errors import UpstreamBusy, UpstreamError, UpstreamTimeout, UpstreamUnreachable

__all__ = ["error_kind", "new_session", "open_upstream"]

# Headers aiohttp's client would invent when the agent did not send them.
_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
_LARGE_BODY = 1024 * 1024  # aiohttp's threshold for its large-body warning


class _PoolWait:
    """One upstream request's wait for a pooled connection, moved by aiohttp's trace signals."""

    __slots__ = ("queued", "timeout")

    def __init__(self, timeout: asyncio.Timeout) -> None:
        self.queued = False
        self.timeout = timeout  # the request's own deadline, armed only while it queues for the pool


def _pool_trace(pool_timeout_s: float) -> aiohttp.TraceConfig:
    """Bound each request's wait in the pool's queue to ``pool_timeout_s`` (the connect is bounded apart)."""

    async def queued(_: aiohttp.ClientSession, ctx: SimpleNamespace, __: object) -> None:
        wait = ctx.trace_request_ctx
        if isinstance(wait, _PoolWait):
            wait.queued = True
            wait.timeout.reschedule(asyncio.get_running_loop().time() + pool_timeout_s)

    async def dequeued(_: aiohttp.ClientSession, ctx: SimpleNamespace, __: object) -> None:
        wait = ctx.trace_request_ctx
        if isinstance(wait, _PoolWait):
            wait.queued = False
            wait.timeout.reschedule(None)

    trace = aiohttp.TraceConfig()
    trace.on_connection_queued_start.append(queued)
    trace.on_connection_queued_end.append(dequeued)
    return trace


def new_session(config: UpstreamConfig) -> aiohttp.ClientSession:
    """Create the one upstream ClientSession of an app: pooled, no cookies, no redirects, raw bytes.

    Getting a connection is bounded: ``pool_timeout_s`` of waiting for a pooled one once
    ``max_connections`` are busy (aiohttp signals when a request queues: a timeout there is a 503, not a
    slow upstream's 504), then ``connect_timeout_s`` to open it.
    """
    connector = aiohttp.TCPConnector(
        limit=config.max_connections,
        limit_per_host=config.max_connections_per_host,
        keepalive_timeout=config.keepalive_timeout_s,
        ttl_dns_cache=300,
    )
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
        trace_configs=[_pool_trace(config.pool_timeout_s)],
    )


async def open_upstream(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: CIMultiDict[str],
    body: bytes,
) -> aiohttp.ClientResponse:
    """Send the request upstream and return the response once its headers arrived.

    Raises UpstreamUnreachable (502), UpstreamTimeout (504) or UpstreamBusy (503: every pooled
    connection stayed busy); the caller closes the response.
    """
    skip = [name for name in _AUTO_HEADERS if name not in headers]
    wait = _PoolWait(asyncio.timeout(None))
    try:
        async with wait.timeout:
            return await session.request(
                method,
                URL(url, encoded=True),
                headers=headers,
                data=_payload(body) if body or method not in ("GET", "HEAD", "OPTIONS", "DELETE") else None,
                allow_redirects=False,
                skip_auto_headers=skip,
                trace_request_ctx=wait,
            )
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        if wait.queued:
            limit = session.connector.limit if session.connector is not None else 0
            raise UpstreamBusy(
                f"all {limit} upstream connections stayed busy (upstream.max_connections): retry later"
            ) from exc
        raise UpstreamTimeout("the upstream did not answer in time") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise UpstreamUnreachable(f"the upstream could not be reached ({type(exc).__name__})") from exc


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
