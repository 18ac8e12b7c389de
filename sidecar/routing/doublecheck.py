"""DOUBLE-CHECK: the executor answers, a second provider audits the answer, the client gets both.

Not streamed: the executor's JSON comes back with one more top-level field, ``sidecar_audit``
(every other field byte for byte as the executor sent it), and an ``X-Sidecar-Audit`` header with the
compact verdict: ``pass``, ``fail; issues=2``, ``unknown``, ``error; reason=status_503``, or
``skipped; reason=executor_status_500`` (the executor failed: its answer is relayed as is, unaudited).

Streamed: the executor's events are relayed as they arrive (no added latency to the first token); the
final ``data: [DONE]`` is held back while the auditor runs, then one more chunk is sent,
``{"object": "chat.completion.chunk", "choices": [], "sidecar_audit": {...}}``, and ``[DONE]``. The
header is ``X-Sidecar-Audit: in-stream`` since the verdict is not known when headers are sent.
The audit never fails the request: an auditor error is reported as ``verdict: "error"``.
"""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import msgspec
from aiohttp import web

from sidecar.chat.body import ChatBody
from sidecar.config import RoutingConfig
from sidecar.errors import RoutingError, UpstreamError
from sidecar.jsontypes import DECODE_ERRORS, JsonValue
from sidecar.keys import STATS
from sidecar.proxy.forward import ExchangeObserver, finish_observers, relay_closing, response_headers
from sidecar.routing.limiter import Destination, Sent, send

AUDIT_TIMEOUT_S = 120.0
MAX_REQUEST_CHARS = 20_000  # of the client's request quoted to the auditor
MAX_ANSWER_CHARS = 60_000  # of the executor's answer quoted to the auditor
AUDIT_PROMPT = (
    "You audit another model's answer to a coding request. Check that it does what was asked and look "
    "for bugs, unsafe code and missing cases. Reply with one JSON object only: "
    '{"verdict": "pass" or "fail", "issues": [short strings], "summary": "one sentence"}.'
)
_DROP_ON_REWRITE = frozenset({"content-length", "content-encoding", "transfer-encoding"})


class Audit(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The ``sidecar_audit`` extension field."""

    verdict: str  # pass | fail | unknown | error
    auditor: str  # provider:model
    issues: list[str] = msgspec.field(default_factory=list)
    summary: str = ""
    reason: str | None = None  # why the verdict is "error"
    attempts: int = 0
    latency_ms: float = 0.0
    usage: msgspec.Raw | None = None

    def header(self) -> str:
        """The compact ``X-Sidecar-Audit`` value."""
        if self.reason:
            return f"{self.verdict}; reason={self.reason}"
        if self.verdict == "fail":
            return f"fail; issues={len(self.issues)}"
        return self.verdict


class _Message(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    message: _Message | None = None
    delta: _Message | None = None


class _Completion(msgspec.Struct):
    choices: list[_Choice] = msgspec.field(default_factory=list)
    usage: msgspec.Raw = msgspec.Raw()  # empty when absent (msgspec has no optional Raw)
    id: str | None = None
    model: str | None = None
    created: int | None = None


_decode_completion = msgspec.json.Decoder(_Completion)
_decode_verdict = msgspec.json.Decoder(dict[str, object])


def answer_text(raw: bytes) -> str | None:
    """Return the first choice's message text of a chat completion, None when there is none."""
    try:
        doc = _decode_completion.decode(raw)
    except DECODE_ERRORS:
        return None
    if not doc.choices or doc.choices[0].message is None:
        return None
    return doc.choices[0].message.content


def parse_verdict(text: str, auditor: str) -> Audit:
    """Read the auditor's reply: JSON when it gave JSON, else the first pass/fail word, else unknown."""
    body = re.sub(r"^\s*```\w*\s*|\s*```\s*$", "", text)
    try:
        doc = _decode_verdict.decode(body.encode())
    except DECODE_ERRORS:
        word = re.search(r"\b(pass|fail)(?:ed|es|s)?\b", text, re.IGNORECASE)
        verdict = word.group(1).lower() if word else "unknown"
        return Audit(verdict=verdict, auditor=auditor, summary=text.strip()[:500])
    raw_verdict = doc.get("verdict")
    verdict = raw_verdict.strip().lower() if isinstance(raw_verdict, str) else "unknown"
    if verdict not in ("pass", "fail"):
        verdict = "unknown"
    raw_issues = doc.get("issues")
    issues = (
        [i if isinstance(i, str) else msgspec.json.encode(i).decode() for i in raw_issues]
        if isinstance(raw_issues, list)
        else []
    )
    summary = doc.get("summary")
    return Audit(
        verdict=verdict, auditor=auditor, issues=issues, summary=summary if isinstance(summary, str) else ""
    )


def audit_body(auditor: Destination, request_text: str, answer: str) -> bytes:
    """Build the auditor's chat request."""
    user = f"REQUEST:\n{request_text[-MAX_REQUEST_CHARS:]}\n\nANSWER TO AUDIT:\n{answer[:MAX_ANSWER_CHARS]}"
    doc: dict[str, JsonValue] = {
        "model": auditor.model,
        "messages": [{"role": "system", "content": AUDIT_PROMPT}, {"role": "user", "content": user}],
        "temperature": 0,
        "stream": False,
    }
    if auditor.supports_json_format:
        doc["response_format"] = {"type": "json_object"}
    return msgspec.json.encode(doc)


async def run_audit(
    session: aiohttp.ClientSession,
    auditor: Destination,
    policy: RoutingConfig,
    request_text: str,
    answer: str,
) -> Audit:
    """Ask the auditor about ``answer``; never raises (failures are ``verdict: "error"``)."""
    started = time.monotonic()
    sent: Sent | None = None

    def error(reason: str, attempts: int = 0) -> Audit:
        elapsed = round((time.monotonic() - started) * 1000, 1)
        return Audit(
            verdict="error", auditor=auditor.label, reason=reason, attempts=attempts, latency_ms=elapsed
        )

    try:
        async with asyncio.timeout(AUDIT_TIMEOUT_S):
            sent = await send(
                auditor.limiter,
                session,
                auditor.url,
                auditor.headers,
                audit_body(auditor, request_text, answer),
                policy,
            )
            raw = await sent.response.read()
    except RoutingError as exc:
        return error("queue_timeout" if exc.status == 429 else "routing_error")
    except UpstreamError as exc:
        return error(exc.code)
    except (TimeoutError, aiohttp.ClientError) as exc:
        return error("timeout" if isinstance(exc, TimeoutError) else "upstream_error")
    finally:
        if sent is not None:
            sent.close()
    assert sent is not None
    if not 200 <= sent.response.status < 300:
        return error(f"status_{sent.response.status}", sent.attempts)
    text = answer_text(raw)
    if text is None:
        return error("invalid_response", sent.attempts)
    try:
        found = _decode_completion.decode(raw).usage
        usage = found if len(found) else None
    except DECODE_ERRORS:
        usage = None
    verdict = parse_verdict(text, auditor.label)
    return msgspec.structs.replace(
        verdict,
        attempts=sent.attempts,
        latency_ms=round((time.monotonic() - started) * 1000, 1),
        usage=usage,
    )


def _headers(upstream: aiohttp.ClientResponse, extra: dict[str, str]) -> dict[str, str]:
    out = {k: v for k, v in response_headers(upstream.headers).items() if k.lower() not in _DROP_ON_REWRITE}
    out.update(extra)
    return out


async def respond_json(
    request: web.Request,
    sent: Sent,
    session: aiohttp.ClientSession,
    auditor: Destination,
    policy: RoutingConfig,
    request_text: str,
    extra: dict[str, str],
    observers: list[ExchangeObserver],
) -> web.StreamResponse:
    """Read the executor's whole answer, audit it, answer with ``sidecar_audit`` attached."""
    upstream = sent.response
    for observer in observers:
        observer.response_started(upstream.status, upstream.headers)
    try:
        raw = await upstream.read()
    except BaseException as exc:
        finish_observers(observers, type(exc).__name__)
        raise
    finally:
        sent.close()  # the executor's slot is free before the audit starts
    for observer in observers:
        observer.chunk(raw)
    finish_observers(observers, None)
    headers = _headers(upstream, extra)
    answer = answer_text(raw)
    body = ChatBody.parse(raw)
    if answer is None or body is None:
        headers["X-Sidecar-Audit"] = "skipped; reason=no_answer"
        return web.Response(status=upstream.status, body=raw, headers=headers)
    audit = await run_audit(session, auditor, policy, request_text, answer)
    body.set_raw("sidecar_audit", msgspec.json.encode(audit))
    headers["X-Sidecar-Audit"] = audit.header()
    return web.Response(status=upstream.status, body=body.encode(), headers=headers)


async def respond_checked(
    request: web.Request,
    sent: Sent,
    session: aiohttp.ClientSession,
    auditor: Destination,
    policy: RoutingConfig,
    request_text: str,
    extra: dict[str, str],
    observers: list[ExchangeObserver],
    stream: bool,
) -> web.StreamResponse:
    """Answer with the executor's response and its audit: streamed live if it streams, else in its JSON."""
    streaming = stream and sent.response.headers.get("Content-Type", "").startswith("text/event-stream")
    respond = respond_stream if streaming else respond_json
    return await respond(request, sent, session, auditor, policy, request_text, extra, observers)


class SseTap:
    """Watches an OpenAI chat stream as it is relayed: collects the answer text, holds back ``[DONE]``."""

    _EVENT_END = re.compile(rb"\r?\n\r?\n")

    def __init__(self) -> None:
        self._buffer = b""
        self.parts: list[str] = []
        self.done = False
        self.meta = _Completion()

    def feed(self, chunk: bytes) -> bytes:
        """Take upstream bytes; return the complete events to relay now."""
        self._buffer += chunk
        out: list[bytes] = []
        while match := self._EVENT_END.search(self._buffer):
            event, self._buffer = self._buffer[: match.end()], self._buffer[match.end() :]
            if self._look(event):
                out.append(event)
        return b"".join(out)

    def rest(self) -> bytes:
        """Return what is left unterminated at the end of the stream."""
        rest, self._buffer = self._buffer, b""
        return rest if rest.strip() and self._look(rest) else b""

    def text(self) -> str:
        return "".join(self.parts)

    def audit_event(self, audit: Audit) -> bytes:
        """The extra chunk that carries the audit."""
        chunk = {
            "id": self.meta.id or "sidecar-audit",
            "object": "chat.completion.chunk",
            "created": self.meta.created or int(time.time()),
            "model": self.meta.model or "",
            "choices": [],
        }
        encoded = msgspec.json.encode(chunk)[:-1] + b',"sidecar_audit":' + msgspec.json.encode(audit) + b"}"
        return b"data: " + encoded + b"\n\n"

    def _look(self, event: bytes) -> bool:
        """Record what the event says; False for the ``[DONE]`` event, which is held back."""
        data = b"".join(line[5:].lstrip() for line in event.splitlines() if line.startswith(b"data:"))
        if data.strip() == b"[DONE]":
            self.done = True
            return False
        if not data:
            return True
        try:
            doc = _decode_completion.decode(data)
        except DECODE_ERRORS:
            return True
        if self.meta.id is None and doc.id is not None:
            self.meta = _Completion(id=doc.id, model=doc.model, created=doc.created)
        for choice in doc.choices[:1]:
            if choice.delta is not None and choice.delta.content:
                self.parts.append(choice.delta.content)
        return True


class _AuditedStream:
    """The executor's stream as relayed: events pass as they come, ``[DONE]`` waits for the audit."""

    def __init__(
        self,
        sent: Sent,
        session: aiohttp.ClientSession,
        auditor: Destination,
        policy: RoutingConfig,
        request_text: str,
    ) -> None:
        self.tap = SseTap()
        self._sent, self._session, self._auditor = sent, session, auditor
        self._policy, self._request_text = policy, request_text

    def feed(self, chunk: bytes) -> bytes:
        return self.tap.feed(chunk)

    async def finish(self, out: web.StreamResponse) -> None:
        rest = self.tap.rest()
        if rest:
            await out.write(rest)
        self._sent.close()  # the executor's slot is free before the audit starts
        await out.write(b": sidecar audit running\n\n")  # an SSE comment: keeps idle-timeout proxies calm
        audit = await run_audit(
            self._session, self._auditor, self._policy, self._request_text, self.tap.text()
        )
        await out.write(self.tap.audit_event(audit))
        if self.tap.done:
            await out.write(b"data: [DONE]\n\n")


async def respond_stream(
    request: web.Request,
    sent: Sent,
    session: aiohttp.ClientSession,
    auditor: Destination,
    policy: RoutingConfig,
    request_text: str,
    extra: dict[str, str],
    observers: list[ExchangeObserver],
) -> web.StreamResponse:
    """Relay the executor's stream live (the proxy's relay), then the audit as a chunk before ``[DONE]``."""
    upstream = sent.response
    headers = dict(extra)
    headers["X-Sidecar-Audit"] = "in-stream"
    editor = _AuditedStream(sent, session, auditor, policy, request_text)
    try:
        return await relay_closing(request, upstream, request.app[STATS], headers, observers, editor)
    finally:
        sent.close()
