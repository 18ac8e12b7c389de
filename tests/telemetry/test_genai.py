"""Usage read from OpenAI Responses answers (response.completed), streamed and not."""

from __future__ import annotations

import json

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from sidecar.proxy.forward import Forward
from sidecar.telemetry.genai import GenAIObserver
from sidecar.telemetry.metrics import GenAIMetrics
from sidecar.testing.scripted_wire import Signer, Turn, responses_events, responses_items, responses_object


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
