"""Execution modes: route an opted-in chat request to the provider and model its mode names.

A request opts in with ``X-Sidecar-Mode: fast|build|double-check`` (any mode in ``[modes]``, case-
insensitive) or the model alias ``sidecar/<mode>`` in an OpenAI chat body; the header wins over the alias.
An unknown mode is a 400 listing the valid ones. A request without a mode goes on to the configured
upstream untouched (its body is not even decoded unless it contains ``sidecar/``), except that
``X-Sidecar-Strip: on`` and ``X-Sidecar-Output`` still apply to it when sent.

A routed request: prompts stripped (``X-Sidecar-Strip: on|off``, default ``routing.strip_prompts``),
the executor picked (BUILD's ``small_executor`` when the request is small), the model rewritten, output
constraints applied, then POSTed to ``<base_url>/chat/completions`` with the provider's own key,
through its concurrency limiter (sidecar.routing.limiter). Response headers: ``X-Sidecar-Mode``,
``X-Sidecar-Provider``, ``X-Sidecar-Model``, ``X-Sidecar-Attempts``, and when they apply
``X-Sidecar-Strip-Saved``, ``X-Sidecar-Output-Applied``, ``X-Sidecar-Audit`` (sidecar.routing.doublecheck).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from sidecar.chat.body import ChatBody, all_texts, role_of, texts_of
from sidecar.chat.constraints import apply_constraints, parse_output
from sidecar.chat.strip import strip_body
from sidecar.config import ModeConfig, normalize_mode
from sidecar.errors import RoutingError, UpstreamError, UpstreamTimeout
from sidecar.jsontypes import DECODE_ERRORS
from sidecar.keys import STATS, UPSTREAM
from sidecar.proxy.forward import BodyUnreadable, forward_of, read_body, relay_closing
from sidecar.proxy.paths import endpoint
from sidecar.proxy.responses import error_response
from sidecar.routing.doublecheck import respond_checked
from sidecar.routing.limiter import Destination, QueueTimeout, Sent, send
from sidecar.routing.router import ROUTER, Router, routing_ctx
from sidecar.tokens import estimate_tokens

# Bodies this large are stripped on a worker thread: stripping costs ~1 us per character (~60 ms here).
_OFF_LOOP_BYTES = 64 * 1024
log = logging.getLogger("sidecar.routing.middleware")

ALIAS_PREFIX = "sidecar/"
# Request headers passed on to a provider; everything else (the agent's own credentials above all) stays.
_PASSED_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "X-Request-Id", "Idempotency-Key")
_ON = frozenset({"on", "1", "true", "yes"})
_OFF = frozenset({"off", "0", "false", "no"})


class _ModelOnly(msgspec.Struct):
    model: str | None = None


_decode_model = msgspec.json.Decoder(_ModelOnly)


def resolve_mode(header: str | None, body: bytes, modes: dict[str, ModeConfig]) -> str | None:
    """Return the mode a request asks for (header first, then model alias); RoutingError if unknown."""
    asked: str | None = None
    if header is not None and header.strip():
        asked = header
    elif ALIAS_PREFIX.encode() in body:
        try:
            model = _decode_model.decode(body).model
        except DECODE_ERRORS:
            model = None
        if model is not None and model.lower().startswith(ALIAS_PREFIX):
            asked = model[len(ALIAS_PREFIX) :]
    if asked is None:
        return None
    mode = normalize_mode(asked)
    if mode not in modes:
        valid = ", ".join(sorted(modes))
        raise RoutingError(f"unknown execution mode {asked.strip()!r}; valid modes: {valid}")
    return mode


def strip_wanted(header: str | None, default: bool) -> bool:
    """Read ``X-Sidecar-Strip``; RoutingError on a value that is neither on nor off."""
    if header is None or not header.strip():
        return default
    value = header.strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise RoutingError(f"invalid X-Sidecar-Strip value {header.strip()!r}; valid: on, off")


def is_small(body: ChatBody, limit: int) -> bool:
    """A request is small when its estimated input (every message) and requested output fit in ``limit``."""
    prompt = sum(estimate_tokens(text) for text in all_texts(body))
    out = body.get_int("max_completion_tokens") or body.get_int("max_tokens") or 0
    return prompt <= limit and out <= limit


def last_user_text(body: ChatBody) -> str:
    """The text of the last user message (what the auditor is told was asked)."""
    for message in reversed(body.messages() or []):
        if role_of(message) == "user":
            return "\n".join(texts_of(message.get("content")))
    return ""


def routing_middleware() -> Middleware:
    """Route opted-in chat requests to providers; let every other request through untouched."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        target = endpoint(request.method, request.path)
        if target is None or target.operation != "chat" or target.style == "responses":
            return await handler(request)
        style = target.style
        headers = request.headers
        mode_h, strip_h, output_h = (
            headers.get("X-Sidecar-Mode"),
            headers.get("X-Sidecar-Strip"),
            headers.get("X-Sidecar-Output"),
        )
        if style == "anthropic" and mode_h is None and strip_h is None and output_h is None:
            return await handler(request)  # no alias in that protocol: nothing to look for
        fwd = forward_of(request)
        router = request.app[ROUTER]
        config = router.config
        try:
            body = (
                fwd.body if fwd.body is not None else await read_body(request, config.server.max_body_bytes)
            )
        except BodyUnreadable:
            return await handler(request)  # the proxy answers 413 or 408
        try:
            mode = resolve_mode(mode_h, body, config.modes) if style == "openai" or mode_h else None
            if mode is not None and style != "openai":
                raise RoutingError(
                    "execution modes route OpenAI chat completions only (/v1/chat/completions)"
                )
            if mode is None:
                if strip_h is None and output_h is None:
                    return await handler(request)
                return await _transform_only(request, handler, router, body, style, strip_h, output_h)
            return await _route(request, router, mode, body, strip_h, output_h)
        except RoutingError as exc:
            code = "provider_key_missing" if exc.status == 500 else "invalid_sidecar_request"
            router.count(router.rejected, code)
            return error_response(exc.status, code, str(exc))

    return middleware


async def _stripped(router: Router, body: ChatBody, size: int) -> str | None:
    """Strip the prompts, guarded like _guarded; a body over 64 KiB on a worker thread (the loop serves)."""
    fields, changed = dict(body.fields), set(body.changed)
    try:
        result = await asyncio.to_thread(strip_body, body) if size >= _OFF_LOOP_BYTES else strip_body(body)
    except Exception as exc:  # noqa: BLE001 - whatever the bug, the request goes on as if not asked
        body.fields, body.changed = fields, changed
        router.count(router.failed, "strip")
        log.warning("strip skipped, request sent without it: %s", type(exc).__name__)
        return None
    router.strip_tokens_saved += result.tokens_saved
    return str(result.tokens_saved)


def _guarded(router: Router, body: ChatBody, name: str, transform: Callable[[], str]) -> str | None:
    """Run a body transform; if it fails, undo it and go on without it (never a point of failure)."""
    fields, changed = dict(body.fields), set(body.changed)
    try:
        return transform()
    except Exception as exc:  # noqa: BLE001 - whatever the bug, the request goes on as if not asked
        body.fields, body.changed = fields, changed
        router.count(router.failed, name)
        log.warning("%s skipped, request sent without it: %s", name, type(exc).__name__)
        return None


async def _transform_only(
    request: web.Request,
    handler: Handler,
    router: Router,
    raw: bytes,
    style: str,
    strip_h: str | None,
    output_h: str | None,
) -> web.StreamResponse:
    """No mode: strip and constrain for the configured upstream, then let the proxy forward."""
    kinds = parse_output(output_h) if output_h is not None else []
    strip = strip_wanted(strip_h, False)
    body = ChatBody.parse(raw)
    if body is None:
        return await handler(request)  # not JSON: forwarded as sent, the upstream will say why
    fwd = forward_of(request)
    if strip:
        saved = await _stripped(router, body, len(raw))
        if saved is not None:
            fwd.response_headers["X-Sidecar-Strip-Saved"] = saved
    if kinds:
        # The configured upstream's JSON support is unknown: an instruction works everywhere.
        applied = _guarded(
            router, body, "constraints", lambda: apply_constraints(body, kinds, style=style).header()
        )
        if applied is not None:
            fwd.response_headers["X-Sidecar-Output-Applied"] = applied
    if body.changed:
        fwd.body = body.encode()
    return await handler(request)


async def _route(
    request: web.Request,
    router: Router,
    mode_name: str,
    raw: bytes,
    strip_h: str | None,
    output_h: str | None,
) -> web.StreamResponse:
    config = router.config
    mode = config.modes[mode_name]
    kinds = parse_output(output_h) if output_h is not None else []
    body = ChatBody.parse(raw)
    if body is None:
        raise RoutingError("the request body is not a JSON object")
    extra = dict(forward_of(request).response_headers)
    extra["X-Sidecar-Mode"] = mode_name
    if strip_wanted(strip_h, config.routing.strip_prompts):
        saved = await _stripped(router, body, len(raw))
        if saved is not None:
            extra["X-Sidecar-Strip-Saved"] = saved
    target = mode.executor
    if mode.small_executor and is_small(body, config.routing.small_request_max_tokens):
        target = mode.small_executor
    stream = body.get_bool("stream") is True
    executor = router.destination(target, json_response=mode.auditor is not None)
    auditor = router.destination(mode.auditor, json_response=True) if mode.auditor else None
    # The trace context telemetry propagates (telemetry.middleware sets it): the provider calls continue it.
    traceparent = forward_of(request).set_headers.get("traceparent")
    if traceparent is not None:
        executor.headers["traceparent"] = traceparent
        if auditor is not None:
            auditor.headers["traceparent"] = traceparent
    if auditor is None:
        for name in _PASSED_HEADERS:
            if name in request.headers:
                executor.headers.setdefault(name, request.headers[name])
    body.set("model", executor.model)
    if kinds:
        json_format = executor.supports_json_format
        applied = _guarded(
            router,
            body,
            "constraints",
            lambda: apply_constraints(body, kinds, style="openai", supports_json_format=json_format).header(),
        )
        if applied is not None:
            extra["X-Sidecar-Output-Applied"] = applied
    extra["X-Sidecar-Provider"] = executor.provider
    extra["X-Sidecar-Model"] = executor.model
    if auditor is not None:
        extra["X-Sidecar-Auditor"] = auditor.label
    router.count(router.routed, mode_name)
    routed = body.encode()
    forward_of(request).body = routed  # what telemetry reads the model from; the proxy handler is not called
    sent = await _send(request, router, executor, routed, extra)
    if isinstance(sent, web.StreamResponse):
        return sent
    extra["X-Sidecar-Attempts"] = str(sent.attempts)
    status = sent.response.status
    if auditor is not None and 200 <= status < 300:
        question, observers = last_user_text(body), forward_of(request).observers
        response = await respond_checked(
            request, sent, request.app[UPSTREAM], auditor, config.routing, question, extra, observers, stream
        )
        router.count(router.audits, response.headers.get("X-Sidecar-Audit", "").split(";")[0] or "none")
        return response
    if auditor is not None:
        extra["X-Sidecar-Audit"] = f"skipped; reason=executor_status_{status}"
    return await _relay(request, sent, extra)


async def _send(
    request: web.Request, router: Router, dest: Destination, body: bytes, extra: dict[str, str]
) -> Sent | web.StreamResponse:
    """Call the provider; a queue timeout or an unreachable provider becomes the client's error answer."""
    stats = request.app[STATS]
    observers = forward_of(request).observers
    for observer in observers:
        observer.upstream_started("POST", dest.url)
    try:
        sent = await send(
            dest.limiter, request.app[UPSTREAM], dest.url, dest.headers, body, router.config.routing, stats
        )
    except QueueTimeout as exc:
        router.count(router.rejected, "sidecar_queue_timeout")
        for observer in observers:
            observer.finished("queue_timeout")
        headers = {**extra, "Retry-After": str(exc.retry_after_s)}
        return error_response(429, "sidecar_queue_timeout", str(exc), headers)
    except UpstreamError as exc:
        kind = "timeout" if isinstance(exc, UpstreamTimeout) else "connect"
        stats.upstream_errors[kind] += 1
        for observer in observers:
            observer.finished(kind)
        log.warning("provider %s unreachable: %s", dest.provider, type(exc.__cause__).__name__)
        return error_response(exc.status, exc.code, f"provider {dest.provider!r}: {exc}", extra)
    stats.upstream_requests += sent.attempts
    return sent


async def _relay(request: web.Request, sent: Sent, extra: dict[str, str]) -> web.StreamResponse:
    observers = forward_of(request).observers
    try:
        return await relay_closing(request, sent.response, request.app[STATS], extra, observers)
    finally:
        sent.close()


def install_routing(app: web.Application) -> None:
    """Add execution-mode routing, prompt stripping and output constraints to the app."""
    app.middlewares.append(routing_middleware())
    app.cleanup_ctx.append(routing_ctx)
