"""A scripted fake model: it drives a real agent (Claude Code, Codex CLI) through a fixed plan of tool calls.

    sidecar fake-upstream --script plan.json [--record DIR]

The script (scenarios of read, grep, run and answer steps, and each step as the agent's own tool call)
is :mod:`sidecar.testing.scripted_steps`. Every chat request is answered with the next step of its
scenario: the step after those whose tool outputs the conversation already carries (counted in the
request, plus, after ``previous_response_id``, in the stored chain). The scenario is the first whose
``match`` occurs in the conversation's user text.

Tools are looked up in ``tools`` and in Codex's ``additional_tools`` items (namespaces opened). A request
without those tools (a title or summary request) gets a short text. Usage counts the request's items;
prompt caching is played as the providers do it (:class:`~sidecar.testing.scripted_wire.PrefixCache`).
Served: ``POST /v1/messages`` (``?beta=true`` and any query accepted), ``POST /v1/messages/count_tokens``,
``POST /v1/responses``, streamed or not; ``HEAD /`` (Claude Code's reachability probe). Thinking comes
back signed and reasoning sealed (:mod:`sidecar.testing.scripted_wire`); a request carrying them altered
gets the provider's 400.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path

import msgspec
from aiohttp import web

from sidecar.jsontypes import JsonValue
from sidecar.testing.fake_upstream import Received
from sidecar.testing.scripted_steps import Script, Step, claude_call, codex_call, describe, load_script
from sidecar.testing.scripted_wire import (
    PrefixCache,
    Signer,
    ToolCall,
    Turn,
    anthropic_events,
    anthropic_message,
    responses_events,
    responses_items,
    responses_object,
)

SIDE_REPLY = "Scripted model: nothing to do for this request."
_OUTPUT_ITEMS = ("function_call_output", "custom_tool_call_output")


class ScriptedUpstream:
    """The scripted model as a real server. ``await start()``, use ``url``, ``await stop()``."""

    def __init__(
        self, script: Script, *, record_dir: Path | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.script = script
        self.record_dir = record_dir
        self.signer = Signer()
        self.cache = PrefixCache()
        self.received: deque[Received] = deque(maxlen=10_000)
        # response id -> the user text and tool outputs its conversation carried (previous_response_id)
        self.chains: dict[str, tuple[str, int]] = {}
        self.refused = 0  # requests refused for altered thinking or reasoning
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None
        if record_dir is not None:
            record_dir.mkdir(parents=True, exist_ok=True)

    def app(self) -> web.Application:
        """Build the aiohttp application."""
        app = web.Application(client_max_size=1 << 30)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_route("*", "/{tail:.*}", self._other)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- requests ---------------------------------------------------------------------------------
    async def _read(self, request: web.Request) -> tuple[bytes, dict[str, JsonValue] | None]:
        body = await request.read()
        n = len(self.received)
        self.received.append(
            Received(
                method=request.method,
                path_qs=request.raw_path,
                headers=[(str(k), v) for k, v in request.headers.items()],
                body=body,
                profile="",
                started=time.monotonic(),
            )
        )
        if self.record_dir is not None:
            (self.record_dir / f"{n:05d}.body").write_bytes(body)
            line = json.dumps(
                {"n": n, "method": request.method, "path_qs": request.raw_path, "time": time.time()}
            )
            with (self.record_dir / "index.jsonl").open("a") as index:
                index.write(line + "\n")
        try:
            doc: JsonValue = msgspec.json.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return body, None
        return body, doc if isinstance(doc, dict) else None

    async def _other(self, request: web.Request) -> web.Response:
        if request.method in ("HEAD", "GET") and request.path == "/":
            return web.Response(text="scripted fake model")
        return _json({"error": {"type": "not_found_error", "message": f"no route {request.path}"}}, 404)

    async def _count_tokens(self, request: web.Request) -> web.Response:
        _, doc = await self._read(request)
        if doc is None:
            return _anthropic_error(400, "invalid JSON body")
        items, _ = _anthropic_items(doc)
        total, _ = PrefixCache().account("", items, [])
        return _json({"input_tokens": total})

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        _, doc = await self._read(request)
        if doc is None or not isinstance(messages := doc.get("messages"), list):
            return _anthropic_error(400, "invalid JSON body or messages")
        for i, msg in enumerate(messages):
            for j, block in enumerate(_blocks(msg, "assistant")):
                if block.get("type") == "thinking" and not self.signer.valid(
                    str(block.get("thinking", "")), str(block.get("signature", ""))
                ):
                    self.refused += 1
                    return _anthropic_error(
                        400, f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                    )
        outputs = sum(1 for msg in messages for b in _blocks(msg, "user") if b.get("type") == "tool_result")
        tools = {str(t.get("name")) for t in _dicts(doc.get("tools"))}
        turn = self._turn(_user_text_anthropic(messages), outputs, lambda step: claude_call(step, tools))
        items, breakpoints = _anthropic_items(doc)
        total, cached = self.cache.account(str(doc.get("model")), items, breakpoints)
        model = str(doc.get("model", "fake-model"))
        if doc.get("stream") is not True:
            return _json(
                anthropic_message(turn, model=model, usage_in=total, cached=cached, signer=self.signer)
            )
        events = anthropic_events(turn, model=model, usage_in=total, cached=cached, signer=self.signer)
        return await _stream(request, events)

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        _, doc = await self._read(request)
        if doc is None:
            return _openai_error(400, "invalid JSON body", "invalid_json")
        raw_input = doc.get("input")
        items_in = _dicts(raw_input)
        if isinstance(raw_input, str):  # the short form: one user message
            items_in = [{"type": "message", "role": "user", "content": raw_input}]
        previous = doc.get("previous_response_id")
        said, carried = "", 0
        if isinstance(previous, str):
            if previous not in self.chains:
                return _openai_error(
                    400, f"Previous response with id '{previous}' not found.", "previous_response_not_found"
                )
            said, carried = self.chains[previous]
        for item in items_in:
            blob = item.get("encrypted_content")
            if item.get("type") == "reasoning" and blob is not None and not self.signer.opened(str(blob)):
                self.refused += 1
                return _openai_error(
                    400, "The encrypted content could not be verified.", "invalid_encrypted_content"
                )
        outputs = carried + sum(1 for item in items_in if item.get("type") in _OUTPUT_ITEMS)
        tools = {(str(t.get("type")), str(t.get("name"))) for t in _responses_tools(doc, items_in)}
        said = "\n".join(t for t in (said, _user_text_responses(items_in)) if t)
        turn = self._turn(said, outputs, lambda step: codex_call(step, tools))
        include = doc.get("include")
        encrypted = isinstance(include, list) and "reasoning.encrypted_content" in include
        items_out = responses_items(turn, self.signer, encrypted=encrypted)
        encoded = [msgspec.json.encode(doc.get(k)) for k in ("instructions", "tools")]
        encoded += [msgspec.json.encode(item) for item in items_in]
        scope = str(doc.get("prompt_cache_key") or doc.get("model"))
        total, cached = self.cache.account(scope, encoded, None)
        response_id = f"resp_{uuid.uuid4().hex}"
        self.chains[response_id] = (said, outputs)
        done = responses_object(
            turn, items_out, model=str(doc.get("model", "fake-model")), usage_in=total, cached=cached,
            response_id=response_id,
        )  # fmt: skip
        if doc.get("stream") is not True:
            return _json(done)
        return await _stream(request, responses_events(done))

    def _turn(self, user_text: str, outputs: int, call_of: Callable[[Step], ToolCall | None]) -> Turn:
        """Return the scenario's next step as a turn (or a short text when the request has no such tool)."""
        scenario = next((s for s in self.script.scenarios if s.match in user_text), None)
        if scenario is None:
            return Turn(thinking="No scenario matches this conversation.", text=SIDE_REPLY)
        steps = scenario.steps
        step = steps[outputs] if outputs < len(steps) else Step(answer="Done.")
        thinking = f"Step {outputs + 1} of {len(steps)}: {describe(step)}."
        if step.answer is not None:
            return Turn(thinking=thinking, text=step.answer)
        call = call_of(step)
        if call is None:
            return Turn(thinking="This request offers none of the script's tools.", text=SIDE_REPLY)
        return Turn(thinking=thinking, call=call)


def _responses_tools(
    doc: dict[str, JsonValue], items: list[dict[str, JsonValue]]
) -> list[dict[str, JsonValue]]:
    """Return the tools a Responses request offers: ``tools``, ``additional_tools`` items, in namespaces."""
    found = _dicts(doc.get("tools"))
    for item in items:
        if item.get("type") == "additional_tools":  # Codex's "responses lite" form
            found += _dicts(item.get("tools"))
    flat: list[dict[str, JsonValue]] = []
    while found:
        tool = found.pop(0)
        if tool.get("type") == "namespace":
            found += _dicts(tool.get("tools"))
        else:
            flat.append(tool)
    return flat


def _dicts(value: JsonValue) -> list[dict[str, JsonValue]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _blocks(msg: JsonValue, role: str) -> list[dict[str, JsonValue]]:
    if not isinstance(msg, dict) or msg.get("role") != role:
        return []
    return _dicts(msg.get("content"))


def _user_text_anthropic(messages: list[JsonValue]) -> str:
    out: list[str] = []
    for msg in messages:
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            out += (
                [content]
                if isinstance(content, str)
                else [str(b.get("text", "")) for b in _blocks(msg, "user")]
            )
    return "\n".join(out)


def _user_text_responses(items: list[dict[str, JsonValue]]) -> str:
    out: list[str] = []
    for item in items:
        if item.get("type", "message") == "message" and item.get("role") == "user":
            content = item.get("content")
            out += (
                [content] if isinstance(content, str) else [str(p.get("text", "")) for p in _dicts(content)]
            )
    return "\n".join(out)


def _anthropic_items(doc: dict[str, JsonValue]) -> tuple[list[bytes], list[int]]:
    """Return a messages body as cacheable items (tools, system and message blocks) and its breakpoints."""
    items: list[bytes] = [msgspec.json.encode(doc.get("tools"))]
    breakpoints: list[int] = []
    system = doc.get("system")
    blocks: list[JsonValue] = [system] if isinstance(system, str) else list(_dicts(system))
    for msg in _dicts(doc.get("messages")):
        content = msg.get("content")
        blocks += [content] if isinstance(content, str) else list(_dicts(content))
    for block in blocks:
        if isinstance(block, dict):
            if "cache_control" in block:
                breakpoints.append(len(items) + 1)
            block = {k: v for k, v in block.items() if k != "cache_control"}  # a moving marker is no change
        items.append(msgspec.json.encode(block))
    return items, breakpoints


async def _stream(request: web.Request, events: list[bytes]) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    for event in events:
        await resp.write(event)
    await resp.write_eof()
    return resp


def _json(doc: JsonValue, status: int = 200) -> web.Response:
    return web.Response(status=status, body=msgspec.json.encode(doc), content_type="application/json")


def _anthropic_error(status: int, message: str) -> web.Response:
    return _json({"type": "error", "error": {"type": "invalid_request_error", "message": message}}, status)


def _openai_error(status: int, message: str, code: str) -> web.Response:
    error: JsonValue = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return _json({"error": error}, status)


def run(args: argparse.Namespace) -> int:
    """Run the scripted model until interrupted (``sidecar fake-upstream --script FILE``)."""
    try:
        script = load_script(args.script)
    except ValueError as exc:
        print(f"sidecar fake-upstream: {exc}", file=sys.stderr, flush=True)
        return 2
    record = Path(args.record) if getattr(args, "record", None) else None

    async def main() -> None:
        fake = ScriptedUpstream(script, record_dir=record, host=args.host, port=args.port)
        await fake.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"scripted fake model listening on {fake.url} ({len(script.scenarios)} scenarios)", flush=True)
        try:
            await stop.wait()
        finally:
            await fake.stop()

    asyncio.run(main())
    return 0
