"""The fake provider as a real server: both wire formats, usage counted from what it received, echo,
profiles with a capacity, faults, and the routing reply rules."""

from __future__ import annotations

import asyncio
import base64
import json

import aiohttp
import pytest

from sidecar.testing.fake_upstream import (
    CODE_REPLY,
    DEFAULT_REPLY,
    JSON_REPLY,
    VERBOSE_REPLY,
    FakeUpstream,
    Fault,
    Profile,
    count_received_tokens,
    parse_fault,
    routing_reply,
)
from sidecar.tokens import estimate_tokens

pytestmark = pytest.mark.timeout(30)

MESSAGES = [
    {"role": "system", "content": "You are a coding agent."},
    {"role": "user", "content": [{"type": "text", "text": "fix parse_port"}]},
    {"role": "tool", "tool_call_id": "call_123", "content": "def parse_port(value): ..." * 20},
]


async def post(
    fake: FakeUpstream, path: str, doc: object, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as http:
        async with http.post(fake.url + path, data=json.dumps(doc), headers=headers) as resp:
            return resp.status, dict(resp.headers), await resp.read()


def events(raw: bytes) -> list[tuple[str | None, str]]:
    """(event type, data) of each server-sent event."""
    out = []
    for block in raw.decode().split("\n\n"):
        if block.strip():
            fields = dict(line.split(": ", 1) for line in block.split("\n"))
            out.append((fields.get("event"), fields["data"]))
    return out


def test_count_received_tokens_reads_texts_not_ids_or_roles():
    doc = {"model": "a-very-long-model-name", "system": "abcd" * 3, "messages": MESSAGES}
    texts = ["abcd" * 3, "You are a coding agent.", "fix parse_port", "def parse_port(value): ..." * 20]
    assert count_received_tokens(doc) == sum(estimate_tokens(t) for t in texts)
    assert count_received_tokens([1, 2]) == 0 and count_received_tokens({"model": "m"}) == 0


async def test_openai_answer_counts_the_tokens_it_received(fake_upstream: FakeUpstream):
    doc = {"model": "gpt-test", "messages": MESSAGES}
    status, _, raw = await post(fake_upstream, "/v1/chat/completions", doc)
    answer = json.loads(raw)
    assert status == 200 and answer["object"] == "chat.completion" and answer["model"] == "gpt-test"
    assert answer["choices"][0]["message"]["content"] == DEFAULT_REPLY
    assert answer["usage"]["prompt_tokens"] == count_received_tokens(doc)
    assert answer["usage"]["completion_tokens"] == estimate_tokens(DEFAULT_REPLY)
    got = fake_upstream.received[-1]
    assert (got.method, got.path_qs, got.profile) == ("POST", "/v1/chat/completions", "")
    assert got.body == json.dumps(doc).encode() and fake_upstream.sent[-1] == raw


async def test_openai_stream_ends_with_a_usage_chunk_and_done(fake_upstream: FakeUpstream):
    doc = {"model": "m", "stream": True, "messages": MESSAGES}
    _, headers, raw = await post(fake_upstream, "/chat/completions", doc)
    assert headers["Content-Type"] == "text/event-stream"
    data = [d for _, d in events(raw)]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == count_received_tokens(doc)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == DEFAULT_REPLY
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"


async def test_anthropic_stream_sends_the_event_types_anthropic_sends(fake_upstream: FakeUpstream):
    doc = {"model": "claude-test", "max_tokens": 10, "stream": True, "messages": MESSAGES[1:2]}
    _, _, raw = await post(fake_upstream, "/p/any/v1/messages", doc)
    got = events(raw)
    kinds = [kind for kind, _ in got]
    assert kinds[:3] == ["message_start", "content_block_start", "ping"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert all(json.loads(data)["type"] == kind for kind, data in got)
    deltas = [json.loads(d)["delta"]["text"] for k, d in got if k == "content_block_delta"]
    assert "".join(deltas) == DEFAULT_REPLY
    start = json.loads(got[0][1])["message"]
    assert start["usage"]["input_tokens"] == count_received_tokens(doc)
    assert fake_upstream.received[-1].profile == "any"  # an unknown profile: the default behaviour


async def test_other_paths_echo_the_request(fake_upstream: FakeUpstream):
    async with aiohttp.ClientSession() as http:
        async with http.put(fake_upstream.url + "/v1/files/a%2Fb?x=1&x=2", data=b"\x00\xffbin") as resp:
            assert resp.headers["X-Echo"] == "1"
            echo = await resp.json()
    assert (echo["method"], echo["path_qs"]) == ("PUT", "/v1/files/a%2Fb?x=1&x=2")
    assert base64.b64decode(echo["body_b64"]) == b"\x00\xffbin"
    assert not fake_upstream.sent  # only chat answers are kept


async def test_a_profile_above_its_capacity_answers_429_with_retry_after():
    fake = FakeUpstream(profiles={"small": Profile(latency_ms=300, max_concurrent=1, retry_after_s=2)})
    await fake.start()
    try:
        doc = {"model": "m", "messages": MESSAGES}
        results = await asyncio.gather(*(post(fake, "/p/small/v1/chat/completions", doc) for _ in range(3)))
    finally:
        await fake.stop()
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200, 429, 429]
    refused = [(h, json.loads(b)) for s, h, b in results if s == 429]
    assert all(h["Retry-After"] == "2" and b["error"]["message"] == "rate limited" for h, b in refused)
    assert fake.max_in_flight["small"] >= 2 and fake.in_flight["small"] == 0  # refused ones counted too


@pytest.mark.parametrize(
    ("spec", "fault"),
    [
        ("status=429;retry-after=1", Fault(kind="status", status=429, retry_after="1")),
        (" status=500 ", Fault(kind="status", status=500)),
        ("drop-mid-stream", Fault(kind="drop-mid-stream")),
        ("stall", Fault(kind="stall")),
        ("stall-mid-stream", Fault(kind="stall-mid-stream")),
        ("status=abc", None),
        ("explode", None),
        ("", None),
    ],
)
def test_parse_fault(spec: str, fault: Fault | None):
    assert parse_fault(spec) == fault


async def test_injected_faults_are_used_once_each_and_a_header_wins(fake_upstream: FakeUpstream):
    with pytest.raises(ValueError, match="unknown fault"):
        fake_upstream.inject("explode")
    fake_upstream.inject("status=503;retry-after=7", times=2)
    doc = {"model": "claude", "max_tokens": 5, "messages": MESSAGES[1:2]}
    status, headers, raw = await post(fake_upstream, "/v1/messages", doc)
    assert (status, headers["Retry-After"]) == (503, "7")
    assert json.loads(raw) == {"type": "error", "error": {"type": "api_error", "message": "injected fault"}}
    status, _, _ = await post(fake_upstream, "/v1/messages", doc, **{"X-Fake-Fault": "status=418"})
    assert status == 418  # the header, not the queued fault
    assert (await post(fake_upstream, "/v1/messages", doc))[0] == 503
    assert (await post(fake_upstream, "/v1/messages", doc))[0] == 200


async def test_a_body_that_is_not_json_is_400(fake_upstream: FakeUpstream):
    async with aiohttp.ClientSession() as http:
        async with http.post(fake_upstream.url + "/v1/chat/completions", data=b"{nope") as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["message"] == "invalid JSON body"


async def test_without_recording_nothing_is_kept():
    fake = FakeUpstream(record=False)
    await fake.start()
    try:
        assert (await post(fake, "/v1/chat/completions", {"model": "m", "messages": MESSAGES}))[0] == 200
    finally:
        await fake.stop()
    assert not fake.received and not fake.sent


def chat(system: str = "", user: str = "write parse_port", **extra: object) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    return {"model": "m", "messages": [*messages, {"role": "user", "content": user}], **extra}


def test_routing_reply_follows_output_instructions():
    assert routing_reply(chat()) == VERBOSE_REPLY
    assert routing_reply(chat("Answer with code only.")) == CODE_REPLY
    assert routing_reply(chat("No prose, please.")) == CODE_REPLY
    assert routing_reply(chat("Reply in JSON.")) == JSON_REPLY
    assert routing_reply(chat(response_format={"type": "json_object"})) == JSON_REPLY
    json.loads(JSON_REPLY)  # what it answers as JSON is JSON
    assert "# BUG" in routing_reply(chat(user="plant-bug in parse_port"))


def test_routing_reply_audits_and_fails_a_marked_bug():
    prompt = "You audit another model's answer. Reply with a verdict."
    assert json.loads(routing_reply(chat(prompt, user="answer ok")))["verdict"] == "pass"
    failed = json.loads(routing_reply(chat(prompt, user="return port  # BUG: off by one")))
    assert failed["verdict"] == "fail" and failed["issues"]
