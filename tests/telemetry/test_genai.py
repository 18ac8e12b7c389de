"""Usage read from OpenAI Responses answers (response.completed), streamed and not."""

from __future__ import annotations

import json

import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from sidecar.proxy.forward import Forward
from sidecar.telemetry.genai import GenAIObserver
from sidecar.telemetry.metrics import DURATION_BUCKETS, TOKEN_BUCKETS, GenAIMetrics
from sidecar.testing.fake_upstream import FakeUpstream, count_received_tokens
from sidecar.testing.scripted_wire import Signer, Turn, responses_events, responses_items, responses_object
from sidecar.tokens import estimate_tokens
from tests.telemetry.support import (
    Sidecar,
    anthropic_body,
    chat_body,
    post,
)


class FakeRequest(dict):
    pass


def observe(content_type: str, pieces: list[bytes]) -> GenAIObserver:
    obs = GenAIObserver(GenAIMetrics(), FakeRequest(), Forward(), "openai")
    obs.upstream_started("POST", "http://127.0.0.1:9/v1/responses")
    obs.response_started(200, CIMultiDictProxy(CIMultiDict({"Content-Type": content_type})))
    for piece in pieces:
        obs.chunk(piece)
    return obs


def completed() -> dict:
    turn = Turn(thinking="Step 1: read the file.", text='The "usage" word in a text is no usage.')
    items = responses_items(turn, Signer(), encrypted=True)
    return responses_object(turn, items, model="gpt-x-2026", usage_in=1234, cached=1000, response_id="resp_1")


@pytest.mark.parametrize("cut", [1, 17, 200, 400, -30, -1])
def test_streamed_responses_usage_from_response_completed(cut: int) -> None:
    done = completed()
    stream = b"".join(responses_events(done))
    obs = observe("text/event-stream", [stream[:cut], stream[cut:]])
    usage = done["usage"]
    # The Responses API counts cached input inside input_tokens (unlike Anthropic): nothing is added.
    assert (obs._input, obs._output, obs._response_model) == (1234, usage["output_tokens"], "gpt-x-2026")


def test_json_responses_usage() -> None:
    done = completed()
    obs = observe("application/json", [json.dumps(done).encode()])
    obs.finished(None)  # a JSON answer is read once, at its end
    assert (obs._input, obs._output, obs._response_model) == (
        1234,
        done["usage"]["output_tokens"],
        "gpt-x-2026",
    )


@pytest.mark.parametrize(
    ("path", "style"), [("/v1/chat/completions", "openai"), ("/v1/messages", "anthropic")]
)
async def test_streaming_usage_is_read_from_the_stream(
    sidecar: Sidecar, fake_upstream: FakeUpstream, path, style
):
    body = chat_body(stream=True) if style == "openai" else anthropic_body(stream=True)
    status, raw, _ = await post(sidecar, path, body)
    assert status == 200 and raw.startswith((b"data:", b"event:"))
    [client] = [s for s in sidecar.finished() if s.kind is SpanKind.CLIENT]
    model = "gpt-test" if style == "openai" else "claude-test"
    assert client.name == f"chat {model}"
    assert client.attributes["gen_ai.provider.name"] == style
    expected_in = json.loads(fake_upstream.received[-1].body)  # the pruned body the upstream counted
    assert client.attributes["gen_ai.usage.input_tokens"] == count_received_tokens(expected_in)
    assert client.attributes["gen_ai.usage.output_tokens"] == estimate_tokens(
        fake_upstream.reply(expected_in)
    )
    m = sidecar.metrics()
    [(attrs, ttfb)] = m["sidecar.upstream.time_to_first_byte"]
    assert attrs["gen_ai.provider.name"] == style and ttfb.count == 1
    tokens = {a["gen_ai.token.type"]: p for a, p in m["gen_ai.client.token.usage"]}
    assert tuple(tokens["input"].explicit_bounds) == TOKEN_BUCKETS
    [(_, duration)] = m["gen_ai.client.operation.duration"]
    assert tuple(duration.explicit_bounds) == DURATION_BUCKETS and duration.count == 1
    assert tokens["input"].sum == client.attributes["gen_ai.usage.input_tokens"]
    assert tokens["output"].sum == client.attributes["gen_ai.usage.output_tokens"]


async def test_sse_usage_split_across_chunks():
    """A usage line cut anywhere by the network still counts, and content lines are never decoded."""

    class FakeRequest(dict):
        pass

    events = (
        b'data: {"choices":[{"delta":{"content":"hi \\"usage\\" text"}}]}\n\n'
        b'data: {"choices":[],"model":"m-1","usage":{"prompt_tokens":1234,"completion_tokens":56}}\n\n'
        b"data: [DONE]\n\n"
    )
    metrics = GenAIMetrics()
    for cut in range(1, len(events)):
        obs = GenAIObserver(metrics, FakeRequest(), Forward(), "openai")
        obs.upstream_started("POST", "http://127.0.0.1:9/v1/chat/completions")
        obs.response_started(200, CIMultiDictProxy(CIMultiDict({"Content-Type": "text/event-stream"})))
        obs.chunk(events[:cut])
        obs.chunk(events[cut:])
        assert (obs._input, obs._output, obs._response_model) == (1234, 56, "m-1"), cut


async def test_upstream_error_marks_the_client_span(sidecar: Sidecar, fake_upstream: FakeUpstream):
    fake_upstream.inject("status=503")
    status, _, _ = await post(sidecar, "/v1/chat/completions", chat_body())
    assert status == 503
    [client] = [s for s in sidecar.finished() if s.kind is SpanKind.CLIENT]
    assert client.attributes["error.type"] == "503"
    assert client.status.status_code is trace.StatusCode.ERROR
    durations = sidecar.metrics()["gen_ai.client.operation.duration"]
    assert [a.get("error.type") for a, _ in durations] == ["503"]
