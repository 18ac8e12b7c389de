"""Telemetry settings from the standard ``OTEL_*`` variables, validated once at start-up.

An invalid value is a ConfigError naming the variable; an endpoint URL is never echoed (it may carry
credentials). No endpoint, or OTEL_SDK_DISABLED=true, means telemetry is off and costs nothing.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

import msgspec

from sidecar.errors import ConfigError

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
    if proto == "grpc" and importlib.util.find_spec("opentelemetry.exporter.otlp.proto.grpc") is None:
        name = (
            f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"
            if env.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
            else "OTEL_EXPORTER_OTLP_PROTOCOL"
        )
        raise ConfigError(f"{name}: grpc needs the gRPC exporter: pip install 'sidecar[grpc]'")
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
