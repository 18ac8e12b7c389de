"""Telemetry on the request path: the middleware (sampling first, then a span) and the installer.

    install_telemetry(app)
      settings_from_env()  -> TelemetrySettings (telemetry.settings; an invalid value is a ConfigError)
      no endpoint, or OTEL_SDK_DISABLED=true: no middleware, no SDK provider, the API stays a no-op
      otherwise: a cleanup_ctx starts the Telemetry service (telemetry.service) and flushes and shuts it
                 down on exit; the middleware decides sampling first, from the agent's traceparent alone
                 (sidecar.telemetry.tracing):
        sampled      a SERVER span continuing the agent's W3C traceparent; a GenAIObserver (telemetry.genai)
                     opens the CLIENT span ``chat {model}``, whose id goes upstream in ``traceparent``
        sampled out  no span and no SDK call: the agent's traceparent goes upstream as it came (none
                     when it sent none), and the GenAIObserver records the metrics only

Metrics (sidecar.telemetry.metrics) count every request, sampled or not. Once the app has started, the
Pruner's observer feeds the pruning metrics and the proxy counters are published (``_wire``).

Privacy: attributes are metadata only (methods, paths without query, statuses, token counts, model names,
timings). Bodies, queries, header values other than traceparent and exception messages are never recorded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sidecar.keys import HEALTH_SOURCES, STATS, Installer
from sidecar.proxy.forward import forward_of
from sidecar.proxy.paths import endpoint
from sidecar.pruning.lifecycle import PRUNER
from sidecar.telemetry.genai import GenAIObserver, StartSpan
from sidecar.telemetry.service import Telemetry
from sidecar.telemetry.settings import settings_from_env
from sidecar.telemetry.tracing import UNSAMPLED, Unsampled, new_span_id, parse_traceparent, traceparent

__all__ = ["TELEMETRY", "install_telemetry", "telemetry_installer", "telemetry_middleware"]

_PROPAGATOR = TraceContextTextMapPropagator()
_NO_PARENT = Context()


# --- the middleware: sampling first, then a span only for a sampled request ---------------------------


def telemetry_middleware(telemetry: Telemetry) -> Middleware:
    """Decide sampling from the agent's traceparent, then trace the request or only count it."""
    tel = telemetry
    decide, genai, tracing = tel.sampling.decide, tel.genai, tel.tracing

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        incoming = request.headers.get("traceparent") if tracing else None
        parent = parse_traceparent(incoming) if incoming is not None else None
        sampled, trace_id = decide(parent) if tracing else (False, 0)
        if sampled:
            return await _traced(tel, request, handler, parent, trace_id)
        path = request.path
        if path.startswith("/sidecar/"):
            return await handler(request)  # the sidecar's own endpoints: no upstream, no metrics here
        forward = forward_of(request)
        token = None
        if tracing:
            # Sampled out: a span started inside (prune) continues this unsampled parent, never a new
            # trace; upstream gets the agent's own decision, or no traceparent when the agent sent none.
            if parent is None:
                pending = Unsampled(trace_id, 0, False)  # ids drawn only if a span asks for them
            elif parent[2]:  # a sampled parent that a non-parent-based sampler dropped
                pending = Unsampled(parent[0], new_span_id(), False)
                forward.set_headers["traceparent"] = traceparent(parent[0], pending.span_id, False)
            else:
                pending = Unsampled(parent[0], parent[1], True)
                if incoming is not None:
                    forward.set_headers["traceparent"] = incoming  # as it came
            token = UNSAMPLED.set(pending)
        target = endpoint(request.method, path)
        observer = None
        if target is not None:
            observer = GenAIObserver(genai, request, forward, target.provider)
            forward.observers.append(observer)
        try:
            return await handler(request)
        finally:
            if observer is not None:
                observer.close()
            if token is not None:
                UNSAMPLED.reset(token)

    return middleware


async def _traced(
    tel: Telemetry,
    request: web.Request,
    handler: Handler,
    parent_ids: tuple[int, int, bool] | None,
    trace_id: int,
) -> web.StreamResponse:
    """Serve a sampled request under a SERVER span, with a GenAI client span for a chat call."""
    method, path = request.method, request.path  # the path without its query
    parent = _PROPAGATOR.extract(request.headers) if parent_ids is not None else _NO_PARENT
    target = endpoint(method, path)
    provider = target.provider if target is not None else None
    named = provider is not None or path.startswith("/sidecar/")
    if parent_ids is None and trace_id:
        tel.ids.preset_trace = trace_id  # the id the ratio sampler decided on
    tel.sampler.decided = True
    try:
        span = tel.tracer.start_span(
            f"{method} {path}" if named else method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
            record_exception=False,
        )
    finally:
        tel.sampler.decided, tel.ids.preset_trace = False, None
    context = trace.set_span_in_context(span, parent)
    token = otel_context.attach(context)
    observer: GenAIObserver | None = None
    try:
        if not path.startswith("/sidecar/"):
            forward = forward_of(request)
            span_context = span.get_span_context()
            client_id = new_span_id()
            forward.set_headers["traceparent"] = traceparent(
                span_context.trace_id, client_id, span_context.trace_flags.sampled
            )
            if provider is not None:
                observer = GenAIObserver(
                    tel.genai, request, forward, provider, _client_spans(tel, context, client_id)
                )
                forward.observers.append(observer)
        response = await handler(request)
        if span.is_recording():
            span.set_attributes(_response_attributes(response))
            if response.status >= 500:
                span.set_status(StatusCode.ERROR)
        return response
    except BaseException as exc:
        status = exc.status if isinstance(exc, web.HTTPException) else 500
        span.set_attributes({"error.type": type(exc).__name__, "http.response.status_code": status})
        if status >= 500:
            span.set_status(StatusCode.ERROR)
        raise
    finally:
        if observer is not None:
            observer.close()
        span.end()
        otel_context.detach(token)


def _client_spans(tel: Telemetry, parent: Context, span_id: int) -> StartSpan:
    """Start the client span(s) of one request: the first gets the id already sent upstream."""
    reserved = [span_id]

    def start(name: str, attributes: dict[str, str | int]) -> trace.Span:
        tel.ids.preset = reserved.pop() if reserved else None
        try:
            return tel.tracer.start_span(
                name, context=parent, kind=SpanKind.CLIENT, attributes=attributes, record_exception=False
            )
        finally:
            tel.ids.preset = None

    return start


def _response_attributes(response: web.StreamResponse) -> dict[str, str | int | bool]:
    attrs: dict[str, str | int | bool] = {"http.response.status_code": response.status}
    headers = response.headers
    saved = headers.get("X-Sidecar-Tokens-Saved")
    if saved is not None and saved.isdigit():
        attrs["sidecar.tokens_saved"] = int(saved)
    backend = headers.get("X-Sidecar-Backend")
    if backend is not None:
        attrs["sidecar.prune.backend"] = backend
    fallback = headers.get("X-Sidecar-Fallback")
    if fallback is not None:
        attrs["sidecar.prune.used_fallback"] = fallback.lower() in ("1", "true", "yes")
    return attrs


TELEMETRY = web.AppKey("sidecar_telemetry", Telemetry)


def telemetry_installer(telemetry: Telemetry | None = None) -> Installer:
    """Return an installer for ``telemetry`` (default: configured from the OTEL_* environment, read now)."""

    def install(app: web.Application) -> None:
        tel = telemetry if telemetry is not None else Telemetry(settings_from_env())
        app[TELEMETRY] = tel
        app[HEALTH_SOURCES]["telemetry"] = tel.health
        if not tel.enabled:
            return  # nothing on the request path, no provider: the OpenTelemetry API stays a no-op
        app.middlewares.append(telemetry_middleware(tel))
        app.cleanup_ctx.append(_lifetime(tel))
        app.on_startup.append(_wire(tel))

    return install


def install_telemetry(app: web.Application) -> None:
    """Add telemetry configured from the OTEL_* variables (raises ConfigError on an invalid one)."""
    telemetry_installer()(app)


def _lifetime(tel: Telemetry) -> Callable[[web.Application], AsyncIterator[None]]:
    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        tel.start()
        try:
            yield
        finally:
            await tel.aclose()

    return lifetime


def _wire(tel: Telemetry) -> Callable[[web.Application], Awaitable[None]]:
    async def wire(app: web.Application) -> None:
        # on_startup runs after every cleanup_ctx opened its resource: the pruner exists by now.
        pruner = app.get(PRUNER)
        if pruner is not None:
            pruner.add_observer(tel.observe_prune)
        tel.observe_proxy(app[STATS])

    return wire
