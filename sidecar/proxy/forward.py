"""The transparent forwarding path: one request in, the same request upstream, the answer streamed back.

What changes on the way: hop-by-hop headers (RFC 9110 section 7.6.1) and ``X-Sidecar-*`` request headers
are dropped, Host is the upstream's, and the body is whatever a middleware put in the request's
:class:`Forward` (unchanged otherwise). Everything else (method, raw path and query, repeated headers,
header order, body bytes, compressed bodies) goes as it came. Responses are relayed chunk by chunk.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from sidecar.errors import UpstreamBusy, UpstreamError, UpstreamTimeout, UpstreamUnreachable
from sidecar.keys import CONFIG
from sidecar.proxy.responses import error_response
from sidecar.proxy.upstream import error_kind, open_upstream
from sidecar.stats import ProxyStats

log = logging.getLogger("sidecar.proxy.forward")

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Never forwarded: recomputed by the client library from the body we send.
_REQUEST_DROP = HOP_BY_HOP | {"host", "content-length"}
SIDECAR_HEADER_PREFIX = "x-sidecar-"
# Fixed-length answers up to this size are read whole and sent in one write (fewer syscalls);
# anything larger, chunked or event-stream is relayed chunk by chunk as it arrives.
SMALL_BODY = 256 * 1024


class ExchangeObserver(Protocol):
    """Watches one upstream exchange (telemetry): called on the hot path, so must be cheap and never raise."""

    def upstream_started(self, method: str, url: str) -> None: ...

    def response_started(self, status: int, headers: CIMultiDictProxy[str]) -> None: ...

    def chunk(self, data: bytes) -> None: ...

    def finished(self, error: str | None) -> None: ...


class Forward:
    """What middlewares ask of the proxy handler for one request."""

    __slots__ = ("body", "response_headers", "base_url", "set_headers", "observers")

    def __init__(self) -> None:
        self.body: bytes | None = None  # replacement body; None forwards the original bytes
        self.response_headers: dict[str, str] = {}  # added to the response sent to the agent
        self.base_url: str | None = None  # another upstream for this request (routing)
        self.set_headers: dict[str, str] = {}  # request headers to set or replace upstream
        self.observers: list[ExchangeObserver] = []  # told about the upstream exchange (telemetry)


FORWARD = web.RequestKey("sidecar_forward", Forward)
BODY_CACHE = web.RequestKey("sidecar_body", bytes)


def forward_of(request: web.Request) -> Forward:
    """Return the request's Forward, creating it on first use."""
    fwd = request.get(FORWARD)
    if fwd is None:
        fwd = Forward()
        request[FORWARD] = fwd
    return fwd


class BodyUnreadable(Exception):
    """The request body cannot be forwarded; the proxy handler answers (413 or 408)."""


class BodyTooLarge(BodyUnreadable):
    """The request body is over server.max_body_bytes."""


class BodyTimeout(BodyUnreadable):
    """The request body did not arrive within server.body_timeout_s (a slow or stalled client)."""


UNREADABLE: web.RequestKey[type[BodyUnreadable]] = web.RequestKey("sidecar_body_unreadable")


async def read_body(request: web.Request, limit: int) -> bytes:
    """Read the whole request body once (cached on the request), refusing more than ``limit`` bytes.

    The read is bounded by ``server.body_timeout_s`` of the app's config (BodyTimeout), unless the body
    has already arrived whole (a small request, the common case: no timer to arm). A refusal is
    remembered: a later call raises the same error again instead of reading the rest.
    """
    if BODY_CACHE in request:
        return request[BODY_CACHE]
    if UNREADABLE in request:
        raise request[UNREADABLE]()
    if request.content_length is not None and request.content_length > limit:
        request[UNREADABLE] = BodyTooLarge
        raise BodyTooLarge
    if not request.body_exists:
        body = b""
    else:
        try:
            if request.content.is_eof():  # the whole body has arrived: nothing to wait for, no timer
                body = await request.read()
            else:
                config = request.app.get(CONFIG)
                async with asyncio.timeout(config.server.body_timeout_s if config is not None else None):
                    body = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            request[UNREADABLE] = BodyTooLarge
            raise BodyTooLarge from exc
        except TimeoutError as exc:
            request[UNREADABLE] = BodyTimeout
            raise BodyTimeout from exc
    request[BODY_CACHE] = body
    return body


def _connection_listed(headers: CIMultiDictProxy[str]) -> set[str]:
    """Return the header names a message's Connection header declares hop-by-hop (RFC 9110 §7.6.1)."""
    return {token.strip().lower() for value in headers.getall("Connection", ()) for token in value.split(",")}


def upstream_headers(headers: CIMultiDictProxy[str], overrides: dict[str, str]) -> CIMultiDict[str]:
    """Copy the agent's headers for the upstream: order and repeats kept, hop-by-hop and ours dropped."""
    connection_listed = _connection_listed(headers)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        lower = name.lower()
        if lower in _REQUEST_DROP or lower in connection_listed or lower.startswith(SIDECAR_HEADER_PREFIX):
            continue
        out.add(name, value)
    for name, value in overrides.items():
        out[name] = value
    return out


def response_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """Copy the upstream's response headers for the agent, minus hop-by-hop ones."""
    connection_listed = _connection_listed(headers)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in connection_listed:
            continue
        out.add(name, value)
    return out


class StreamEditor(Protocol):
    """Edits a stream while it is relayed (routing's DOUBLE-CHECK audit): must be cheap per chunk."""

    def feed(self, chunk: bytes) -> bytes:
        """Take upstream bytes; return what to send to the agent now (possibly nothing)."""
        ...

    async def finish(self, out: web.StreamResponse) -> None:
        """Write what follows the upstream's last byte (held-back events, additions), before EOF."""
        ...


async def relay(
    request: web.Request,
    upstream: aiohttp.ClientResponse,
    stats: ProxyStats,
    extra_headers: dict[str, str] | None = None,
    observers: list[ExchangeObserver] | None = None,
    editor: StreamEditor | None = None,
) -> web.StreamResponse:
    """Stream the upstream response to the agent chunk by chunk, as each chunk arrives.

    With an ``editor``, every chunk goes through ``editor.feed`` and ``editor.finish`` writes the end
    of the stream (the observers are told the upstream exchange ended before it runs).
    """
    headers = response_headers(upstream.headers)
    if editor is not None:  # the body changes: its length and encoding are no longer the upstream's
        headers.popall("Content-Length", None)
        headers.popall("Content-Encoding", None)
    if extra_headers:
        headers.update(extra_headers)
    stats.record_status(upstream.status)
    if observers:
        for observer in observers:
            observer.response_started(upstream.status, upstream.headers)
    length = upstream.content_length
    if (
        editor is None
        and length is not None
        and length <= SMALL_BODY
        and request.method != "HEAD"
        and not _is_event_stream(upstream)
    ):
        # A small fixed-length answer (not a stream): headers and body leave in one write.
        try:
            payload = await upstream.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            # Nothing was sent yet, so the agent can still get a proper error.
            timeout = isinstance(exc, TimeoutError)
            stats.upstream_errors["timeout_mid_body" if timeout else "mid_body"] += 1
            finish_observers(observers, "timeout_mid_body" if timeout else "mid_body")
            upstream.close()
            failure: UpstreamError = (
                UpstreamTimeout("the upstream stalled while sending its answer")
                if timeout
                else UpstreamUnreachable("the upstream dropped the connection while sending its answer")
            )
            return error_response(failure.status, failure.code, str(failure), extra_headers)
        if observers:
            for observer in observers:
                observer.chunk(payload)
        finish_observers(observers, None)
        return web.Response(status=upstream.status, reason=upstream.reason, headers=headers, body=payload)
    out = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
    await out.prepare(request)
    try:
        if observers or editor is not None:
            async for chunk in upstream.content.iter_any():
                if observers:
                    for observer in observers:
                        observer.chunk(chunk)
                data = editor.feed(chunk) if editor is not None else chunk
                if data:
                    await out.write(data)
        else:
            async for chunk in upstream.content.iter_any():
                await out.write(chunk)
    except (TimeoutError, aiohttp.ClientError) as exc:
        # Too late for a status code: abort the connection so the agent sees a truncated response,
        # never a clean-looking short one.
        kind = "timeout_mid_stream" if isinstance(exc, TimeoutError) else "mid_stream"
        stats.upstream_errors[kind] += 1
        log.warning("upstream failed mid-stream: %s", type(exc).__name__)
        finish_observers(observers, kind)
        upstream.close()
        if request.transport is not None:
            request.transport.abort()
        return out
    if editor is not None:
        finish_observers(observers, None)
        await editor.finish(out)
        await out.write_eof()
        return out
    await out.write_eof()
    finish_observers(observers, None)
    return out


async def relay_closing(
    request: web.Request,
    upstream: aiohttp.ClientResponse,
    stats: ProxyStats,
    extra_headers: dict[str, str] | None = None,
    observers: list[ExchangeObserver] | None = None,
    editor: StreamEditor | None = None,
) -> web.StreamResponse:
    """Relay, then hand the connection back to the pool; an agent that goes away cancels the upstream."""
    try:
        response = await relay(request, upstream, stats, extra_headers, observers, editor)
    except (asyncio.CancelledError, ConnectionError):
        # The agent went away: closing the unfinished upstream response cancels it there too.
        stats.upstream_errors["client_disconnect"] += 1
        finish_observers(observers, "client_disconnect")
        upstream.close()
        raise
    except BaseException:
        finish_observers(observers, "internal_error")
        upstream.close()
        raise
    upstream.release()  # body complete: the connection goes back to the pool
    return response


def _is_event_stream(upstream: aiohttp.ClientResponse) -> bool:
    return upstream.headers.get("Content-Type", "").startswith("text/event-stream")


def origin_form(target: str) -> str | None:
    """Return the path and query of a request target, None when it names none.

    An absolute-form target (``GET http://host/v1/models``, RFC 9112 section 3.2.2) names the host a forward
    proxy should call: only its path and query are kept, and they go to the configured upstream, never to
    that host. The asterisk and authority forms (``OPTIONS *``, ``CONNECT host:443``) have no path.
    """
    if target.startswith("/"):
        return target
    scheme, sep, rest = target.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return None
    end = len(rest)
    for mark in ("/", "?"):
        found = rest.find(mark)
        if 0 <= found < end:
            end = found
    if end == 0:  # no host: not a URL a client could have meant
        return None
    tail = rest[end:]
    return tail if tail.startswith("/") else "/" + tail


def finish_observers(observers: list[ExchangeObserver] | None, error: str | None) -> None:
    """Tell every observer the upstream exchange ended (``error``: None, or what went wrong)."""
    if observers:
        for observer in observers:
            observer.finished(error)


async def forward(
    request: web.Request,
    session: aiohttp.ClientSession,
    stats: ProxyStats,
    base_url: str,
    max_body_bytes: int,
) -> web.StreamResponse:
    """Forward one request to ``base_url`` + its raw path and relay the answer."""
    fwd = request[FORWARD] if FORWARD in request else Forward()
    try:
        body = fwd.body if fwd.body is not None else await read_body(request, max_body_bytes)
    except BodyTooLarge:
        stats.rejected["too_large"] += 1
        return error_response(413, "request_too_large", f"request body is over {max_body_bytes} bytes")
    except BodyTimeout:
        stats.rejected["body_timeout"] += 1
        response = error_response(
            408, "request_timeout", "the request body did not arrive in time (server.body_timeout_s)"
        )
        response.force_close()  # the rest of the body may still be on its way
        return response
    target = origin_form(request.raw_path)
    if target is None:
        stats.rejected["bad_target"] += 1
        return error_response(
            400, "invalid_request_target", "the request target must be a path, or an http(s) URL with one"
        )
    url = (fwd.base_url or base_url).rstrip("/") + target
    headers = upstream_headers(request.headers, fwd.set_headers)
    observers = fwd.observers
    stats.upstream_requests += 1
    for observer in observers:
        observer.upstream_started(request.method, url)
    try:
        upstream = await open_upstream(session, request.method, url, headers, body, stats)
    except UpstreamError as exc:
        kind = error_kind(exc)
        stats.upstream_errors[kind] += 1
        finish_observers(observers, kind)
        headers_out = fwd.response_headers
        if isinstance(exc, UpstreamBusy):
            headers_out = {**headers_out, "Retry-After": "1"}
        return error_response(exc.status, exc.code, str(exc), headers_out)
    return await relay_closing(request, upstream, stats, fwd.response_headers, observers)
