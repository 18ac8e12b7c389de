"""``GET /sidecar/metrics``: the figures of /sidecar/health, and the dashboard's, in Prometheus text format.

    scrape -> SidecarCollector.collect()
      -> every /sidecar/health section, read through the same sources at scrape time (so a scrape and
         /sidecar/health taken together agree, and it works with OTLP export off: most laptops have no
         collector, so this does not go through the OpenTelemetry meter provider, which only exists
         when OTLP export is configured)
      -> the savings breakdown (sidecar_saved_tokens_total{path,agent,tool,kind,model,backend}, ...)
      -> histograms: the time pruning added per request, plus the GenAI and pruning histograms that
         sidecar.telemetry aggregates locally when telemetry is on
    -> prometheus_client's encoder, in a worker thread on a snapshot taken on the event loop (a full
       breakdown is a few thousand samples: tens of milliseconds the loop should not block on):
       text 0.0.4 by default, OpenMetrics when the scraper asks for it

Naming: ``sidecar_`` + section + field, counters end in ``_total``, durations in ``_seconds``; a health
dict (``upstream_errors``, ``requests_skipped``...) becomes one label. Label values are what /sidecar/health
already shows (metadata only); the breakdown's are capped and cleaned by the recorder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator

from aiohttp import web
from opentelemetry.sdk.metrics.export import Histogram
from opentelemetry.sdk.metrics.export import Metric as OtelMetric
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

from sidecar.dashboard.recorder import DIMENSIONS, SavingsRecorder
from sidecar.keys import health_document
from sidecar.telemetry.middleware import TELEMETRY

Doc = dict[str, object]

# (section, field, metric name, help): a number in /sidecar/health -> one counter.
COUNTERS: tuple[tuple[str, str, str, str], ...] = (
    ("proxy", "requests_total", "sidecar_requests", "Requests received"),
    ("proxy", "upstream_requests", "sidecar_upstream_requests", "Requests sent to the upstream"),
    ("proxy", "pruned_requests", "sidecar_pruned_requests", "Requests sent upstream with pruned tool output"),
    ("proxy", "tokens_saved_total", "sidecar_tokens_saved", "Input tokens kept out of upstream requests"),
    ("middleware", "requests_seen", "sidecar_chat_requests", "Chat requests seen by the pruning middleware"),
    ("middleware", "requests_pruned", "sidecar_chat_requests_pruned", "Chat requests rewritten"),
    ("middleware", "segments_seen", "sidecar_segments", "Prunable segments seen"),
    ("middleware", "segments_pruned", "sidecar_segments_pruned", "Segments rewritten"),
    ("middleware", "segments_late", "sidecar_segments_late", "Segments not pruned by the deadline"),
    ("middleware", "tokens_before_total", "sidecar_segment_tokens", "Tokens of the segments seen"),
    (
        "middleware",
        "tokens_saved_total",
        "sidecar_segment_tokens_saved",
        "Tokens saved in rewritten segments",
    ),
    ("pruning", "calls_total", "sidecar_prune_calls", "Pruning calls, cache hits included"),
    ("pruning", "calls_deepinfra", "sidecar_prune_calls_deepinfra", "Pruning calls with DeepInfra selected"),
    (
        "pruning",
        "fallbacks_deepinfra",
        "sidecar_prune_fallbacks_deepinfra",
        "DeepInfra calls served by the heuristic",
    ),
    ("pruning", "cost_estimated_total_usd", "sidecar_prune_cost_usd", "Estimated reranker cost"),
    ("pruning", "tokens_before_total", "sidecar_prune_tokens_before", "Tokens before pruning, every call"),
    ("pruning", "tokens_saved_total", "sidecar_prune_tokens_saved", "Tokens saved, every call"),
    ("pruning", "cache_hits", "sidecar_prune_cache_hits", "Pruning calls served from the cache"),
    ("pruning", "cache_misses", "sidecar_prune_cache_misses", "Pruning calls that ran a backend"),
    ("pruning", "redis_errors", "sidecar_redis_errors", "Failed Redis operations"),
    ("mcp", "requests_total", "sidecar_mcp_requests", "Requests to /sidecar/mcp"),
    ("mcp", "refused_total", "sidecar_mcp_refused", "Requests to /sidecar/mcp refused"),
    ("routing", "strip_tokens_saved", "sidecar_strip_tokens_saved", "Tokens saved by prompt stripping"),
    ("savings", "requests", "sidecar_savings_requests", "Chat requests with segments (dashboard)"),
    ("savings", "segments_pruned", "sidecar_savings_segments_pruned", "Segments rewritten (dashboard)"),
    ("savings", "tokens_saved", "sidecar_savings_tokens_saved", "Tokens saved (dashboard)"),
    (
        "savings",
        "tokens_saved_on_repeats",
        "sidecar_savings_tokens_saved_on_repeats",
        "Tokens saved on repeats",
    ),
    (
        "savings",
        "tokens_saved_unpriced",
        "sidecar_savings_tokens_saved_unpriced",
        "Tokens saved, model unpriced",
    ),
    ("savings", "usd_saved_raw", "sidecar_savings_usd_raw", "Money saved, every token at the input price"),
    (
        "savings",
        "usd_saved_cache_aware",
        "sidecar_savings_usd_cache_aware",
        "Money saved, repeats as cached reads",
    ),
)
# (section, field, metric name, help): a number or a flag in /sidecar/health -> one gauge.
GAUGES: tuple[tuple[str, str, str, str], ...] = (
    ("proxy", "uptime_s", "sidecar_uptime_seconds", "Seconds since start-up"),
    ("proxy", "ready", "sidecar_ready", "1 when ready to serve"),
    ("proxy", "draining", "sidecar_draining", "1 while draining for shutdown"),
    ("proxy", "requests_in_flight", "sidecar_requests_in_flight", "Requests being served"),
    ("pruning", "recover_store_entries", "sidecar_recover_store_entries", "Texts held for recover_text"),
    ("pruning", "recover_store_bytes", "sidecar_recover_store_bytes", "Bytes held for recover_text"),
    (
        "pruning",
        "deepinfra_circuit_open",
        "sidecar_deepinfra_circuit_open",
        "1 while DeepInfra is not called",
    ),
    ("pruning", "redis_fallback_active", "sidecar_redis_fallback_active", "1 while Redis is skipped"),
    ("mcp", "sessions", "sidecar_mcp_sessions", "Open MCP sessions"),
)
# (section, field, metric name, label, help): a dict in /sidecar/health -> one labelled counter.
LABELLED: tuple[tuple[str, str, str, str, str], ...] = (
    ("proxy", "upstream_errors", "sidecar_upstream_errors", "error_type", "Upstream failures"),
    ("proxy", "upstream_status", "sidecar_upstream_responses", "status_class", "Upstream responses"),
    ("proxy", "requests_rejected", "sidecar_requests_rejected", "reason", "Requests refused by the sidecar"),
    ("middleware", "requests_skipped", "sidecar_chat_requests_skipped", "reason", "Chat requests not pruned"),
    (
        "middleware",
        "requests_failed_open",
        "sidecar_chat_requests_failed_open",
        "reason",
        "Chat requests failed open",
    ),
    ("routing", "routed", "sidecar_routed_requests", "mode", "Requests routed by execution mode"),
    ("routing", "rejected", "sidecar_routing_rejected", "reason", "Requests refused by routing"),
    ("routing", "audits", "sidecar_audits", "verdict", "DOUBLE-CHECK audits"),
    ("routing", "transforms_failed", "sidecar_routing_transforms_failed", "transform", "Transforms skipped"),
)
PROVIDER_GAUGES = ("max_concurrent", "in_flight", "queued", "peak_in_flight")
PROVIDER_COUNTERS = ("requests", "retries", "queue_timeouts")
_UNITS = {"s": "_seconds", "By": "_bytes", "USD": "_usd", "{token}": "_tokens"}


def health_doc(app: web.Application) -> Doc:
    """Return /sidecar/health's document (the same sections, read now)."""
    return health_document(app)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None


def _section(doc: Doc, name: str) -> dict[str, object]:
    found = doc.get(name)
    return found if isinstance(found, dict) else {}


BreakdownRow = tuple[tuple[str, ...], int, int, int, float, float]  # key, saved, before, pruned, usd x2


class Snapshot:
    """Everything a scrape reports, copied on the event loop (cheap), so encoding can run in a thread."""

    __slots__ = ("doc", "breakdown", "histograms")

    def __init__(self, app: web.Application, recorder: SavingsRecorder) -> None:
        self.doc = health_doc(app)
        self.breakdown: list[BreakdownRow] = [
            (key, s.tokens_saved, s.tokens_before, s.segments_pruned, s.usd_raw, s.usd_cache_aware)
            for key, s in recorder.series.items()
        ]
        self.histograms = [recorder.added.metric(0)]
        telemetry = app.get(TELEMETRY)
        if telemetry is not None and telemetry.enabled:
            self.histograms.extend(telemetry.genai.metrics())


class SidecarCollector:
    """Turns one snapshot into Prometheus metric families (a prometheus_client custom collector)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        """Yield every metric family of the snapshot."""
        doc = self._snapshot.doc
        yield from self._health(doc)
        yield from self._providers(_section(doc, "routing"))
        pruning = _section(doc, "pruning")
        if pruning:
            info = GaugeMetricFamily(
                "sidecar_prune_backend",
                "Pruning backend in use (value 1)",
                labels=["backend", "cache_backend"],
            )
            info.add_metric([str(pruning.get("backend", "")), str(pruning.get("cache_backend", ""))], 1.0)
            yield info
        middleware = _section(doc, "middleware")
        if middleware:
            recent = GaugeMetricFamily(
                "sidecar_prune_added_recent_ms",
                "Time pruning added, percentile over the last 1024 chat requests with segments",
                labels=["quantile"],
            )
            for quantile, field in (("0.5", "added_ms_p50"), ("0.99", "added_ms_p99")):
                value = _number(middleware.get(field))
                if value is not None:
                    recent.add_metric([quantile], value)
            yield recent
        yield from self._breakdown()
        yield from self._histograms()

    def _health(self, doc: Doc) -> Iterator[Metric]:
        for section, field, name, help_text in COUNTERS:
            value = _number(_section(doc, section).get(field))
            if value is not None:
                yield CounterMetricFamily(name, help_text, value=value)
        for section, field, name, help_text in GAUGES:
            value = _number(_section(doc, section).get(field))
            if value is not None:
                yield GaugeMetricFamily(name, help_text, value=value)
        for section, field, name, label, help_text in LABELLED:
            table = _section(doc, section).get(field)
            if not isinstance(table, dict):
                continue
            family = CounterMetricFamily(name, help_text, labels=[label])
            for key, count in sorted(table.items()):
                value = _number(count)
                if value is not None:
                    family.add_metric([str(key)], value)
            yield family

    def _providers(self, routing: dict[str, object]) -> Iterator[Metric]:
        providers = routing.get("providers")
        if not isinstance(providers, dict) or not providers:
            return
        gauges = {
            f: GaugeMetricFamily(f"sidecar_provider_{f}", f"Provider {f}", labels=["provider"])
            for f in PROVIDER_GAUGES
        }
        counters = {
            f: CounterMetricFamily(f"sidecar_provider_{f}", f"Provider {f}", labels=["provider"])
            for f in PROVIDER_COUNTERS
        }
        status = CounterMetricFamily(
            "sidecar_provider_responses", "Provider responses", labels=["provider", "status_class"]
        )
        for provider, fields in sorted(providers.items()):
            if not isinstance(fields, dict):
                continue
            for field, gauge in gauges.items():
                value = _number(fields.get(field))
                if value is not None:
                    gauge.add_metric([str(provider)], value)
            for field, counter in counters.items():
                value = _number(fields.get(field))
                if value is not None:
                    counter.add_metric([str(provider)], value)
            statuses = fields.get("upstream_status")
            if isinstance(statuses, dict):
                for code, count in sorted(statuses.items()):
                    value = _number(count)
                    if value is not None:
                        status.add_metric([str(provider), str(code)], value)
        yield from gauges.values()
        yield from counters.values()
        yield status

    def _breakdown(self) -> Iterator[Metric]:
        labels = list(DIMENSIONS)
        saved = CounterMetricFamily("sidecar_saved_tokens", "Tokens saved, by label", labels=labels)
        seen = CounterMetricFamily(
            "sidecar_prunable_tokens", "Tokens of segments seen, by label", labels=labels
        )
        pruned = CounterMetricFamily("sidecar_pruned_segments", "Segments rewritten, by label", labels=labels)
        usd = CounterMetricFamily("sidecar_saved_usd", "Money saved, by label", labels=[*labels, "estimate"])
        for key, tokens_saved, tokens_before, segments_pruned, usd_raw, usd_cached in sorted(
            self._snapshot.breakdown
        ):
            values = list(key)
            saved.add_metric(values, tokens_saved)
            seen.add_metric(values, tokens_before)
            pruned.add_metric(values, segments_pruned)
            usd.add_metric([*values, "raw"], usd_raw)
            usd.add_metric([*values, "cache_aware"], usd_cached)
        yield from (saved, seen, pruned, usd)

    def _histograms(self) -> Iterator[Metric]:
        for metric in self._snapshot.histograms:
            if metric is not None:
                family = histogram_family(metric)
                if family is not None:
                    yield family


def prometheus_name(name: str, unit: str) -> str:
    """Return the Prometheus name of an OpenTelemetry metric (dots to underscores, the unit as a suffix)."""
    base = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    suffix = _UNITS.get(unit, "")
    return base if not suffix or base.endswith(suffix) else base + suffix


def histogram_family(metric: OtelMetric) -> HistogramMetricFamily | None:
    """Convert a locally aggregated OpenTelemetry histogram into a Prometheus one (cumulative buckets)."""
    data = metric.data
    if not isinstance(data, Histogram) or not data.data_points:
        return None
    keys = sorted({k for p in data.data_points for k in p.attributes or {}})
    family = HistogramMetricFamily(
        prometheus_name(metric.name, metric.unit or ""),
        metric.description or metric.name,
        labels=[prometheus_name(k, "") for k in keys],
    )
    for point in data.data_points:
        cumulative, buckets = 0, []
        for bound, count in zip((*point.explicit_bounds, float("inf")), point.bucket_counts, strict=True):
            cumulative += count
            buckets.append((_go_float(bound), float(cumulative)))
        attributes = point.attributes or {}
        values = [_label_value(attributes.get(k)) for k in keys]
        family.add_metric(values, buckets, point.sum)
    return family


def _go_float(bound: float) -> str:
    """Format a bucket bound as Prometheus does (``+Inf``, ``0.5``, ``1.0``)."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


def _label_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def encode(snapshot: Snapshot, accept: str) -> tuple[bytes, str]:
    """Return the exposition of ``snapshot`` and its Content-Type, for a scraper's Accept header."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SidecarCollector(snapshot))
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


class MetricsEndpoint:
    """Renders one app's figures in the format the scraper asks for."""

    def __init__(self, app: web.Application, recorder: SavingsRecorder) -> None:
        self._app, self._recorder = app, recorder

    async def render(self, accept: str) -> tuple[bytes, str]:
        """Snapshot on the event loop, encode in a worker thread (a full breakdown takes milliseconds)."""
        return await asyncio.to_thread(encode, Snapshot(self._app, self._recorder), accept)
