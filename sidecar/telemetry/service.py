"""The telemetry service: one TracerProvider and one MeterProvider, the tracer and the instruments.

    Telemetry(settings)   enabled only when an exporter is configured (OTLP grpc | http/protobuf, or an
                          in-memory one in tests); otherwise the tracer and meter stay no-ops
      start()             creates the providers once and routes the global tracer provider here
                          (sidecar.telemetry.tracing); the metric exporter merges the local histograms
                          (sidecar.telemetry.metrics)
      aclose()            flushes and shuts the providers down, bounded: an unreachable collector never
                          holds up the exit
      health()            the telemetry section of /sidecar/health: where data goes, not the data
      observe_prune/_proxy  the Pruner's observer and the proxy counters, so metrics and
                          /sidecar/health count the same calls (the README gives the mapping)

The request path (sampling first, the SERVER span) and the installer that wires this service into the
app are in sidecar.telemetry.middleware.

Privacy: attributes are metadata only (methods, paths without query, statuses, token counts, model names,
timings). Bodies, queries, header values other than traceparent and exception messages are never recorded.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import msgspec
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

from sidecar import __version__
from sidecar.stats import ProxyStats
from sidecar.telemetry.export import metric_exporter, run_bounded, span_exporter
from sidecar.telemetry.metrics import GenAIMetrics, PruneTotals, WithLocalHistograms, register_proxy_counters
from sidecar.telemetry.settings import TelemetrySettings
from sidecar.telemetry.tracing import NOOP_TRACER, ROUTER, PresetIds, SamplingFirst, route_global

if TYPE_CHECKING:
    from sidecar.pruning.types import PruneOutcome

__all__ = ["Telemetry", "TelemetryHealth"]

log = logging.getLogger("sidecar.telemetry")


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
