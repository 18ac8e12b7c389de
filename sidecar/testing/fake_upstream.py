"""A fake LLM provider, as a real aiohttp server: the test double for tests, the demo and benchmarks.

It speaks OpenAI ``/v1/chat/completions`` (also ``/chat/completions``) and Anthropic ``/v1/messages``,
streaming (with the event types each provider really sends) and not. Its ``usage`` counts the tokens it
actually received (sidecar.tokens over the message texts), so pruning shows end to end. Any other path
echoes the request back as JSON. Named provider profiles are served under ``/p/{name}/...`` with their
own latency, chunk delay, concurrency capacity (429 with Retry-After above it) and token rate.

The bodies and events it writes are :mod:`sidecar.testing.fake_upstream_wire`.

Faults, chosen per request with ``X-Fake-Fault`` or queued with :meth:`FakeUpstream.inject`:
``status=429;retry-after=1`` | ``drop-mid-stream`` | ``stall`` | ``stall-mid-stream``.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import deque
from collections.abc import Callable

import msgspec
from aiohttp import web

from sidecar.jsontypes import JsonValue
from sidecar.testing.fake_upstream_wire import (
    anthropic_events,
    error_response,
    full_response,
    openai_events,
    split_text,
)
from sidecar.tokens import estimate_tokens

_NOT_CONTENT_KEYS = frozenset(
    {"role", "type", "id", "tool_call_id", "tool_use_id", "name", "model", "cache_control"}
)

DEFAULT_REPLY = (
    "Here is the change you asked for. The function now validates its input before use.\n\n"
    "```python\ndef parse_port(value: str) -> int:\n    port = int(value)\n"
    "    if not 0 < port < 65536:\n        raise ValueError(f'bad port: {port}')\n    return port\n```\n"
)


class Profile(msgspec.Struct, frozen=True, kw_only=True):
    """How one fake provider behaves."""

    latency_ms: float = 0.0  # before the response headers
    chunk_ms: float = 0.0  # between streamed chunks
    max_concurrent: int | None = None  # above this many in flight: 429 with Retry-After
    retry_after_s: float = 1.0
    tokens_per_s: float | None = None  # paces the output when set (overrides chunk_ms)


class Received(msgspec.Struct, frozen=True, kw_only=True):
    """One request as the fake saw it: raw path and query, headers in order, body bytes."""

    method: str
    path_qs: str
    headers: list[tuple[str, str]]
    body: bytes
    profile: str
    started: float


class Fault(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # status | drop-mid-stream | stall | stall-mid-stream
    status: int = 500
    retry_after: str | None = None


def parse_fault(spec: str) -> Fault | None:
    """Parse an ``X-Fake-Fault`` value; None when empty or unknown."""
    spec = spec.strip()
    if spec in ("drop-mid-stream", "stall", "stall-mid-stream"):
        return Fault(kind=spec)
    if spec.startswith("status="):
        parts = dict(p.split("=", 1) for p in spec.split(";") if "=" in p)
        try:
            return Fault(kind="status", status=int(parts["status"]), retry_after=parts.get("retry-after"))
        except ValueError:
            return None
    return None


def count_received_tokens(doc: JsonValue) -> int:
    """Sum the estimated tokens of every text the request carried in messages and system prompts."""
    if not isinstance(doc, dict):
        return 0
    total = 0
    stack: list[JsonValue] = [doc.get("messages"), doc.get("system")]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            total += estimate_tokens(node)
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(v for k, v in node.items() if k not in _NOT_CONTENT_KEYS)
    return total


ReplyFn = Callable[[JsonValue], str]


class FakeUpstream:
    """The fake provider server. ``await start()``, use ``url``, ``await stop()``."""

    def __init__(
        self,
        *,
        latency_ms: float = 0.0,
        chunk_ms: float = 0.0,
        profiles: dict[str, Profile] | None = None,
        reply: ReplyFn | None = None,
        record: bool = True,
        max_records: int = 1000,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.default = Profile(latency_ms=latency_ms, chunk_ms=chunk_ms)
        self.profiles = profiles or {}
        self.reply = reply or (lambda _doc: DEFAULT_REPLY)
        self.record = record
        self.received: deque[Received] = deque(maxlen=max_records)
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self.generated: dict[str, int] = {}  # completion tokens answered, per profile
        self.sent: deque[bytes] = deque(maxlen=max_records)  # response bodies of chat requests, as written
        self.cancelled = 0  # requests whose client went away before the answer ended
        self.chunk_sent_at: deque[float] = deque(maxlen=100_000)  # time.monotonic() of each streamed chunk
        self._faults: deque[Fault] = deque()
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None

    # lifecycle -------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        """Build the aiohttp application (also usable with the aiohttp_server fixture)."""
        app = web.Application(client_max_size=1 << 30)
        for prefix in ("", "/p/{profile}"):
            app.router.add_post(prefix + "/v1/chat/completions", self._openai)
            app.router.add_post(prefix + "/chat/completions", self._openai)
            app.router.add_post(prefix + "/v1/messages", self._anthropic)
        app.router.add_route("*", "/{tail:.*}", self._echo)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def inject(self, fault: str, times: int = 1) -> None:
        """Queue a fault for the next ``times`` chat requests (e.g. ``status=429;retry-after=1``)."""
        parsed = parse_fault(fault)
        if parsed is None:
            raise ValueError(f"unknown fault: {fault}")
        self._faults.extend([parsed] * times)

    # helpers ---------------------------------------------------------------------------------------
    async def _enter(self, request: web.Request) -> tuple[str, Profile, bytes]:
        name = request.match_info.get("profile", "")
        profile = self.profiles.get(name, self.default) if name else self.default
        try:
            body = await request.read()
        except web.RequestPayloadError:  # e.g. Content-Encoding: gzip on a body that is not: a provider's 400
            refused = web.HTTPBadRequest(text="body does not match its Content-Encoding")
            refused.force_close()  # the rest of the body is unreadable: this connection is done
            raise refused from None
        if self.record:
            self.received.append(
                Received(
                    method=request.method,
                    path_qs=request.raw_path,
                    headers=[(str(k), v) for k, v in request.headers.items()],
                    body=body,
                    profile=name,
                    started=time.monotonic(),
                )
            )
        return name, profile, body

    def _fault(self, request: web.Request) -> Fault | None:
        header = request.headers.get("X-Fake-Fault")
        if header:
            return parse_fault(header)
        return self._faults.popleft() if self._faults else None

    async def _echo(self, request: web.Request) -> web.Response:
        _, _, body = await self._enter(request)
        doc = {
            "method": request.method,
            "path_qs": request.raw_path,
            "headers": [[str(k), v] for k, v in request.headers.items()],
            "body_b64": base64.b64encode(body).decode(),
        }
        headers = {"X-Echo": "1"}
        return web.Response(body=msgspec.json.encode(doc), content_type="application/json", headers=headers)

    async def _chat(self, request: web.Request, style: str) -> web.StreamResponse:
        name, profile, body = await self._enter(request)
        self.in_flight[name] = self.in_flight.get(name, 0) + 1
        self.max_in_flight[name] = max(self.max_in_flight.get(name, 0), self.in_flight[name])
        try:
            if profile.max_concurrent is not None and self.in_flight[name] > profile.max_concurrent:
                return error_response(
                    style, 429, "rate limited", {"Retry-After": f"{profile.retry_after_s:g}"}
                )
            fault = self._fault(request)
            if fault is not None and fault.kind == "status":
                extra = {"Retry-After": fault.retry_after} if fault.retry_after else None
                return error_response(style, fault.status, "injected fault", extra)
            if fault is not None and fault.kind == "stall":
                await asyncio.Event().wait()
            try:
                doc: JsonValue = msgspec.json.decode(body)
            except (msgspec.DecodeError, RecursionError):  # msgspec's depth limit: a real provider's 400
                return error_response(style, 400, "invalid JSON body")
            if profile.latency_ms:
                await asyncio.sleep(profile.latency_ms / 1000)
            text = self.reply(doc)
            self.generated[name] = self.generated.get(name, 0) + estimate_tokens(text)
            usage_in = count_received_tokens(doc)
            model = doc.get("model", "fake-model") if isinstance(doc, dict) else "fake-model"
            stream = isinstance(doc, dict) and doc.get("stream") is True
            if not stream:
                if profile.tokens_per_s:  # a real provider answers after generating every token
                    await asyncio.sleep(estimate_tokens(text) / profile.tokens_per_s)
                payload = msgspec.json.encode(full_response(style, str(model), text, usage_in))
                if self.record:
                    self.sent.append(payload)
                return web.Response(body=payload, content_type="application/json")
            return await self._stream(request, style, str(model), text, usage_in, profile, fault)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight[name] -= 1

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        return await self._chat(request, "openai")

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        return await self._chat(request, "anthropic")

    async def _stream(
        self,
        request: web.Request,
        style: str,
        model: str,
        text: str,
        usage_in: int,
        profile: Profile,
        fault: Fault | None,
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        pieces = split_text(text, 8)
        events = (
            openai_events(model, pieces, usage_in, text)
            if style == "openai"
            else anthropic_events(model, pieces, usage_in, text)
        )
        delay = profile.chunk_ms / 1000
        if self.record:
            self.sent.append(b"".join(events))
        for i, event in enumerate(events):
            if i and fault is not None and i == len(events) // 2:
                if fault.kind == "drop-mid-stream":
                    if request.transport is not None:
                        request.transport.abort()
                    return resp
                if fault.kind == "stall-mid-stream":
                    await asyncio.Event().wait()
            if i:
                pause = delay
                if profile.tokens_per_s:
                    pause = estimate_tokens(pieces[min(i, len(pieces)) - 1]) / profile.tokens_per_s
                if pause:
                    await asyncio.sleep(pause)
            await resp.write(event)
            self.chunk_sent_at.append(time.monotonic())
        await resp.write_eof()
        return resp


VERBOSE_REPLY = (
    "Great question! Let me walk you through the change step by step, so that it is easy to follow and "
    "to review. First, we need to make sure that the input is validated before it is used anywhere else "
    "in the program, because an invalid port number would otherwise surface much later as a confusing "
    "socket error. Second, the error message should say which value was wrong.\n\n"
    "Here is the updated function:\n\n"
    "```python\ndef parse_port(value: str) -> int:\n    port = int(value)\n"
    "    if not 0 < port < 65536:\n        raise ValueError(f'bad port: {port}')\n    return port\n```\n\n"
    "How it works: `int(value)` converts the text, raising ValueError for anything that is not a number; "
    "the range check then rejects 0 and anything above 65535. You may also want to add a unit test that "
    "covers both boundaries, and to document the exception in the docstring. I hope this helps! Let me "
    "know if you have any other questions or if you would like me to adapt the code further.\n"
)
CODE_REPLY = (
    "```python\ndef parse_port(value: str) -> int:\n    port = int(value)\n"
    "    if not 0 < port < 65536:\n        raise ValueError(f'bad port: {port}')\n    return port\n```\n"
)
JSON_REPLY = (
    '{"file": "port.py", "change": "validate the port range", "code": "def parse_port(value: str) -> int:'
    "\\n    port = int(value)\\n    if not 0 < port < 65536:\\n        raise ValueError(f'bad port: {port}')"
    '\\n    return port\\n"}'
)


# Time to first byte, output speed and capacity in the range these providers publish or users measure.
PROVIDER_PROFILES: dict[str, Profile] = {
    "groq": Profile(latency_ms=150, tokens_per_s=400, max_concurrent=10),
    "deepseek": Profile(latency_ms=600, tokens_per_s=60, max_concurrent=5),
    "gemini": Profile(latency_ms=300, tokens_per_s=200, max_concurrent=10),
    "codestral": Profile(latency_ms=250, tokens_per_s=150, max_concurrent=5),
}


def _texts(doc: JsonValue, roles: tuple[str, ...]) -> str:
    if not isinstance(doc, dict):
        return ""
    out: list[str] = []
    system = doc.get("system")
    if "system" in roles and isinstance(system, str):
        out.append(system)
    messages = doc.get("messages")
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, dict) and message.get("role") in roles:
            content = message.get("content")
            if isinstance(content, str):
                out.append(content)
            elif isinstance(content, list):
                out += [str(b.get("text", "")) for b in content if isinstance(b, dict)]
    return "\n".join(out)


def routing_reply(doc: JsonValue) -> str:
    """Answer like a model that follows output instructions: verbose by default, terse when asked.

    JSON when ``response_format`` is json_object or the system prompt asks for JSON, code only when it
    says "code only" or "no prose"; an auditor's verdict (``fail`` when the answer it audits contains
    "BUG") when the system prompt asks for an audit; a planted "# BUG" when the user asks "plant-bug".
    """
    system = _texts(doc, ("system", "developer")).lower()
    user = _texts(doc, ("user",))
    if "audit" in system and "verdict" in system:
        if "BUG" in user:
            return '{"verdict": "fail", "issues": ["the answer contains a marked bug"], "summary": "not ok"}'
        return '{"verdict": "pass", "issues": [], "summary": "the answer does what was asked"}'
    fmt = doc.get("response_format") if isinstance(doc, dict) else None
    if (isinstance(fmt, dict) and fmt.get("type") == "json_object") or "json" in system:
        return JSON_REPLY
    reply = CODE_REPLY if ("code only" in system or "no prose" in system) else VERBOSE_REPLY
    return reply.replace("return port", "return port  # BUG: off by one") if "plant-bug" in user else reply
