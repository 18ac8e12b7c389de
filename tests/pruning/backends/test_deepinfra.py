"""DeepInfraClient and DeepInfraPruningEngine through httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from sidecar.errors import BackendError
from sidecar.pruning.backends.deepinfra import (
    MAX_DOC_CHARS,
    DeepInfraClient,
    DeepInfraPruningEngine,
    parse_rerank_response,
)
from sidecar.pruning.engine import THREAD_MIN_CHARS
from sidecar.pruning.types import PruneOptions, PruneRequest

Reply = Callable[[httpx.Request, dict[str, Any]], httpx.Response]
Handler = (
    Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]
)
URL = "https://api.deepinfra.test/v1/inference/Qwen/Qwen3-Reranker-0.6B"


class Recorder:
    """A MockTransport handler answering with a configurable reply and recording requests."""

    def __init__(self, reply: Reply | httpx.Response | None = None, *, delay: float = 0.0) -> None:
        self.requests: list[httpx.Request] = []
        self.bodies: list[dict[str, Any]] = []
        self.reply = reply
        self.delay = delay
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = json.loads(request.content)
        self.bodies.append(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if callable(self.reply):
                return self.reply(request, body)
            if self.reply is not None:
                return self.reply
            docs = body["documents"]
            # Relevance: 0.9 for documents mentioning "needle", 0.1 otherwise.
            scores = [0.9 if "needle" in d else 0.1 for d in docs]
            return httpx.Response(
                200, json={"scores": scores, "input_tokens": 7 * len(docs), "request_id": "r1"}
            )
        finally:
            self.in_flight -= 1


def make_client(handler: Handler, timeout_ms: int = 800) -> DeepInfraClient:
    return DeepInfraClient(
        endpoint_url=URL, api_key="k-123", timeout_ms=timeout_ms, transport=httpx.MockTransport(handler)
    )


async def test_rerank_sends_deepinfra_shape_and_parses_scores():
    rec = Recorder()
    client = make_client(rec)
    result = await client.rerank("find the needle", ["hay", "a needle here"])
    await client.aclose()
    assert result.scores == [0.1, 0.9]
    assert result.input_tokens == 14
    assert result.request_id == "r1"
    (request,) = rec.requests
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["Authorization"] == "bearer k-123"
    assert rec.bodies == [{"queries": ["find the needle"], "documents": ["hay", "a needle here"]}]


@pytest.mark.parametrize("status", [401, 403, 404, 422, 429, 500, 502, 503])
async def test_http_errors_raise_status_cause(status):
    client = make_client(Recorder(httpx.Response(status, json={"detail": "secret-content-echo"})))
    with pytest.raises(BackendError) as info:
        await client.rerank("q", ["d"])
    await client.aclose()
    assert info.value.cause == f"http_{status}"
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    ("exc", "cause"),
    [
        (httpx.ConnectError("refused"), "connect_error"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.ConnectTimeout("slow"), "timeout"),
        (httpx.RemoteProtocolError("dropped"), "protocol_error"),
        (httpx.ReadError("reset"), "transport_error:ReadError"),
    ],
)
async def test_transport_errors_map_to_causes(exc, cause):
    def handler(request):
        raise exc

    client = make_client(handler)
    with pytest.raises(BackendError) as info:
        await client.rerank("q", ["d"])
    await client.aclose()
    assert info.value.cause == cause


@pytest.mark.parametrize(
    ("body", "cause"),
    [
        (b'{"scores": [0.5, ', "invalid_json"),
        (b"<html>502</html>", "invalid_json"),
        (b'{"results": [{"index": 0, "score": 0.5}]}', "invalid_response"),
        (b'{"scores": "0.5"}', "invalid_response"),
        (b'{"scores": [0.5, "x"]}', "invalid_response"),
        (b"[0.5, 0.5]", "invalid_response"),
        (b'{"scores": [0.5]}', "score_count_mismatch"),
        (b'{"scores": [0.5, 0.5, 0.5]}', "score_count_mismatch"),
        (b'{"scores": [NaN, 0.5]}', "nan_score"),
        (b'{"scores": [Infinity, 0.5]}', "nan_score"),
        (b'{"scores": [1.5, 0.5]}', "score_out_of_range"),
        (b'{"scores": [-0.1, 0.5]}', "score_out_of_range"),
    ],
)
async def test_invalid_bodies_are_rejected(body, cause):
    reply = httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
    client = make_client(Recorder(reply))
    with pytest.raises(BackendError) as info:
        await client.rerank("q", ["a", "b"])
    await client.aclose()
    assert info.value.cause == cause


def test_input_tokens_fall_back_to_inference_status_then_estimate():
    with_status = b'{"scores": [0.2], "inference_status": {"status": "succeeded", "tokens_input": 42}}'
    assert parse_rerank_response(with_status, 1, 99).input_tokens == 42
    assert parse_rerank_response(b'{"scores": [0.2]}', 1, 99).input_tokens == 99
    assert parse_rerank_response(b'{"scores": [0.2], "input_tokens": 5, "extra": 1}', 1, 99).input_tokens == 5


def _request(text: str, goal: str = "find the needle", **options: Any) -> PruneRequest:
    return PruneRequest(
        text=text,
        goal=goal,
        source_type="docs",
        options=PruneOptions(**options),
        prune_id="p" * 26,
    )


def _paragraphs(n: int, needle_at: int) -> str:
    paras = []
    for i in range(n):
        word = "needle" if i == needle_at else "hay"
        paras.append(f"Paragraph {i} talks about {word} and other things.\nIt has a second line {i}.")
    return "\n\n".join(paras)


async def test_engine_keeps_high_scoring_chunks_and_reports_tokens():
    rec = Recorder()
    engine = DeepInfraPruningEngine(make_client(rec), max_docs=256)
    text = _paragraphs(40, needle_at=23)
    selection = await engine.prune(_request(text, keep_ratio=0.2, min_keep_lines=0))
    await engine.aclose()
    lines = text.split("\n")
    assert len(selection.keep) == len(lines)
    assert selection.backend == "deepinfra"
    needle_line = next(i for i, line in enumerate(lines) if "needle" in line)
    assert selection.keep[needle_line]
    assert sum(selection.keep) < len(lines) / 2
    assert len(rec.requests) == 1
    sent = rec.bodies[0]["documents"]
    assert selection.reranker_input_tokens == 7 * len(sent)
    assert all(doc.strip() for doc in sent), "blank chunks are not paid for"
    assert rec.bodies[0]["queries"] == ["find the needle"]


async def test_engine_splits_into_parallel_batches_of_max_docs():
    rec = Recorder(delay=0.05)
    engine = DeepInfraPruningEngine(make_client(rec), max_docs=3)
    text = _paragraphs(10, needle_at=9)
    selection = await engine.prune(_request(text))
    await engine.aclose()
    sizes = [len(body["documents"]) for body in rec.bodies]
    assert sum(sizes) >= 10
    assert max(sizes) <= 3
    assert len(sizes) >= 4
    assert rec.max_in_flight > 1, "batches go out in parallel"
    assert selection.reranker_input_tokens == 7 * sum(sizes)
    lines = text.split("\n")
    assert selection.keep[next(i for i, line in enumerate(lines) if "needle" in line)]


async def test_engine_one_failing_batch_fails_the_call():
    def reply(request, body):
        if any("Paragraph 9" in d for d in body["documents"]):
            return httpx.Response(429)
        return httpx.Response(200, json={"scores": [0.5] * len(body["documents"])})

    engine = DeepInfraPruningEngine(make_client(Recorder(reply)), max_docs=2)
    with pytest.raises(BackendError) as info:
        await engine.prune(_request(_paragraphs(10, needle_at=1)))
    await engine.aclose()
    assert info.value.cause == "http_429"


async def test_engine_truncates_huge_documents():
    rec = Recorder()
    engine = DeepInfraPruningEngine(make_client(rec))
    text = "x" * (MAX_DOC_CHARS * 3) + "\nneedle line\nlast"
    await engine.prune(_request(text))
    await engine.aclose()
    assert all(len(doc) <= MAX_DOC_CHARS for body in rec.bodies for doc in body["documents"])


async def test_engine_blank_text_makes_no_call():
    rec = Recorder()
    engine = DeepInfraPruningEngine(make_client(rec))
    selection = await engine.prune(_request("\n\n\n"))
    await engine.aclose()
    assert rec.requests == []
    assert selection.reranker_input_tokens == 0
    assert len(selection.keep) == 4


async def test_engine_large_text_goes_through_worker_threads() -> None:
    rec = Recorder()
    engine = DeepInfraPruningEngine(make_client(rec), max_docs=1024)
    text = _paragraphs(2500, needle_at=1234)
    assert len(text) >= THREAD_MIN_CHARS
    selection = await engine.prune(_request(text, keep_ratio=0.2))
    await engine.aclose()
    lines = text.split("\n")
    assert len(selection.keep) == len(lines)
    assert selection.keep[next(i for i, line in enumerate(lines) if "needle" in line)]
    assert len(rec.requests) >= 2
