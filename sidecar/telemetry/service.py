"""OpenTelemetry for the sidecar: the service (providers, tracer, instruments), the middleware, the installer.

    install_telemetry(app)
      settings_from_env()  -> TelemetrySettings (telemetry.settings; an invalid value is a ConfigError)
      no endpoint, or OTEL_SDK_DISABLED=true: no middleware, no SDK provider, the API stays a no-op
      otherwise: a cleanup_ctx opens one TracerProvider and one MeterProvider (OTLP grpc | http/protobuf)
                 and flushes and shuts them down on exit; the middleware decides sampling first, from
                 the agent's traceparent alone (sidecar.telemetry.tracing):
        sampled      a SERVER span continuing the agent's W3C traceparent; a GenAIObserver (telemetry.genai)
                     opens the CLIENT span ``chat {model}``, whose id goes upstream in ``traceparent``
        sampled out  no span and no SDK call: the agent's traceparent goes upstream as it came (none
                     when it sent none), and the GenAIObserver records the metrics only

Metrics (sidecar.telemetry.metrics) count every request, sampled or not. Pruning metrics are fed by the
Pruner's observer, which sees exactly the calls ``Pruner.health()`` counts, so the metrics and
/sidecar/health agree (the README gives the mapping).

Privacy: attributes are metadata only (methods, paths without query, statuses, token counts, model names,
timings). Bodies, queries, header values other than traceparent and exception messages are never recorded.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sidecar import __version__
from sidecar.keys import HEALTH_SOURCES, STATS, Installer
from sidecar.proxy.forward import forward_of
from sidecar.proxy.paths import endpoint
from sidecar.pruning.lifecycle import PRUNER
from sidecar.stats import ProxyStats
from sidecar.telemetry.export import metric_exporter, run_bounded, span_exporter
from sidecar.telemetry.genai import GenAIObserver, StartSpan
from sidecar.telemetry.metrics import (
    DURATION_BUCKETS,
    PRUNE_BUCKETS,
    TOKEN_BUCKETS,
    TTFB_BUCKETS,
    GenAIMetrics,
    InMemoryMetricExporter,
    LocalHistogram,
    PruneTotals,
    WithLocalHistograms,
    register_proxy_counters,
)
from sidecar.telemetry.settings import (
    DEFAULT_SAMPLER,
    DEFAULT_TRACES_PER_SECOND,
    Export,
    TelemetrySettings,
    settings_from_env,
)
from sidecar.telemetry.tracing import (
    NOOP_TRACER,
    ROUTER,
    UNSAMPLED,
    PresetIds,
    RateLimitingSampler,
    SamplingFirst,
    Unsampled,
    new_span_id,
    parse_traceparent,
    route_global,
    traceparent,
)

if TYPE_CHECKING:
    from sidecar.pruning.types import PruneOutcome

__all__ = [
    "DEFAULT_SAMPLER",
    "DEFAULT_TRACES_PER_SECOND",
    "DURATION_BUCKETS",
    "PRUNE_BUCKETS",
    "TELEMETRY",
    "TOKEN_BUCKETS",
    "TTFB_BUCKETS",
    "Export",
    "GenAIObserver",
    "InMemoryMetricExporter",
    "LocalHistogram",
    "RateLimitingSampler",
    "Telemetry",
    "TelemetryHealth",
    "TelemetrySettings",
    "install_telemetry",
    "settings_from_env",
    "telemetry_installer",
    "telemetry_middleware",
]

log = logging.getLogger("sidecar.telemetry")

_PROPAGATOR = TraceContextTextMapPropagator()
_NO_PARENT = Context()


class TelemetryHealth(msgspec.Struct, frozen=True, kw_only=True):
    """The telemetry section of /sidecar/health (where data goes, not the data)."""

    enabled: bool
    traces: bool
    metrics: bool
    protocol: str | None
    service_name: str
    sampler: str


class Telemetry:
    """The app's telemetry: providers, tracer and instruments, no-op unless export is configured.

    ``span_exporter`` / ``metric_exporter`` replace the OTLP exporters (tests: in-memory; spans are then
    exported synchronously, metrics on ``flush_metrics``).
    """

    def __init__(
        self,
        settings: TelemetrySettings,
        *,
        span_exporter: SpanExporter | None = None,
        metric_exporter: MetricExporter | None = None,
    ) -> None:
        self.settings = settings
        self._span_exporter = span_exporter
        self._metric_exporter = metric_exporter
        self.tracing = span_exporter is not None or (settings.enabled and settings.traces is not None)
        self.metering = metric_exporter is not None or (settings.enabled and settings.metrics is not None)
        self.enabled = self.tracing or self.metering
        self.tracer: trace.Tracer = NOOP_TRACER
        self.tracer_provider: TracerProvider | None = None
        self.meter_provider: MeterProvider | None = None
        self.meter: metrics.Meter = metrics.NoOpMeter("sidecar")
        self.genai = GenAIMetrics()
        self.prune = PruneTotals()
        self.genai.histograms.append(self.prune.duration)  # exported with the others
        self.ids = PresetIds()
        self.sampling = SamplingFirst(settings)
        self.sampler = self.sampling.sampler()

    def start(self) -> None:
        """Create the providers and instruments (once); route the global tracer provider here."""
        if not self.enabled or self.tracer_provider is not None or self.meter_provider is not None:
            return
        s = self.settings
        resource = Resource.create(
            {**s.resource_attributes, "service.name": s.service_name, "service.version": __version__}
        )
        if self.tracing:
            provider = TracerProvider(
                sampler=self.sampler, resource=resource, id_generator=self.ids, shutdown_on_exit=False
            )
            provider.add_span_processor(self._span_processor())
            self.tracer_provider = provider
            self.tracer = provider.get_tracer("sidecar", __version__)
            route_global(provider)
        readers = []
        if self._metric_exporter is not None:  # exported on flush_metrics only
            exporter = WithLocalHistograms(self._metric_exporter, self.genai, resource)
            readers.append(PeriodicExportingMetricReader(exporter, export_interval_millis=math.inf))
        elif self.metering and s.metrics is not None:
            exporter = WithLocalHistograms(metric_exporter(s.metrics), self.genai, resource)
            readers.append(
                PeriodicExportingMetricReader(exporter, export_interval_millis=s.metric_export_interval_ms)
            )
        # Exemplars would cost a context lookup and a reservoir update on every measurement.
        self.meter_provider = MeterProvider(
            resource=resource,
            metric_readers=readers,
            exemplar_filter=AlwaysOffExemplarFilter(),
            shutdown_on_exit=False,  # aclose() shuts it down, bounded; an atexit hook would not be
        )
        self.meter = self.meter_provider.get_meter("sidecar", __version__)
        self.prune.register(self.meter)

    def flush_metrics(self) -> None:
        """Collect and export the metrics now (blocking: tests, or from a thread)."""
        if self.meter_provider is not None:
            self.meter_provider.force_flush()

    def _span_processor(self) -> SpanProcessor:
        if self._span_exporter is not None:
            return SimpleSpanProcessor(self._span_exporter)
        assert self.settings.traces is not None
        return BatchSpanProcessor(span_exporter(self.settings.traces))

    async def aclose(self, timeout_s: float = 2.0) -> None:
        """Flush and shut down the providers, waiting at most ``timeout_s`` (an unreachable collector).

        The exporters block while they retry, so they run on a daemon thread: past the bound it is left
        behind and never holds up the process's exit (nor do the providers' atexit hooks: none is set).
        """
        tracer_provider, meter_provider = self.tracer_provider, self.meter_provider
        if tracer_provider is not None and ROUTER.active is tracer_provider:
            ROUTER.active = None
        self.tracer = NOOP_TRACER
        if tracer_provider is None and meter_provider is None:
            return
        budget_ms = max(1, int(timeout_s * 1000))

        def shut() -> None:
            if tracer_provider is not None:
                tracer_provider.force_flush(budget_ms)
                tracer_provider.shutdown()
            if meter_provider is not None:
                meter_provider.shutdown(budget_ms)

        if not await run_bounded(shut, timeout_s):
            log.warning("telemetry: export not flushed within %.1f s (collector unreachable?)", timeout_s)

    def health(self) -> TelemetryHealth:
        """Return where telemetry goes."""
        s = self.settings
        export = s.traces or s.metrics
        return TelemetryHealth(
            enabled=self.enabled,
            traces=self.tracing,
            metrics=self.metering,
            protocol=export.protocol if export is not None and self.enabled else None,
            service_name=s.service_name,
            sampler=s.sampler,
        )

    def observe_prune(self, outcome: PruneOutcome) -> None:
        """Count one pruning call (the Pruner's observer: the same calls its health() aggregates)."""
        self.prune.add(outcome)

    def observe_proxy(self, stats: ProxyStats) -> None:
        """Publish the proxy counters of /sidecar/health as observable counters (read at collection)."""
        register_proxy_counters(self.meter, stats)


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
