"""Telemetry metrics: histograms aggregated locally, pruning totals and proxy counters read at collection.

Everything recorded per request is a dict lookup and a few adds on the event loop; the SDK sees data only
when its reader collects (cumulative temporality), so exporting costs nothing on the request path.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from opentelemetry import metrics
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from sidecar import __version__
from sidecar.stats import ProxyStats

if TYPE_CHECKING:
    from sidecar.pruning.types import PruneOutcome

# Bucket boundaries from the GenAI semantic conventions (gen_ai.client.* and time to first token).
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1, 4, 16, ... 67108864
TTFB_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
PRUNE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


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
        self.add(self.series(key), value)

    def series(self, key: MetricKey) -> list[float]:
        """Return the series of ``key`` (created empty), for ``add`` without hashing the key again."""
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = [0.0, math.inf, -math.inf] + [0.0] * (len(self.bounds) + 1)
        return series

    def add(self, series: list[float], value: float) -> None:
        """Add one measurement to a series returned by ``series``."""
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
            if not any(counts):
                continue  # resolved ahead of use, never recorded into
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


class GenAIMetrics:
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
        self._exchanges: dict[tuple[str, str, str | None], ExchangeSeries] = {}

    def exchange(self, provider: str, host: str, model: str | None) -> ExchangeSeries:
        """Return the series of exchanges with this provider, host and requested model (cached)."""
        found = self._exchanges.get((provider, host, model))
        if found is None:
            key: MetricKey = (
                ("gen_ai.operation.name", "chat"),
                ("gen_ai.provider.name", provider),
                ("server.address", host),
            )
            if model:
                key = (*key, ("gen_ai.request.model", model))
            found = ExchangeSeries(self, key)
            if len(self._exchanges) < 4096:  # models and upstreams: few, but a client names the model
                self._exchanges[(provider, host, model)] = found
        return found

    def metrics(self) -> list[Metric]:
        now = time.time_ns()
        found = (h.metric(now) for h in self.histograms)
        return [m for m in found if m is not None]


class ExchangeSeries:
    """The histogram series of one kind of exchange, resolved once per outcome so a request hashes nothing."""

    __slots__ = ("key", "_metrics", "_ttfb", "_outcomes")

    def __init__(self, metrics: GenAIMetrics, key: MetricKey) -> None:
        self.key = key  # the attributes every measurement of the exchange carries
        self._metrics = metrics
        self._ttfb: list[float] | None = None
        self._outcomes: dict[tuple[str | None, str | None], tuple[list[float], list[float], list[float]]] = {}

    def first_byte(self, seconds: float) -> None:
        """Record the time to the first byte of a streamed answer."""
        ttfb = self._metrics.ttfb
        if self._ttfb is None:
            self._ttfb = ttfb.series(self.key)
        ttfb.add(self._ttfb, seconds)

    def finished(
        self,
        seconds: float,
        input_tokens: int | None,
        output_tokens: int | None,
        response_model: str | None,
        error_type: str | None,
    ) -> None:
        """Record one exchange's duration and token usage."""
        metrics = self._metrics
        found = self._outcomes.get((response_model, error_type))
        if found is None:
            key = self.key
            if response_model:
                key = (*key, ("gen_ai.response.model", response_model))
            if error_type:
                key = (*key, ("error.type", error_type))
            usage = metrics.token_usage
            found = (
                metrics.operation_duration.series(key),
                usage.series((*key, ("gen_ai.token.type", "input"))),
                usage.series((*key, ("gen_ai.token.type", "output"))),
            )
            if len(self._outcomes) < 256:
                self._outcomes[(response_model, error_type)] = found
        metrics.operation_duration.add(found[0], seconds)
        if input_tokens is not None:
            metrics.token_usage.add(found[1], input_tokens)
        if output_tokens is not None:
            metrics.token_usage.add(found[2], output_tokens)


class PruneTotals:
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


class WithLocalHistograms(MetricExporter):
    """Export the SDK's metrics plus the locally aggregated GenAI histograms, in the sidecar's scope."""

    def __init__(self, inner: MetricExporter, genai: GenAIMetrics, resource: Resource) -> None:
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


def register_proxy_counters(meter: metrics.Meter, stats: ProxyStats) -> None:
    """Publish the proxy counters of /sidecar/health as observable counters (read at collection)."""

    def requests(_: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        return [metrics.Observation(stats.requests_total)]

    def upstream(_: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        return [metrics.Observation(stats.upstream_requests)]

    def errors(_: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        return [metrics.Observation(n, {"error.type": kind}) for kind, n in stats.upstream_errors.items()]

    meter.create_observable_counter("sidecar.requests", [requests], "{request}", "Requests received")
    meter.create_observable_counter("sidecar.upstream.requests", [upstream], "{request}", "Upstream calls")
    meter.create_observable_counter("sidecar.upstream.errors", [errors], "{error}", "Upstream failures")
