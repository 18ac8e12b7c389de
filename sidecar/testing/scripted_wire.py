"""The scripted fake model's wire formats: what a turn looks like on the two streamed protocols.

    Turn(thinking, call | text)
      -> anthropic_events(...)  Anthropic Messages SSE: message_start, a signed thinking block, then a
                                tool_use or text block, message_delta, message_stop
      -> responses_events(...)  OpenAI Responses SSE: response.created, a reasoning item with
                                encrypted_content, then a function_call, custom_tool_call or message item
                                (added, deltas, done), response.completed with usage

Both providers sign what the model thought and refuse a conversation whose thinking came back altered:
Anthropic a thinking block's ``signature``, OpenAI a reasoning item's ``encrypted_content``. The fake does
the same with an HMAC (:class:`Signer`), so a proxy that changes a byte of either is caught as a real
provider would catch it (400). :class:`PrefixCache` plays the provider's prompt cache: the longest prefix
of a request already seen is reported as cached input tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
import uuid
from collections.abc import Sequence

import msgspec

from sidecar.jsontypes import JsonValue
from sidecar.tokens import estimate_tokens

ToolStyle = str  # "tool_use" (Anthropic), "function" (exec_command), "custom" (code-mode exec)


class ToolCall(msgspec.Struct, frozen=True, kw_only=True):
    """One tool call of a turn: the tool's name and its input (JSON arguments, or a custom tool's text)."""

    name: str
    arguments: dict[str, JsonValue] | None = None  # Anthropic tool_use input, Responses function arguments
    text_input: str | None = None  # Responses custom_tool_call input (code-mode exec)


class Turn(msgspec.Struct, frozen=True, kw_only=True):
    """What the model says in one response: its (signed) thinking, then a tool call or a final text."""

    thinking: str
    call: ToolCall | None = None
    text: str = ""


class Signer:
    """HMAC signatures over thinking text, as a provider signs thinking and encrypts reasoning."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key or os.urandom(32)

    def sign(self, text: str) -> str:
        """Return the signature of ``text`` (base64)."""
        return base64.b64encode(hmac.new(self.key, text.encode(), hashlib.sha256).digest()).decode()

    def seal(self, text: str) -> str:
        """Return ``text`` sealed as an opaque blob (encrypted_content stand-in: base64 of mac + text)."""
        mac = hmac.new(self.key, text.encode(), hashlib.sha256).digest()
        return base64.b64encode(mac + text.encode()).decode()

    def valid(self, text: str, signature: str) -> bool:
        """Tell whether ``signature`` was made by this signer for ``text``."""
        return hmac.compare_digest(self.sign(text), signature)

    def opened(self, blob: str) -> bool:
        """Tell whether ``blob`` was sealed by this signer and is intact."""
        try:
            raw = base64.b64decode(blob, validate=True)
        except ValueError:
            return False
        mac, text = raw[:32], raw[32:]
        return hmac.compare_digest(hmac.new(self.key, text, hashlib.sha256).digest(), mac)


class PrefixCache:
    """A provider's prompt cache over whole items (blocks, input items): cached = the longest known prefix."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.seen: dict[bytes, None] = {}
        self.max_entries = max_entries

    def account(self, scope: str, items: Sequence[bytes], store_at: Sequence[int] | None) -> tuple[int, int]:
        """Return (total, cached) tokens of a request's encoded items, then remember its prefixes.

        A prefix is looked up at every item boundary up to the last one it may be stored at; ``store_at``
        holds the item counts a prefix is stored at (Anthropic's ``cache_control`` breakpoints), None
        meaning every boundary (OpenAI's automatic caching).
        """
        chain = hashlib.sha256(scope.encode())
        digests: list[bytes] = []
        sizes: list[int] = []
        total = 0
        for item in items:
            chain.update(hashlib.sha256(item).digest())
            digests.append(chain.digest())
            total += estimate_tokens(item.decode("utf-8", "replace"))
            sizes.append(total)
        stored = list(range(1, len(items) + 1)) if store_at is None else sorted(set(store_at))
        limit = max(stored, default=0)
        cached = 0
        for n in range(1, min(limit, len(items)) + 1):
            if digests[n - 1] in self.seen:
                cached = sizes[n - 1]
        for n in stored:
            if 0 < n <= len(items):
                self.seen[digests[n - 1]] = None
        while len(self.seen) > self.max_entries:
            self.seen.pop(next(iter(self.seen)))
        return total, cached


def sse(data: JsonValue, event: str) -> bytes:
    """Encode one server-sent event with its type on the ``event:`` line, as both providers do."""
    return f"event: {event}\n".encode() + b"data: " + msgspec.json.encode(data) + b"\n\n"


def _pieces(text: str, n: int = 4) -> list[str]:
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


# --- Anthropic Messages -----------------------------------------------------------------------------


def anthropic_content(turn: Turn, signer: Signer) -> list[dict[str, JsonValue]]:
    """Return the content blocks of a turn: a signed thinking block, then a tool_use or a text block."""
    blocks: list[dict[str, JsonValue]] = [
        {"type": "thinking", "thinking": turn.thinking, "signature": signer.sign(turn.thinking)}
    ]
    if turn.call is not None:
        blocks.append(
            {
                "type": "tool_use",
                "id": f"toolu_{uuid.uuid4().hex[:24]}",
                "name": turn.call.name,
                "input": dict(turn.call.arguments or {}),
            }
        )
    else:
        blocks.append({"type": "text", "text": turn.text})
    return blocks


def anthropic_message(
    turn: Turn, *, model: str, usage_in: int, cached: int, signer: Signer
) -> dict[str, JsonValue]:
    """Return a whole (non-streamed) Anthropic message for a turn."""
    content: list[JsonValue] = list(anthropic_content(turn, signer))
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if turn.call is not None else "end_turn",
        "stop_sequence": None,
        "usage": _anthropic_usage(usage_in, cached, _output_tokens(turn)),
    }


def anthropic_events(turn: Turn, *, model: str, usage_in: int, cached: int, signer: Signer) -> list[bytes]:
    """Return the SSE events of one streamed Anthropic message (the blocks of anthropic_content)."""
    whole = anthropic_message(turn, model=model, usage_in=usage_in, cached=cached, signer=signer)
    blocks = whole["content"]
    assert isinstance(blocks, list)
    start = {**whole, "content": [], "stop_reason": None, "usage": _anthropic_usage(usage_in, cached, 1)}
    out = [sse({"type": "message_start", "message": start}, "message_start")]
    for index, block in enumerate(blocks):
        assert isinstance(block, dict)
        kind = block["type"]
        deltas: list[JsonValue]
        if kind == "thinking":
            first: JsonValue = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": p} for p in _pieces(str(block["thinking"]))]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif kind == "tool_use":
            first = {**block, "input": {}}
            args = msgspec.json.encode(block["input"]).decode()
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in _pieces(args)]
        else:
            first = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in _pieces(str(block["text"]))]
        out.append(
            sse(
                {"type": "content_block_start", "index": index, "content_block": first}, "content_block_start"
            )
        )
        if index == 0:
            out.append(sse({"type": "ping"}, "ping"))
        for delta in deltas:
            out.append(
                sse({"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta")
            )
        out.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
    stop: dict[str, JsonValue] = {"stop_reason": whole["stop_reason"], "stop_sequence": None}
    usage: dict[str, JsonValue] = {"output_tokens": _output_tokens(turn)}
    out.append(sse({"type": "message_delta", "delta": stop, "usage": usage}, "message_delta"))
    out.append(sse({"type": "message_stop"}, "message_stop"))
    return out


def _anthropic_usage(usage_in: int, cached: int, output: int) -> dict[str, JsonValue]:
    return {
        "input_tokens": max(usage_in - cached, 0),  # Anthropic counts cache reads apart
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": output,
    }


def _output_tokens(turn: Turn) -> int:
    call = turn.call
    args = "" if call is None else call.text_input or msgspec.json.encode(call.arguments or {}).decode()
    return estimate_tokens(turn.thinking + turn.text + args)


# --- OpenAI Responses -------------------------------------------------------------------------------


def responses_items(turn: Turn, signer: Signer, *, encrypted: bool) -> list[dict[str, JsonValue]]:
    """Return the output items of a turn: reasoning, then a function_call, custom_tool_call or message."""
    reasoning: dict[str, JsonValue] = {
        "type": "reasoning",
        "id": f"rs_{uuid.uuid4().hex[:24]}",
        "summary": [{"type": "summary_text", "text": turn.thinking}],
    }
    if encrypted:
        reasoning["encrypted_content"] = signer.seal(turn.thinking)
    call = turn.call
    item: dict[str, JsonValue]
    if call is not None and call.text_input is not None:
        item = {"type": "custom_tool_call", "id": f"ctc_{uuid.uuid4().hex[:24]}", "status": "completed",
                "call_id": f"call_{uuid.uuid4().hex[:24]}", "name": call.name,
                "input": call.text_input}  # fmt: skip
    elif call is not None:
        item = {"type": "function_call", "id": f"fc_{uuid.uuid4().hex[:24]}", "status": "completed",
                "call_id": f"call_{uuid.uuid4().hex[:24]}", "name": call.name,
                "arguments": msgspec.json.encode(call.arguments or {}).decode()}  # fmt: skip
    else:
        part: JsonValue = {"type": "output_text", "text": turn.text, "annotations": []}
        item = {"type": "message", "id": f"msg_{uuid.uuid4().hex[:24]}", "status": "completed",
                "role": "assistant", "content": [part]}  # fmt: skip
    return [reasoning, item]


def responses_object(
    turn: Turn, items: list[dict[str, JsonValue]], *, model: str, usage_in: int, cached: int, response_id: str
) -> dict[str, JsonValue]:
    """Return the completed response object (the non-streamed answer, and response.completed's payload)."""
    output = _output_tokens(turn)
    usage: dict[str, JsonValue] = {
        "input_tokens": usage_in,
        "input_tokens_details": {"cached_tokens": min(cached, usage_in)},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": estimate_tokens(turn.thinking)},
        "total_tokens": usage_in + output,
    }
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "model": model,
        "status": "completed",
        "output": list[JsonValue](items),
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
    }


def responses_events(done: dict[str, JsonValue]) -> list[bytes]:
    """Return the SSE events that stream a completed response object, item by item, as OpenAI sends them."""
    seq = 0
    out: list[bytes] = []

    def emit(kind: str, **fields: JsonValue) -> None:
        nonlocal seq
        out.append(sse({"type": kind, "sequence_number": seq, **fields}, kind))
        seq += 1

    items = done["output"]
    assert isinstance(items, list)
    base = {**done, "status": "in_progress", "output": [], "usage": None}
    emit("response.created", response=base)
    emit("response.in_progress", response=base)
    for n, item in enumerate(items):
        assert isinstance(item, dict)
        kind, ref = item["type"], item["id"]
        if kind == "reasoning":
            emit("response.output_item.added", output_index=n, item={**item, "summary": []})
        elif kind == "custom_tool_call":
            emit(
                "response.output_item.added",
                output_index=n,
                item={**item, "input": "", "status": "in_progress"},
            )
            for p in _pieces(str(item["input"])):
                emit("response.custom_tool_call_input.delta", output_index=n, item_id=ref, delta=p)
            emit("response.custom_tool_call_input.done", output_index=n, item_id=ref, input=item["input"])
        elif kind == "function_call":
            emit(
                "response.output_item.added",
                output_index=n,
                item={**item, "arguments": "", "status": "in_progress"},
            )
            for p in _pieces(str(item["arguments"])):
                emit("response.function_call_arguments.delta", output_index=n, item_id=ref, delta=p)
            emit(
                "response.function_call_arguments.done",
                output_index=n,
                item_id=ref,
                arguments=item["arguments"],
            )
        else:
            content = item["content"]
            assert isinstance(content, list) and isinstance(part := content[0], dict)
            text = str(part["text"])
            emit(
                "response.output_item.added",
                output_index=n,
                item={**item, "content": [], "status": "in_progress"},
            )
            emit(
                "response.content_part.added",
                output_index=n,
                item_id=ref,
                content_index=0,
                part={**part, "text": ""},
            )
            for p in _pieces(text):
                emit("response.output_text.delta", output_index=n, item_id=ref, content_index=0, delta=p)
            emit("response.output_text.done", output_index=n, item_id=ref, content_index=0, text=text)
            emit("response.content_part.done", output_index=n, item_id=ref, content_index=0, part=part)
        emit("response.output_item.done", output_index=n, item=item)
    emit("response.completed", response=done)
    return out
