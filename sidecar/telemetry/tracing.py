"""Tracing plumbing: the sampling decision taken before any span exists, span ids, the global provider.

    sampled, trace_id = SamplingFirst(settings).decide(parse_traceparent(request.headers.get("traceparent")))
      applies the configured sampler (parent-based or not, rate limiting shared with the SDK's sampler)
      to the agent's W3C traceparent, without the SDK; a request sampled out gets no span.
    the SDK's sampler (``DecidedSampler``) honours that decision for the server span, and decides for
    every span started outside a request (the MCP tools' ``prune`` spans) as configured.
    ``unsampled(...)`` marks the running request as sampled out: a span started in it (``prune``,
    ``deepinfra.rerank``) then continues an unsampled parent instead of opening a new trace.

The ``prune`` and ``deepinfra.rerank`` spans come from ``trace.get_tracer("sidecar")``: the process-wide
tracer provider set here routes them to the running app's provider (the last one started, when tests
start several).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import SpanKind
from opentelemetry.util._decorator import _agnosticcontextmanager
from opentelemetry.util.types import Attributes

from sidecar.telemetry.settings import TelemetrySettings

# The W3C trace-context header, as the SDK's propagator matches it (version ff and short 00 are invalid).
_TRACEPARENT = re.compile(r"^[ \t]*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?[ \t]*$")
_TRACE_ID_LIMIT = (1 << 64) - 1  # TraceIdRatioBased reads the low 64 bits
_getrandbits = random.getrandbits


def parse_traceparent(value: str | None) -> tuple[int, int, bool] | None:
    """Return (trace id, span id, sampled) of a valid W3C traceparent, else None."""
    if not value:
        return None
    match = _TRACEPARENT.match(value)
    if match is None:
        return None
    version, trace_hex, span_hex, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if not trace_id or not span_id:
        return None
    return trace_id, span_id, bool(int(flags, 16) & 1)


def traceparent(trace_id: int, span_id: int, sampled: bool) -> str:
    """Format a W3C traceparent header."""
    return f"00-{trace_id:032x}-{span_id:016x}-{'01' if sampled else '00'}"


class RateLimitingSampler(sampling.Sampler):
    """Sample at most ``per_second`` new traces a second (a token bucket, burst of one second's worth).

    Every request is traced at an agent's pace; under a load test the cost of recording and exporting
    spans stays bounded instead of halving throughput.
    """

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = per_second
        self._burst = max(1.0, per_second)
        self._tokens = self._burst
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        """Spend one token if there is one."""
        now = self._clock()
        tokens = self._tokens + (now - self._last) * self._rate
        self._last = now
        if tokens >= 1.0:
            self._tokens = min(self._burst, tokens) - 1.0
            return True
        self._tokens = tokens
        return False

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
        if self.take():
            return sampling.SamplingResult(sampling.Decision.RECORD_AND_SAMPLE, attributes, trace_state)
        return sampling.SamplingResult(sampling.Decision.DROP, None, trace_state)

    def get_description(self) -> str:
        return f"RateLimitingSampler{{{self._rate:g}/s}}"


class DecidedSampler(sampling.Sampler):
    """The configured sampler, except for a span whose sampling the middleware already decided."""

    def __init__(self, inner: sampling.Sampler) -> None:
        self.inner = inner
        self.decided = False  # set just before starting a span already decided sampled; one use

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
        if self.decided:
            self.decided = False
            parent = trace.get_current_span(parent_context).get_span_context()
            state = parent.trace_state if parent.is_valid else None
            return sampling.SamplingResult(sampling.Decision.RECORD_AND_SAMPLE, attributes, state)
        return self.inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return self.inner.get_description()


class SamplingFirst:
    """Decide a request's sampling from its traceparent alone, as the configured sampler would."""

    def __init__(self, settings: TelemetrySettings) -> None:
        name, arg = settings.sampler, settings.sampler_arg
        self.parent_based = name.startswith("parentbased_")
        self.kind = name.removeprefix("parentbased_")
        self.limiter = RateLimitingSampler(arg if self.kind == "ratelimiting" else 1.0)
        self.rate = arg
        self.bound = sampling.TraceIdRatioBased.get_bound_for_rate(arg) if self.kind == "traceidratio" else 0

    def sampler(self) -> DecidedSampler:
        """Return the SDK sampler: the same decisions, sharing the rate limiter's tokens."""
        root: sampling.Sampler
        if self.kind == "always_on":
            root = sampling.ALWAYS_ON
        elif self.kind == "always_off":
            root = sampling.ALWAYS_OFF
        elif self.kind == "ratelimiting":
            root = self.limiter
        else:
            root = sampling.TraceIdRatioBased(self.rate)
        return DecidedSampler(sampling.ParentBased(root) if self.parent_based else root)

    def decide(self, parent: tuple[int, int, bool] | None) -> tuple[bool, int]:
        """Return (sampled, trace id); the trace id is the parent's, or a new one (0: let the SDK pick)."""
        if parent is not None and self.parent_based:
            return parent[2], parent[0]
        kind = self.kind
        trace_id = parent[0] if parent is not None else 0
        if kind == "ratelimiting":
            return self.limiter.take(), trace_id
        if kind == "always_on":
            return True, trace_id
        if kind == "always_off":
            return False, trace_id
        trace_id = trace_id or new_trace_id()
        return (trace_id & _TRACE_ID_LIMIT) < self.bound, trace_id


def new_trace_id() -> int:
    """Return a random trace id (never 0)."""
    return _getrandbits(128) or 1


def new_span_id() -> int:
    """Return a random span id (never 0)."""
    return _getrandbits(64) or 1


class PresetIds(RandomIdGenerator):
    """Random ids, except the ids reserved in advance for the next span.

    The upstream request's traceparent must name the client span, but its headers are built before the
    proxy reports the exchange started; the id is reserved when the header is set and used when the
    span starts. A trace id decided by the sampler (ratio sampling) is reserved the same way. Both happen
    on the event loop thread.
    """

    def __init__(self) -> None:
        self.preset: int | None = None
        self.preset_trace: int | None = None

    def generate_span_id(self) -> int:
        preset = self.preset
        if preset is not None:
            self.preset = None
            return preset
        return super().generate_span_id()

    def generate_trace_id(self) -> int:
        preset = self.preset_trace
        if preset is not None:
            self.preset_trace = None
            return preset
        return super().generate_trace_id()


# --- requests sampled out: spans inside them continue an unsampled parent ---------------------------


class Unsampled:
    """The sampled-out request running in this context; its span context is built only if a span asks.

    A zero trace or span id is drawn then (a new trace the agent did not start).
    """

    __slots__ = ("trace_id", "span_id", "remote", "_context")

    def __init__(self, trace_id: int, span_id: int, remote: bool) -> None:
        self.trace_id, self.span_id, self.remote = trace_id, span_id, remote
        self._context: Context | None = None

    def context(self) -> Context:
        """Return a context whose current span is the request's unsampled parent."""
        if self._context is None:
            self.trace_id = self.trace_id or new_trace_id()
            self.span_id = self.span_id or new_span_id()
            parent = trace.SpanContext(
                self.trace_id, self.span_id, is_remote=self.remote, trace_flags=trace.TraceFlags(0)
            )
            self._context = trace.set_span_in_context(trace.NonRecordingSpan(parent))
        return self._context


UNSAMPLED: ContextVar[Unsampled | None] = ContextVar("sidecar_unsampled", default=None)


def _parent(context: Context | None) -> Context | None:
    if context is None:
        pending = UNSAMPLED.get()
        if pending is not None and not trace.get_current_span().get_span_context().is_valid:
            return pending.context()
    return context


# --- the process-wide tracer provider ---------------------------------------------------------------


class Router(trace.TracerProvider):
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


NOOP_TRACER = trace.NoOpTracer()


class _RoutedTracer(trace.Tracer):
    def __init__(self, router: Router, name: str, version: str | None, schema_url: str | None) -> None:
        self._router, self._name, self._version, self._schema_url = router, name, version, schema_url
        self._for: TracerProvider | None = None
        self._tracer: trace.Tracer = NOOP_TRACER

    def _current(self) -> trace.Tracer:
        active = self._router.active
        if active is None:
            return NOOP_TRACER
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
        parent = _parent(context)
        return self._current().start_span(
            name, parent, kind, attributes, links, start_time, record_exception, set_status_on_exception
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
            _parent(context),
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
            end_on_exit,
        ) as span:
            yield span


ROUTER = Router()


def route_global(provider: TracerProvider | None) -> None:
    """Make ``provider`` the one the global tracers use (unless someone else owns the global provider)."""
    current = trace.get_tracer_provider()
    if current is not ROUTER:
        if not isinstance(current, trace.ProxyTracerProvider):
            return  # someone else (auto-instrumentation) owns the global provider: leave it
        trace.set_tracer_provider(ROUTER)
    ROUTER.active = provider
