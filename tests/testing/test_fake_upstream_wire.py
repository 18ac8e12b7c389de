"""The fake provider's wire formats: whole answers, streamed events and errors in each provider's shape."""

from __future__ import annotations

import json

from sidecar.testing.fake_upstream_wire import (
    anthropic_events,
    error_response,
    full_response,
    openai_events,
    split_text,
    sse,
)
from sidecar.tokens import estimate_tokens

TEXT = "The function now validates its input before use."


def decoded(event: bytes) -> tuple[str | None, str]:
    fields = dict(line.split(": ", 1) for line in event.decode().strip("\n").split("\n"))
    return fields.get("event"), fields["data"]


def test_split_text_keeps_every_character_in_at_most_n_pieces():
    pieces = split_text(TEXT, 8)
    assert "".join(pieces) == TEXT and len(pieces) <= 8
    assert split_text("", 8) == [""] and split_text("ab", 8) == ["a", "b"]


def test_sse_names_the_event_only_when_given():
    assert sse({"a": 1}) == b'data: {"a":1}\n\n'
    assert sse({"a": 1}, "ping") == b'event: ping\ndata: {"a":1}\n\n'


def test_openai_events_end_with_usage_then_done():
    events = openai_events("m", split_text(TEXT, 4), 7, TEXT)
    assert events[-1] == b"data: [DONE]\n\n"
    chunks = [json.loads(decoded(e)[1]) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == TEXT
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == [] and usage["prompt_tokens"] == 7
    assert usage["total_tokens"] == 7 + estimate_tokens(TEXT)
    assert len({c["id"] for c in chunks}) == 1  # one completion id across its chunks


def test_anthropic_events_carry_their_type_as_the_event_name():
    got = [decoded(e) for e in anthropic_events("claude", split_text(TEXT, 4), 5, TEXT)]
    kinds = [kind for kind, _ in got]
    assert kinds[:3] == ["message_start", "content_block_start", "ping"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert all(json.loads(data)["type"] == kind for kind, data in got)
    assert json.loads(got[0][1])["message"]["usage"]["input_tokens"] == 5
    assert json.loads(got[-2][1])["usage"]["output_tokens"] == estimate_tokens(TEXT)


def test_full_response_in_each_style():
    openai = full_response("openai", "gpt", TEXT, 3)
    assert openai["object"] == "chat.completion" and openai["usage"]["prompt_tokens"] == 3
    assert openai["choices"][0]["message"]["content"] == TEXT
    anthropic = full_response("anthropic", "claude", TEXT, 3)
    assert anthropic["type"] == "message" and anthropic["content"] == [{"type": "text", "text": TEXT}]
    assert anthropic["usage"] == {"input_tokens": 3, "output_tokens": estimate_tokens(TEXT)}


def test_error_response_in_each_style():
    openai = error_response("openai", 503, "down")
    assert openai.status == 503 and json.loads(openai.body)["error"]["code"] == "503"
    limited = error_response("anthropic", 429, "slow down", {"Retry-After": "2"})
    doc = json.loads(limited.body)
    assert limited.headers["Retry-After"] == "2" and doc["error"]["type"] == "rate_limit_error"
    assert json.loads(error_response("anthropic", 500, "x").body)["error"]["type"] == "api_error"
