"""OpenTelemetry: spans and metrics over OTLP, metadata only, off unless an endpoint is configured.

settings    TelemetrySettings from the OTEL_* variables (an invalid value is a ConfigError)
tracing     sampling decided first from traceparent alone; span ids; the tracer provider
service     Telemetry: the providers, tracer and instruments; their start, bounded shutdown and health
middleware  sampling first, then the SERVER span or only the metrics; install_telemetry
genai       the upstream exchange as the GenAI conventions see it: CLIENT span, usage, metrics
metrics     local aggregates and the exporter that merges them; pruning totals, proxy counters
"""

from sidecar.telemetry.middleware import install_telemetry

__all__ = ["install_telemetry"]
