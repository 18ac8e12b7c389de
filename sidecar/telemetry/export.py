"""OTLP export: the exporters for each signal, and shutting them down within a bound.

    span_exporter(export), metric_exporter(export)   OTLP over gRPC or HTTP/protobuf (gRPC imported on use)
    run_bounded(fn, timeout_s)                         a blocking flush or shutdown on a daemon thread

An exporter retries for its whole timeout (10 s by default) when the collector is unreachable, and the
SDK's shutdown waits for it: at exit that held the process for 12 s with the collector down. The
flush and shutdown therefore run on a daemon thread that the caller waits for at most ``timeout_s``;
past it the thread is left behind, and being a daemon it never holds up the process's exit.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter

from sidecar.telemetry.settings import Export

__all__ = ["metric_exporter", "run_bounded", "span_exporter"]

log = logging.getLogger("sidecar.telemetry")


async def run_bounded(fn: Callable[[], None], timeout_s: float) -> bool:
    """Run blocking ``fn`` on a daemon thread; return whether it finished within ``timeout_s``."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(None)

    def target() -> None:
        error: BaseException | None = None
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - reported to the awaiting side
            error = exc
        try:
            loop.call_soon_threadsafe(settle, error)
        except RuntimeError:  # the loop closed meanwhile: nobody is waiting any more
            pass

    threading.Thread(target=target, name="sidecar-telemetry-flush", daemon=True).start()
    try:
        async with asyncio.timeout(timeout_s):
            await asyncio.shield(done)
    except TimeoutError:
        return False
    except Exception as exc:  # noqa: BLE001 - a failed flush must not fail the shutdown
        log.warning("telemetry: shutdown failed: %s", type(exc).__name__)
    return True


def span_exporter(export: Export) -> SpanExporter:
    """Return the OTLP span exporter for ``export``'s protocol and endpoint."""
    # Imported on use: the gRPC stack is heavy and only one protocol is ever needed.
    if export.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans

        return GrpcSpans(endpoint=export.endpoint, insecure=export.endpoint.startswith("http://"))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans

    return HttpSpans(endpoint=export.endpoint)


def metric_exporter(export: Export) -> MetricExporter:
    """Return the OTLP metric exporter for ``export``'s protocol and endpoint."""
    if export.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics

        return GrpcMetrics(endpoint=export.endpoint, insecure=export.endpoint.startswith("http://"))
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics

    return HttpMetrics(endpoint=export.endpoint)
