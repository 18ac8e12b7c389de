"""The upstream chat exchange as the OpenTelemetry GenAI conventions see it: metrics, and a client span.

    GenAIObserver(metrics, request, forward, provider, start_span=None)
      told by the proxy about the upstream exchange (sidecar.proxy.ExchangeObserver); records
      gen_ai.client.operation.duration, gen_ai.client.token.usage and the time to first byte of a stream
      for every chat request; when ``start_span`` is given (the request is sampled) it also opens the
      CLIENT span ``chat {model}`` and sets the usage read from the answer on it.

Usage is read from the answer as it streams: only SSE lines containing ``"usage"`` are decoded (OpenAI's
usage chunk, Anthropic's message_start and message_delta, the Responses API's response.completed); nothing
is buffered but the current partial line. A JSON answer is kept (by reference when it arrives in one
piece, up to 1 MiB) and decoded once at the end; any other body costs one comparison per chunk.

Privacy: the attributes are model names, provider, host, port, status and token counts; never text.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

import msgspec
from aiohttp import web
from multidict import CIMultiDictProxy
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from sidecar.jsontypes import DECODE_ERRORS
from sidecar.proxy.forward import BODY_CACHE, Forward
from sidecar.telemetry.metrics import ExchangeSeries, GenAIMetrics

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
_MAX_JSON_BODY = 1 << 20  # non-streaming answers above this are not parsed for usage
_MAX_SSE_LINE = 1 << 20
# Opens the client span (name, attributes); the caller owns its parent and its reserved span id.
StartSpan = Callable[[str, dict[str, str | int]], trace.Span]


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
    response: _Message | None = None  # OpenAI Responses response.completed (its input_tokens include cached)


class _ChatRequest(msgspec.Struct, frozen=True):
    model: str | None = None


_event_decoder = msgspec.json.Decoder(_Event)
_request_decoder = msgspec.json.Decoder(_ChatRequest)
_NONE, _SSE, _JSON = 0, 1, 2


class GenAIObserver:
    """Turn one upstream chat exchange into the gen_ai.client.* metrics and, when traced, a CLIENT span."""

    __slots__ = (
        "_metrics", "_request", "_forward", "_path_provider", "_start_span", "_span", "_active", "_started",
        "_status", "_mode", "_pending", "_body", "_first", "_series", "_input", "_output", "_response_model",
    )  # fmt: skip

    def __init__(
        self,
        metrics: GenAIMetrics,
        request: web.Request,
        forward: Forward,
        provider: str,
        start_span: StartSpan | None = None,
    ) -> None:
        # Released by close(): the request holds its Forward, which holds this observer (a cycle that
        # would leave every request's objects to the cyclic GC).
        self._request: web.Request | None = request
        self._forward: Forward | None = forward
        self._metrics = metrics
        self._path_provider, self._start_span = provider, start_span
        self._span: trace.Span | None = None
        self._active = False  # an exchange started and did not finish
        self._started = 0.0
        self._status = 0
        self._mode = _NONE
        self._pending = b""
        self._body: bytes | bytearray | None = None
        self._first = True
        self._series: ExchangeSeries | None = None
        self._input: int | None = None
        self._output: int | None = None
        self._response_model: str | None = None

    @property
    def traced(self) -> bool:
        """Whether this exchange gets a client span."""
        return self._start_span is not None

    def upstream_started(self, method: str, url: str) -> None:
        if self._active:
            self._end("retried")  # the proxy tried again: the first attempt ends here
        request, forward = self._request, self._forward
        if request is None or forward is None:
            return  # closed: the request is over
        model = request_model(forward.body if forward.body is not None else request.get(BODY_CACHE))
        host, port, by_host = origin(url)
        self._series = series = self._metrics.exchange(by_host or self._path_provider, host, model)
        if self._start_span is not None:
            attributes: dict[str, str | int] = dict(series.key)
            if port is not None:
                attributes["server.port"] = port
            self._span = self._start_span(f"chat {model}" if model else "chat", attributes)
        self._active = True
        self._started = time.perf_counter()
        self._first, self._mode, self._pending, self._body = True, _NONE, b"", None
        self._input = self._output = self._response_model = None

    def response_started(self, status: int, headers: CIMultiDictProxy[str]) -> None:
        self._status = status
        encoding = headers.get("Content-Encoding")
        if encoding is not None and encoding.lower() != "identity":
            return  # compressed bodies are relayed as they are, not inflated to be read
        content_type = headers.get("Content-Type", "")
        if content_type.startswith("text/event-stream"):
            self._mode = _SSE
        elif "json" in content_type:
            self._mode = _JSON

    def chunk(self, data: bytes) -> None:
        mode = self._mode
        if mode == _SSE:
            if self._first:
                self._first = False
                if self._series is not None:
                    self._series.first_byte(time.perf_counter() - self._started)
            self._scan(data)
        elif mode == _JSON:
            body = self._body
            if body is None:
                self._body = data  # the usual case, one piece: kept by reference
            elif len(body) + len(data) > _MAX_JSON_BODY:
                self._mode, self._body = _NONE, None
            else:
                if isinstance(body, bytes):
                    self._body = body = bytearray(body)
                body += data

    def finished(self, error: str | None) -> None:
        body = self._body
        if body is not None:
            self._body = None
            if self._mode == _JSON and len(body) <= _MAX_JSON_BODY:
                self._apply(body)
        self._end(error)

    def close(self) -> None:
        """End an exchange the proxy never finished (the handler failed in between); drop the request."""
        if self._active:
            self._end("internal_error")
        self._request = self._forward = None
        self._start_span = None

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

    def _apply(self, payload: bytes | bytearray) -> None:
        try:
            event = _event_decoder.decode(payload)
        except DECODE_ERRORS:
            return
        message = event.message or event.response
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
        if span is not None:
            self._close_span(span, error_type)
        if self._series is not None:
            self._series.finished(
                time.perf_counter() - self._started,
                self._input,
                self._output,
                self._response_model,
                error_type,
            )

    def _close_span(self, span: trace.Span, error_type: str | None) -> None:
        if span.is_recording():
            extra: dict[str, str | int] = {}
            if self._response_model:
                extra["gen_ai.response.model"] = self._response_model
            if error_type:
                extra["error.type"] = error_type
            if self._status:
                extra["http.response.status_code"] = self._status
            if self._input is not None:
                extra["gen_ai.usage.input_tokens"] = self._input
            if self._output is not None:
                extra["gen_ai.usage.output_tokens"] = self._output
            span.set_attributes(extra)
            if error_type:
                span.set_status(StatusCode.ERROR)
        span.end()


def request_model(body: bytes | None) -> str | None:
    """Return the request body's ``model``, or None (not JSON, compressed, absent)."""
    if not body:
        return None
    try:
        return _request_decoder.decode(body).model
    except DECODE_ERRORS:
        return None  # compressed or not JSON: the span is named "chat"


_ORIGINS: dict[str, tuple[str, int | None, str | None]] = {}


def origin(url: str) -> tuple[str, int | None, str | None]:
    """Return the host, port and provider (by host) of an upstream URL, cached per origin."""
    end = url.find("/", url.find("//") + 2)
    base = url if end < 0 else url[:end]
    found = _ORIGINS.get(base)
    if found is None:
        try:
            parts = urlsplit(base)
            host, port = parts.hostname or "", parts.port
        except ValueError:
            host, port = "", None
        provider = next(
            (p for suffix, p in _HOST_PROVIDERS if host == suffix or host.endswith("." + suffix)), None
        )
        found = (host, port, provider)
        if len(_ORIGINS) < 1024:  # origins are configured upstreams: few
            _ORIGINS[base] = found
    return found
