"""OpenTelemetry for the sidecar: set-up from the ``OTEL_*`` variables, spans per request, metrics.

    install_telemetry(app)
      settings_from_env()  -> TelemetrySettings (an invalid value is a ConfigError naming the variable)
      no endpoint, or OTEL_SDK_DISABLED=true: no middleware, no SDK provider, the API stays a no-op
      otherwise: a cleanup_ctx opens one TracerProvider and one MeterProvider (OTLP grpc | http/protobuf)
                 and flushes and shuts them down on exit; the middleware opens a SERVER span per request
                 (continuing the agent's W3C traceparent); a GenAIObserver on the upstream exchange opens
                 the CLIENT span ``chat {model}``, whose id goes upstream in ``traceparent``.

The ``prune`` and ``deepinfra.rerank`` spans come from sidecar.pruning and sidecar.backends.deepinfra
through ``trace.get_tracer("sidecar")``: the process-wide tracer provider set here routes them to the
running app's provider (the last one started, when tests start several).

Pruning metrics are fed by the Pruner's observer, which sees exactly the calls ``Pruner.health()``
counts, so the metrics and /sidecar/health agree (the README gives the mapping).

Privacy: attributes are metadata only (methods, paths without query, statuses, token counts, model names,
timings). Bodies, queries, header values other than traceparent and exception messages are never recorded.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from bisect import bisect_left
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from multidict import CIMultiDictProxy
from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util._decorator import _agnosticcontextmanager
from opentelemetry.util.types import Attributes

from . import __version__
from .errors import ConfigError
from .keys import HEALTH_SOURCES, PRUNER, STATS
from .proxy import BODY_CACHE, forward_of
from .stats import ProxyStats

if TYPE_CHECKING:
    from .pruning import PruneOutcome

log = logging.getLogger("sidecar.telemetry")

# The provider a request targets, when routing knows it better than the URL's host (e.g. "deepseek").
GENAI_PROVIDER = web.RequestKey("sidecar_genai_provider", str)
CHAT_PATHS = {"/v1/chat/completions": "openai", "/chat/completions": "openai", "/v1/messages": "anthropic"}
# Host suffix -> gen_ai.provider.name (the GenAI conventions' well-known values).
_HOST_PROVIDERS = (
    ("openai.com", "openai"),
    ("anthropic.com", "anthropic"),
    ("openai.azure.com", "azure.ai.openai"),
    ("deepseek.com", "deepseek"),
    ("groq.com", "groq"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("mistral.ai", "mistral_ai"),
    ("x.ai", "x_ai"),
)
# Bucket boundaries from the GenAI semantic conventions (gen_ai.client.* and time to first token).
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1, 4, 16, ... 67108864
TTFB_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
PRUNE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "ratelimiting",  # ours: OTEL_TRACES_SAMPLER_ARG new traces per second (Jaeger's sampler of that name)
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
    "parentbased_ratelimiting",
)
DEFAULT_SAMPLER = "parentbased_ratelimiting"
DEFAULT_TRACES_PER_SECOND = 100.0
_MAX_JSON_BODY = 1 << 20  # non-streaming answers above this are not parsed for usage
_MAX_SSE_LINE = 1 << 20
_PROPAGATOR = TraceContextTextMapPropagator()
_NO_PARENT = Context()


# --- settings ----------------------------------------------------------------------------------------


class Export(msgspec.Struct, frozen=True, kw_only=True):
    endpoint: str  # the exporter's URL (for http/protobuf, the full /v1/<signal> URL)
    protocol: str  # grpc | http/protobuf


class TelemetrySettings(msgspec.Struct, frozen=True, kw_only=True):
    """What the OTEL_* variables ask for, validated."""

    disabled: bool = False
    service_name: str = "sidecar"
    resource_attributes: dict[str, str] = msgspec.field(default_factory=dict)
    traces: Export | None = None
    metrics: Export | None = None
    sampler: str = DEFAULT_SAMPLER
    sampler_arg: float = DEFAULT_TRACES_PER_SECOND
    metric_export_interval_ms: int = 60_000

    @property
    def enabled(self) -> bool:
        return not self.disabled and (self.traces is not None or self.metrics is not None)


def settings_from_env(env: Mapping[str, str] | None = None) -> TelemetrySettings:
    """Read the standard OTEL_* variables; raise ConfigError naming the first invalid one."""
    env = os.environ if env is None else env
    disabled = _flag(env, "OTEL_SDK_DISABLED")
    base = _url(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
    protocol = _protocol(env, "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    attributes = _resource_attributes(env)
    sampler = env.get("OTEL_TRACES_SAMPLER", "").strip().lower() or DEFAULT_SAMPLER
    if sampler not in _SAMPLERS:
        raise ConfigError(f"OTEL_TRACES_SAMPLER: expected one of {', '.join(_SAMPLERS)}, got {sampler!r}")
    arg = DEFAULT_TRACES_PER_SECOND if sampler.endswith("ratelimiting") else 1.0
    raw_arg = env.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
    if raw_arg and sampler.endswith(("traceidratio", "ratelimiting")):
        try:
            arg = float(raw_arg)
        except ValueError:
            arg = -1.0
        if sampler.endswith("ratelimiting") and not 0.0 < arg < float("inf"):
            raise ConfigError(f"OTEL_TRACES_SAMPLER_ARG: expected traces per second (> 0), got {raw_arg!r}")
        if sampler.endswith("traceidratio") and not 0.0 <= arg <= 1.0:
            raise ConfigError(f"OTEL_TRACES_SAMPLER_ARG: expected a ratio between 0 and 1, got {raw_arg!r}")
    interval = env.get("OTEL_METRIC_EXPORT_INTERVAL", "").strip() or "60000"
    if not interval.isdigit() or int(interval) < 1:
        raise ConfigError(f"OTEL_METRIC_EXPORT_INTERVAL: expected milliseconds (>= 1), got {interval!r}")
    service = env.get("OTEL_SERVICE_NAME", "").strip() or attributes.get("service.name") or "sidecar"
    return TelemetrySettings(
        disabled=disabled,
        service_name=service,
        resource_attributes=attributes,
        traces=_signal(env, "TRACES", base, protocol, "/v1/traces"),
        metrics=_signal(env, "METRICS", base, protocol, "/v1/metrics"),
        sampler=sampler,
        sampler_arg=arg,
        metric_export_interval_ms=int(interval),
    )


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "false"):
        return False
    if raw == "true":
        return True
    raise ConfigError(f"{name}: expected true or false, got {raw!r}")


def _url(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        parts = urlsplit(raw)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:
        valid = False
    if not valid:
        # The value is not echoed: an endpoint URL may carry credentials.
        raise ConfigError(f"{name}: expected an http:// or https:// URL with a host")
    return raw


def _protocol(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, "").strip().lower() or default
    if raw not in ("grpc", "http/protobuf"):
        raise ConfigError(f"{name}: expected grpc or http/protobuf, got {raw!r}")
    return raw


def _signal(env: Mapping[str, str], signal: str, base: str | None, protocol: str, path: str) -> Export | None:
    exporter = env.get(f"OTEL_{signal}_EXPORTER", "").strip().lower() or "otlp"
    if exporter not in ("otlp", "none"):
        raise ConfigError(f"OTEL_{signal}_EXPORTER: expected otlp or none, got {exporter!r}")
    proto = _protocol(env, f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL", protocol)
    specific = _url(env, f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
    if exporter == "none":
        return None
    if specific is not None:
        return Export(endpoint=specific, protocol=proto)
    if base is None:
        return None
    return Export(endpoint=base if proto == "grpc" else base.rstrip("/") + path, protocol=proto)


def _resource_attributes(env: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for index, item in enumerate(env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",")):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"OTEL_RESOURCE_ATTRIBUTES: item {index + 1} is not key=value")
        out[unquote(key.strip())] = unquote(value.strip())
    return out


def _sampler(settings: TelemetrySettings) -> sampling.Sampler:
    name, arg = settings.sampler, settings.sampler_arg
    kind = name.removeprefix("parentbased_")
    root: sampling.Sampler
    if kind == "always_on":
        root = sampling.ALWAYS_ON
    elif kind == "always_off":
        root = sampling.ALWAYS_OFF
    elif kind == "ratelimiting":
        root = RateLimitingSampler(arg)
    else:
        root = sampling.TraceIdRatioBased(arg)
    return sampling.ParentBased(root) if name.startswith("parentbased_") else root


class RateLimitingSampler(sampling.Sampler):
    """Sample at most ``per_second`` new traces a second (a token bucket, burst of one second's worth).

    Every request is traced at an agent's pace; under a load test the cost of recording and exporting
    spans (about 0.1 ms of CPU per request in CPython) stays bounded instead of halving throughput.
    """

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = per_second
        self._burst = max(1.0, per_second)
        self._tokens = self._burst
        self._clock = clock
        self._last = clock()

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> sampling.SamplingResult:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return sampling.SamplingResult(sampling.Decision.RECORD_AND_SAMPLE, attributes, trace_state)
        return sampling.SamplingResult(sampling.Decision.DROP, None, trace_state)

    def get_description(self) -> str:
        return f"RateLimitingSampler{{{self._rate:g}/s}}"


# --- the process-wide tracer provider ---------------------------------------------------------------


class _Router(trace.TracerProvider):
    """The global provider: hands out tracers that follow whichever app's provider is active."""

    def __init__(self) -> None:
        self.active: TracerProvider | None = None

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> trace.Tracer:
        return _RoutedTracer(self, instrumenting_module_name, instrumenting_library_version, schema_url)


_NOOP_TRACER = trace.NoOpTracer()


class _RoutedTracer(trace.Tracer):
    def __init__(self, router: _Router, name: str, version: str | None, schema_url: str | None) -> None:
        self._router, self._name, self._version, self._schema_url = router, name, version, schema_url
        self._for: TracerProvider | None = None
        self._tracer: trace.Tracer = _NOOP_TRACER

    def _current(self) -> trace.Tracer:
        active = self._router.active
        if active is None:
            return _NOOP_TRACER
        if active is not self._for:
            self._tracer = active.get_tracer(self._name, self._version, self._schema_url)
            self._for = active
        return self._tracer

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        return self._current().start_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
        )

    @_agnosticcontextmanager
    def start_as_current_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace.Span]:
        with self._current().start_as_current_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
            end_on_exit,
        ) as span:
            yield span


_ROUTER = _Router()


def _route_global(provider: TracerProvider | None) -> None:
    current = trace.get_tracer_provider()
    if current is not _ROUTER:
        if not isinstance(current, trace.ProxyTracerProvider):
            return  # someone else (auto-instrumentation) owns the global provider: leave it
        trace.set_tracer_provider(_ROUTER)
    _ROUTER.active = provider


class _PresetIds(RandomIdGenerator):
    """Random ids, except one span id reserved in advance.

    The upstream request's traceparent must name the client span, but its headers are built before the
    proxy reports the exchange started; the id is reserved when the header is set and used when the
    span starts. Both happen on the event loop thread.
    """

    def __init__(self) -> None:
        self.preset: int | None = None

    def generate_span_id(self) -> int:
        preset = self.preset
        if preset is not None:
            self.preset = None
            return preset
        return super().generate_span_id()


# --- the telemetry service ---------------------------------------------------------------------------


MetricKey = tuple[tuple[str, str | bool], ...]


class LocalHistogram:
    """An explicit-bucket histogram aggregated here, exported along with the SDK's metrics.

    The SDK's synchronous histogram validates and hashes the attributes on every measurement (about
    8 us in CPython); these are recorded on every proxied request, so they are aggregated in a dict
    keyed by the attribute tuple (a bisect and a few adds) and turned into SDK data points when the
    reader collects (cumulative temporality). Recorded on the event loop, read by the reader's thread:
    the count is derived from the bucket counts so a point is always self-consistent.
    """

    def __init__(self, name: str, unit: str, description: str, bounds: Sequence[float]) -> None:
        self.name, self.unit, self.description = name, unit, description
        self.bounds = tuple(bounds)
        self._series: dict[MetricKey, list[float]] = {}  # sum, min, max, then one count per bucket
        self._start = time.time_ns()

    def record(self, value: float, key: MetricKey) -> None:
        """Add one measurement to the series of ``key``."""
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = [0.0, math.inf, -math.inf] + [0.0] * (len(self.bounds) + 1)
        series[0] += value
        if value < series[1]:
            series[1] = value
        if value > series[2]:
            series[2] = value
        series[3 + bisect_left(self.bounds, value)] += 1

    def metric(self, now_ns: int) -> Metric | None:
        """Return the SDK metric for an export, or None before the first measurement."""
        points = []
        for key, series in list(self._series.items()):
            counts = [int(c) for c in series[3:]]
            points.append(
                HistogramDataPoint(
                    attributes=dict(key),
                    start_time_unix_nano=self._start,
                    time_unix_nano=now_ns,
                    count=sum(counts),
                    sum=series[0],
                    bucket_counts=counts,
                    explicit_bounds=self.bounds,
                    min=series[1],
                    max=series[2],
                )
            )
        if not points:
            return None
        data = Histogram(data_points=points, aggregation_temporality=AggregationTemporality.CUMULATIVE)
        return Metric(name=self.name, description=self.description, unit=self.unit, data=data)


class _GenAIMetrics:
    """The per-request histograms of the GenAI conventions (and time to first byte)."""

    def __init__(self) -> None:
        self.operation_duration = LocalHistogram(
            "gen_ai.client.operation.duration", "s", "GenAI operation duration", DURATION_BUCKETS
        )
        self.token_usage = LocalHistogram(
            "gen_ai.client.token.usage",
            "{token}",
            "Measures number of input and output tokens used",
            TOKEN_BUCKETS,
        )
        self.ttfb = LocalHistogram(
            "sidecar.upstream.time_to_first_byte",
            "s",
            "Time from sending the upstream request to the first byte of its streamed answer",
            TTFB_BUCKETS,
        )

        self.histograms = [self.operation_duration, self.token_usage, self.ttfb]

    def metrics(self) -> list[Metric]:
        now = time.time_ns()
        found = (h.metric(now) for h in self.histograms)
        return [m for m in found if m is not None]


class _PruneTotals:
    """Pruning aggregates by backend, requested backend, fallback and cache hit, read at collection.

    Fed by the Pruner's observer, which sees exactly the calls ``Pruner.health()`` counts; published
    as observable counters so a pruning call costs a dict lookup and four adds, not seven SDK calls.
    """

    def __init__(self) -> None:
        self.series: dict[tuple[str, str, bool, bool], list[float]] = {}  # calls, before, saved, cost
        self.duration = LocalHistogram(
            "sidecar.prune.duration", "s", "Pruning latency, end to end", PRUNE_BUCKETS
        )

    def add(self, outcome: PruneOutcome) -> None:
        s = outcome.stats
        requested = "deepinfra" if s.deepinfra_selected else s.backend
        key = (s.backend, requested, s.used_fallback, s.cache_hit)
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = [0.0, 0.0, 0.0, 0.0]
        series[0] += 1
        series[1] += s.tokens_est_before
        series[2] += s.tokens_saved_est
        series[3] += 0.0 if s.cache_hit else s.cost_estimated_usd
        self.duration.record(s.latency_ms / 1000.0, _prune_key(key))

    def register(self, meter: metrics.Meter) -> None:
        """Create the observable counters (once per meter)."""

        def calls(_: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
            return [metrics.Observation(int(v[0]), dict(_prune_key(k))) for k, v in list(self.series.items())]

        def by_backend(
            index: int, integer: bool
        ) -> Callable[[metrics.CallbackOptions], Iterable[metrics.Observation]]:
            def observe(_: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
                totals: dict[str, float] = {}
                for key, v in list(self.series.items()):
                    totals[key[0]] = totals.get(key[0], 0.0) + v[index]
                return [
                    metrics.Observation(int(t) if integer else t, {"sidecar.prune.backend": b})
                    for b, t in totals.items()
                ]

            return observe

        def cache(hit: bool) -> Callable[[metrics.CallbackOptions], Iterable[metrics.Observation]]:
            def observe(_: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
                return [
                    metrics.Observation(int(sum(v[0] for k, v in list(self.series.items()) if k[3] is hit)))
                ]

            return observe

        counter = meter.create_observable_counter
        counter("sidecar.prune.calls", [calls], "{call}", "Pruning calls, cache hits included")
        counter("sidecar.prune.tokens_before", [by_backend(1, True)], "{token}", "Tokens before pruning")
        counter("sidecar.prune.tokens_saved", [by_backend(2, True)], "{token}", "Tokens saved by pruning")
        counter("sidecar.prune.cost", [by_backend(3, False)], "USD", "Estimated reranker cost")
        counter("sidecar.prune.cache.hits", [cache(True)], "{call}", "Pruning calls served from the cache")
        counter("sidecar.prune.cache.misses", [cache(False)], "{call}", "Pruning calls that ran a backend")


def _prune_key(key: tuple[str, str, bool, bool]) -> tuple[tuple[str, str | bool], ...]:
    return (
        ("sidecar.prune.backend", key[0]),
        ("sidecar.prune.requested_backend", key[1]),
        ("sidecar.prune.used_fallback", key[2]),
        ("sidecar.prune.cache_hit", key[3]),
    )


class _WithGenAI(MetricExporter):
    """Export the SDK's metrics plus the locally aggregated GenAI histograms, in the sidecar's scope."""

    def __init__(self, inner: MetricExporter, genai: _GenAIMetrics, resource: Resource) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self._inner, self._genai, self._resource = inner, genai, resource

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object
    ) -> MetricExportResult:
        return self._inner.export(self._merge(metrics_data), timeout_millis=timeout_millis)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._inner.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        self._inner.shutdown(timeout_millis=timeout_millis)

    def _merge(self, data: MetricsData) -> MetricsData:
        extra = self._genai.metrics()
        if not extra:
            return data
        resources = list(data.resource_metrics)
        if not resources:
            scope = InstrumentationScope("sidecar", __version__)
            return MetricsData([ResourceMetrics(self._resource, [ScopeMetrics(scope, extra, "")], "")])
        first = resources[0]
        scopes = list(first.scope_metrics)
        ours = next((i for i, sm in enumerate(scopes) if sm.scope.name == "sidecar"), None)
        if ours is None:
            scopes.append(ScopeMetrics(InstrumentationScope("sidecar", __version__), extra, ""))
        else:
            sm = scopes[ours]
            scopes[ours] = ScopeMetrics(sm.scope, [*sm.metrics, *extra], sm.schema_url)
        resources[0] = ResourceMetrics(first.resource, scopes, first.schema_url)
        return MetricsData(resources)


class InMemoryMetricExporter(MetricExporter):
    """Keep every export in memory (tests; pair with ``Telemetry.flush_metrics``)."""

    def __init__(self) -> None:
        super().__init__()
        self.exported: list[MetricsData] = []

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object
    ) -> MetricExportResult:
        self.exported.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        return None


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
        self.tracer: trace.Tracer = _NOOP_TRACER
        self.tracer_provider: TracerProvider | None = None
        self.meter_provider: MeterProvider | None = None
        self.meter: metrics.Meter = metrics.NoOpMeter("sidecar")
        self.genai = _GenAIMetrics()
        self.prune = _PruneTotals()
        self.genai.histograms.append(self.prune.duration)  # exported with the others
        self.ids = _PresetIds()

    def start(self) -> None:
        """Create the providers and instruments (once); route the global tracer provider here."""
        if not self.enabled or self.tracer_provider is not None or self.meter_provider is not None:
            return
        s = self.settings
        resource = Resource.create(
            {**s.resource_attributes, "service.name": s.service_name, "service.version": __version__}
        )
        if self.tracing:
            provider = TracerProvider(sampler=_sampler(s), resource=resource, id_generator=self.ids)
            provider.add_span_processor(self._span_processor())
            self.tracer_provider = provider
            self.tracer = provider.get_tracer("sidecar", __version__)
            _route_global(provider)
        readers = []
        if self._metric_exporter is not None:  # exported on flush_metrics only
            exporter = _WithGenAI(self._metric_exporter, self.genai, resource)
            readers.append(PeriodicExportingMetricReader(exporter, export_interval_millis=math.inf))
        elif self.metering and s.metrics is not None:
            exporter = _WithGenAI(_metric_exporter(s.metrics), self.genai, resource)
            readers.append(
                PeriodicExportingMetricReader(exporter, export_interval_millis=s.metric_export_interval_ms)
            )
        # Exemplars would cost a context lookup and a reservoir update on every measurement.
        self.meter_provider = MeterProvider(
            resource=resource, metric_readers=readers, exemplar_filter=AlwaysOffExemplarFilter()
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
        return BatchSpanProcessor(_span_exporter(self.settings.traces))

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Flush and shut down the providers (export runs in a thread: never block the loop)."""
        tracer_provider, meter_provider = self.tracer_provider, self.meter_provider
        if tracer_provider is not None:
            if _ROUTER.active is tracer_provider:
                _ROUTER.active = None
            self.tracer = _NOOP_TRACER
            await asyncio.to_thread(tracer_provider.force_flush, int(timeout_s * 1000))
            await asyncio.to_thread(tracer_provider.shutdown)
        if meter_provider is not None:
            await asyncio.to_thread(meter_provider.shutdown, timeout_s * 1000)

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
        meter = self.meter

        def requests(_: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
            return [metrics.Observation(stats.requests_total)]

        def upstream(_: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
            return [metrics.Observation(stats.upstream_requests)]

        def errors(_: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
            return [metrics.Observation(n, {"error.type": kind}) for kind, n in stats.upstream_errors.items()]

        meter.create_observable_counter("sidecar.requests", [requests], "{request}", "Requests received")
        meter.create_observable_counter(
            "sidecar.upstream.requests", [upstream], "{request}", "Upstream calls"
        )
        meter.create_observable_counter("sidecar.upstream.errors", [errors], "{error}", "Upstream failures")


def _span_exporter(export: Export) -> SpanExporter:
    # Imported on use: the gRPC stack is heavy and only one protocol is ever needed.
    if export.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans

        return GrpcSpans(endpoint=export.endpoint, insecure=export.endpoint.startswith("http://"))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans

    return HttpSpans(endpoint=export.endpoint)


def _metric_exporter(export: Export) -> MetricExporter:
    if export.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics

        return GrpcMetrics(endpoint=export.endpoint, insecure=export.endpoint.startswith("http://"))
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics

    return HttpMetrics(endpoint=export.endpoint)


# --- the upstream GenAI client span ------------------------------------------------------------------


class _Usage(msgspec.Struct, frozen=True):
    prompt_tokens: int | None = None  # OpenAI
    completion_tokens: int | None = None
    input_tokens: int | None = None  # Anthropic
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None


class _Message(msgspec.Struct, frozen=True):
    model: str | None = None
    usage: _Usage | None = None


class _Event(msgspec.Struct, frozen=True):
    """A response body or one SSE event, reduced to what carries the model and the token usage."""

    model: str | None = None
    usage: _Usage | None = None
    message: _Message | None = None  # Anthropic message_start


class _ChatRequest(msgspec.Struct, frozen=True):
    model: str | None = None


_event_decoder = msgspec.json.Decoder(_Event)
_request_decoder = msgspec.json.Decoder(_ChatRequest)
_NONE, _SSE, _JSON = 0, 1, 2


class GenAIObserver:
    """Turn one upstream chat exchange into a GenAI CLIENT span and the gen_ai.client.* metrics.

    Usage is read from the response as it streams: only SSE lines containing ``"usage"`` are decoded
    (OpenAI's usage chunk, Anthropic's message_start and message_delta); nothing is buffered but the
    current partial line. A non-streaming JSON answer is kept up to 1 MiB to read its usage.
    """

    __slots__ = (
        "_tel", "_request", "_forward", "_parent", "_span_id", "_path_provider", "_span", "_started",
        "_status", "traced", "_active", "_mode", "_pending", "_buffer", "_first", "_attrs", "_input",
        "_output", "_response_model",
    )  # fmt: skip

    def __init__(
        self, telemetry: Telemetry, request: web.Request, parent: Context, span_id: int | None, provider: str
    ) -> None:
        self._tel, self._request, self._parent = telemetry, request, parent
        self._forward = forward_of(request)
        self._span_id, self._path_provider = span_id, provider
        self._span: trace.Span | None = None
        self.traced = True  # False when the request's span is sampled out: no client span then
        self._active = False  # an exchange started and did not finish
        self._started = 0.0
        self._status = 0
        self._mode = _NONE
        self._pending = b""
        self._buffer = bytearray()
        self._first = True
        self._attrs: dict[str, str] = {}
        self._input: int | None = None
        self._output: int | None = None
        self._response_model: str | None = None

    def upstream_started(self, method: str, url: str) -> None:
        if self._active:
            self._end("retried")  # the proxy tried again: the first attempt ends here
        request, forward = self._request, self._forward
        model = _request_model(forward.body if forward.body is not None else request.get(BODY_CACHE))
        host, port, by_host = _origin(url)
        provider = request.get(GENAI_PROVIDER) or by_host or self._path_provider
        self._attrs = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "server.address": host,
        }
        if model:
            self._attrs["gen_ai.request.model"] = model
        self._active = True
        if self.traced:
            attributes: dict[str, str | int] = dict(self._attrs)
            if port is not None:
                attributes["server.port"] = port
            tel = self._tel
            tel.ids.preset, self._span_id = self._span_id, None
            try:
                self._span = tel.tracer.start_span(
                    f"chat {model}" if model else "chat",
                    context=self._parent,
                    kind=SpanKind.CLIENT,
                    attributes=attributes,
                    record_exception=False,
                )
            finally:
                tel.ids.preset = None
        self._started = time.perf_counter()
        self._first, self._mode, self._pending = True, _NONE, b""
        self._input = self._output = self._response_model = None

    def response_started(self, status: int, headers: CIMultiDictProxy[str]) -> None:
        self._status = status
        encoding = headers.get("Content-Encoding", "identity").lower()
        content_type = headers.get("Content-Type", "")
        if encoding != "identity":
            self._mode = _NONE  # compressed bodies are relayed as they are, not inflated to be read
        elif content_type.startswith("text/event-stream"):
            self._mode = _SSE
        elif "json" in content_type:
            self._mode = _JSON

    def chunk(self, data: bytes) -> None:
        if self._mode == _SSE:
            if self._first:
                self._first = False
                self._tel.genai.ttfb.record(time.perf_counter() - self._started, tuple(self._attrs.items()))
            self._scan(data)
        elif self._mode == _JSON:
            if len(self._buffer) + len(data) > _MAX_JSON_BODY:
                self._mode, self._buffer = _NONE, bytearray()
            else:
                self._buffer += data

    def finished(self, error: str | None) -> None:
        if self._mode == _JSON and self._buffer:
            self._apply(bytes(self._buffer))
            self._buffer = bytearray()
        self._end(error)

    def close(self) -> None:
        """End a span the proxy never finished (the handler failed in between)."""
        if self._active:
            self._end("internal_error")

    def _scan(self, data: bytes) -> None:
        pending = self._pending + data if self._pending else data
        end = pending.rfind(b"\n")
        if end < 0:
            self._pending = pending if len(pending) <= _MAX_SSE_LINE else b""
            return
        self._pending = pending[end + 1 :] if end + 1 < len(pending) else b""
        if pending.find(b'"usage"', 0, end) < 0:
            return  # the common case: content deltas, skipped without decoding
        for line in pending[:end].split(b"\n"):
            if line.startswith(b"data:") and b'"usage"' in line:
                self._apply(line[5:])

    def _apply(self, payload: bytes) -> None:
        try:
            event = _event_decoder.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return
        message = event.message
        model = event.model or (message.model if message is not None else None)
        if model:
            self._response_model = model
        for usage in (event.usage, message.usage if message is not None else None):
            if usage is None:
                continue
            if usage.prompt_tokens is not None:
                self._input = usage.prompt_tokens
            if usage.input_tokens is not None:
                # The conventions count cached input too; Anthropic reports it apart.
                self._input = (
                    usage.input_tokens
                    + (usage.cache_read_input_tokens or 0)
                    + (usage.cache_creation_input_tokens or 0)
                )
            out = usage.completion_tokens if usage.completion_tokens is not None else usage.output_tokens
            if out is not None:
                self._output = out  # Anthropic's message_delta count is cumulative

    def _end(self, error: str | None) -> None:
        span, self._span = self._span, None
        if not self._active:
            return
        self._active = False
        error_type = error or (str(self._status) if self._status >= 400 else None)
        attrs = self._attrs  # the metrics' attributes; the span has them since its start
        extra: dict[str, str | int] = {}
        if self._response_model:
            attrs["gen_ai.response.model"] = extra["gen_ai.response.model"] = self._response_model
        if error_type:
            attrs["error.type"] = extra["error.type"] = error_type
        if span is not None and span.is_recording():
            if self._status:
                extra["http.response.status_code"] = self._status
            if self._input is not None:
                extra["gen_ai.usage.input_tokens"] = self._input
            if self._output is not None:
                extra["gen_ai.usage.output_tokens"] = self._output
            span.set_attributes(extra)
            if error_type:
                span.set_status(StatusCode.ERROR)
        if span is not None:
            span.end()
        genai = self._tel.genai
        key = tuple(attrs.items())
        genai.operation_duration.record(time.perf_counter() - self._started, key)
        if self._input is not None:
            genai.token_usage.record(self._input, (*key, ("gen_ai.token.type", "input")))
        if self._output is not None:
            genai.token_usage.record(self._output, (*key, ("gen_ai.token.type", "output")))


def _request_model(body: bytes | None) -> str | None:
    if not body:
        return None
    try:
        return _request_decoder.decode(body).model
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None  # compressed or not JSON: the span is named "chat"


_ORIGINS: dict[str, tuple[str, int | None, str | None]] = {}


def _origin(url: str) -> tuple[str, int | None, str | None]:
    """Return the host, port and provider (by host) of an upstream URL, cached per origin."""
    end = url.find("/", url.find("//") + 2)
    origin = url if end < 0 else url[:end]
    found = _ORIGINS.get(origin)
    if found is None:
        try:
            parts = urlsplit(origin)
            host, port = parts.hostname or "", parts.port
        except ValueError:
            host, port = "", None
        provider = next(
            (p for suffix, p in _HOST_PROVIDERS if host == suffix or host.endswith("." + suffix)), None
        )
        found = (host, port, provider)
        if len(_ORIGINS) < 1024:  # origins are configured upstreams: few
            _ORIGINS[origin] = found
    return found


# --- the server span and the installer ---------------------------------------------------------------


def telemetry_middleware(telemetry: Telemetry) -> Middleware:
    """Open a SERVER span per request (continuing the agent's traceparent) and watch the upstream call."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        tel = telemetry
        method, path = request.method, request.path  # the path without its query
        headers = request.headers
        parent = _PROPAGATOR.extract(headers) if "traceparent" in headers else _NO_PARENT
        provider = CHAT_PATHS.get(path) if method == "POST" else None
        named = provider is not None or path.startswith("/sidecar/")
        span = tel.tracer.start_span(
            f"{method} {path}" if named else method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
            record_exception=False,
        )
        context = trace.set_span_in_context(span, parent)
        token = otel_context.attach(context)
        observer: GenAIObserver | None = None
        try:
            if not path.startswith("/sidecar/"):
                forward = forward_of(request)
                span_id = None
                if span.is_recording():
                    span_id = tel.ids.generate_span_id()
                    forward.set_headers["traceparent"] = _traceparent(span.get_span_context(), span_id)
                elif tel.tracing:
                    forward.set_headers["traceparent"] = _traceparent(span.get_span_context(), None)
                if provider is not None:
                    observer = GenAIObserver(tel, request, context, span_id, provider)
                    observer.traced = span_id is not None
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

    return middleware


def _traceparent(parent: trace.SpanContext, span_id: int | None) -> str:
    flags = "01" if parent.trace_flags.sampled else "00"
    return f"00-{parent.trace_id:032x}-{span_id if span_id is not None else parent.span_id:016x}-{flags}"


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
Installer = Callable[[web.Application], None]


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
