"""The fake provider's wire formats: what OpenAI and Anthropic answers look like, whole or streamed.

    full_response(style, model, text, usage_in)      a chat completion (OpenAI) or a message (Anthropic)
    openai_events(model, pieces, usage_in, text)     chat.completion.chunk events, a usage chunk, [DONE]
    anthropic_events(model, pieces, usage_in, text)  message_start, content_block_*, ping, message_delta,
                                                     message_stop: the event types Anthropic really sends
    error_response(style, status, message)           each provider's error body

``usage`` reports the prompt tokens the caller counted and the completion tokens of ``text`` (both by
:func:`sidecar.tokens.estimate_tokens`), so pruning shows end to end. Ids are random, as a provider's are.
"""

from __future__ import annotations

import time
import uuid

import msgspec
from aiohttp import web

from sidecar.jsontypes import JsonValue
from sidecar.tokens import estimate_tokens


def split_text(text: str, n: int) -> list[str]:
    """Cut ``text`` into at most ``n`` pieces of equal length (one piece, maybe empty, at least)."""
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def sse(data: JsonValue, event: str | None = None) -> bytes:
    """Encode one server-sent event: an ``event:`` line when named, then the JSON ``data:`` line."""
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + msgspec.json.encode(data) + b"\n\n"


def openai_events(model: str, pieces: list[str], usage_in: int, text: str) -> list[bytes]:
    """Return a streamed chat completion as OpenAI sends it: role, content deltas, stop, usage, [DONE]."""
    cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())

    def chunk(delta: dict[str, JsonValue], finish: str | None) -> bytes:
        choice: dict[str, JsonValue] = {"index": 0, "delta": delta, "finish_reason": finish}
        return sse(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [choice],
            }
        )

    out = [chunk({"role": "assistant", "content": ""}, None)]
    out += [chunk({"content": p}, None) for p in pieces]
    out.append(chunk({}, "stop"))
    usage: dict[str, JsonValue] = {
        "prompt_tokens": usage_in,
        "completion_tokens": estimate_tokens(text),
        "total_tokens": usage_in + estimate_tokens(text),
    }
    out.append(
        sse(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage,
            }
        )
    )
    out.append(b"data: [DONE]\n\n")
    return out


def anthropic_events(model: str, pieces: list[str], usage_in: int, text: str) -> list[bytes]:
    """Return a streamed message as Anthropic sends it: message_start ... message_stop, with usage."""
    mid = f"msg_{uuid.uuid4().hex[:24]}"
    message: dict[str, JsonValue] = {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": usage_in, "output_tokens": 1},
    }
    out = [
        sse({"type": "message_start", "message": message}, "message_start"),
        sse(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        ),
        sse({"type": "ping"}, "ping"),
    ]
    out += [
        sse(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
            "content_block_delta",
        )
        for p in pieces
    ]
    out.append(sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    out.append(
        sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": estimate_tokens(text)},
            },
            "message_delta",
        )
    )
    out.append(sse({"type": "message_stop"}, "message_stop"))
    return out


def full_response(style: str, model: str, text: str, usage_in: int) -> dict[str, JsonValue]:
    """Return a whole (not streamed) answer in ``style``: a chat completion or a message, with usage."""
    out_tokens = estimate_tokens(text)
    if style == "openai":
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": usage_in,
                "completion_tokens": out_tokens,
                "total_tokens": usage_in + out_tokens,
            },
        }
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": usage_in, "output_tokens": out_tokens},
    }


def error_response(
    style: str, status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """Return an error in ``style``'s shape (Anthropic names a 429 ``rate_limit_error``)."""
    if style == "openai":
        doc: JsonValue = {
            "error": {"message": message, "type": "fake_error", "param": None, "code": str(status)}
        }
    else:
        doc = {
            "type": "error",
            "error": {"type": "rate_limit_error" if status == 429 else "api_error", "message": message},
        }
    return web.Response(
        status=status, body=msgspec.json.encode(doc), content_type="application/json", headers=headers
    )
