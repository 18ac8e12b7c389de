"""The fake DeepInfra server: API shape, relevance, faults; DeepInfraClient against it for real."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import IO

import httpx
import pytest

from sidecar.errors import BackendError
from sidecar.pruning.backends.deepinfra import DeepInfraClient
from sidecar.testing.fake_deepinfra import FAULT_HEADER, FakeDeepInfra, relevance, terms


def _pipe(proc: subprocess.Popen[str]) -> IO[str]:
    assert proc.stdout is not None
    return proc.stdout


@pytest.fixture
async def fake():
    server = FakeDeepInfra(api_key="test-key")
    await server.start()
    yield server
    await server.stop()


def test_terms_split_identifiers():
    assert terms("parseHTTPResponse max_docs X") == ["parse", "http", "response", "max", "docs"]


def test_relevance_is_deterministic_and_ranks_matching_documents_first():
    docs = ["def parse_config(path): ...", "unrelated text about cats", "config parse error in parser"]
    first = relevance("parse the config", docs)
    assert first == relevance("parse the config", docs)
    assert all(0.0 <= s < 1.0 for s in first)
    assert first[1] == 0.0
    assert first[0] > 0.0 and first[2] > 0.0


async def test_answers_with_deepinfra_shape(fake):
    async with httpx.AsyncClient() as client:
        response = await client.post(
            fake.url,
            json={"queries": ["retry the upload"], "documents": ["upload retry loop", "logging setup"]},
            headers={"Authorization": "bearer test-key"},
        )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"scores", "input_tokens", "request_id", "inference_status"}
    assert len(body["scores"]) == 2 and body["scores"][0] > body["scores"][1]
    assert body["input_tokens"] > 0
    assert body["inference_status"]["tokens_input"] == body["input_tokens"]
    assert body["inference_status"]["status"] == "succeeded"
    assert fake.calls == 1 and fake.documents_total == 2


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"Authorization": "bearer wrong"}, {"queries": ["q"], "documents": ["d"]}, 401),
        ({}, {"queries": ["q"], "documents": ["d"]}, 401),
        ({"Authorization": "basic test-key"}, {"queries": ["q"], "documents": ["d"]}, 401),
        ({"Authorization": "bearer test-key"}, {"query": "q", "documents": ["d"]}, 422),
        ({"Authorization": "bearer test-key"}, {"queries": ["q", "r"], "documents": ["d"]}, 422),
        ({"Authorization": "bearer test-key"}, {"queries": ["q"], "documents": "d"}, 422),
    ],
)
async def test_validates_key_and_body(fake, headers, body, status):
    async with httpx.AsyncClient() as client:
        response = await client.post(fake.url, json=body, headers=headers)
    assert response.status_code == status


async def test_unknown_path_is_404(fake):
    async with httpx.AsyncClient() as client:
        response = await client.post(f"http://127.0.0.1:{fake.port}/v1/openai/chat", json={})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        ("401", "http_401"),
        ("403", "http_403"),
        ("404", "http_404"),
        ("422", "http_422"),
        ("429", "http_429"),
        ("500", "http_500"),
        ("503", "http_503"),
        ("invalid_json", "invalid_json"),
        ("wrong_shape", "invalid_response"),
        ("count_mismatch", "score_count_mismatch"),
        ("nan", "nan_score"),
        ("out_of_range", "score_out_of_range"),
        ("drop", "protocol_error"),
        ("slow:400", "timeout"),
    ],
)
async def test_client_against_each_server_fault(fake, fault, cause):
    fake.fault = fault
    client = DeepInfraClient(endpoint_url=fake.url, api_key="test-key", timeout_ms=150)
    with pytest.raises(BackendError) as info:
        await client.rerank("the goal", ["doc one", "doc two"])
    await client.aclose()
    assert info.value.cause == cause
    assert fake.calls >= 1


async def test_per_request_fault_header_overrides_server_default(fake):
    async with httpx.AsyncClient() as client:
        ok = await client.post(
            fake.url,
            json={"queries": ["q"], "documents": ["d"]},
            headers={"Authorization": "bearer test-key"},
        )
        faulty = await client.post(
            fake.url,
            json={"queries": ["q"], "documents": ["d"]},
            headers={"Authorization": "bearer test-key", FAULT_HEADER: "503"},
        )
    assert ok.status_code == 200
    assert faulty.status_code == 503
    assert fake.calls == 2


async def test_client_success_and_slow_within_timeout(fake):
    fake.fault = "slow:50"
    client = DeepInfraClient(endpoint_url=fake.url, api_key="test-key", timeout_ms=2000)
    result = await client.rerank("upload retry", ["retry the upload", "nothing here"])
    await client.aclose()
    assert result.scores[0] > result.scores[1]
    assert result.input_tokens > 0


async def test_connection_refused_is_connect_error():
    server = FakeDeepInfra()
    await server.start()
    url = server.url
    await server.stop()  # the port is now closed
    client = DeepInfraClient(endpoint_url=url, api_key="test-key", timeout_ms=500)
    with pytest.raises(BackendError) as info:
        await client.rerank("q", ["d"])
    await client.aclose()
    assert info.value.cause == "connect_error"


async def test_any_key_accepted_when_unset():
    server = FakeDeepInfra(api_key=None)
    await server.start()
    try:
        client = DeepInfraClient(endpoint_url=server.url, api_key="whatever", timeout_ms=2000)
        result = await client.rerank("q", ["q"])
        await client.aclose()
    finally:
        await server.stop()
    assert len(result.scores) == 1


def test_cli_serves_until_sigterm():
    code = (
        "import argparse, sys\n"
        "from sidecar.testing.fake_deepinfra import configure, run\n"
        "p = argparse.ArgumentParser(); configure(p)\n"
        "sys.exit(run(p.parse_args(sys.argv[1:])))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--port", "0", "--api-key", "cli-key"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = _pipe(proc).readline()
        assert line.startswith("fake-deepinfra listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1].strip()
        response = httpx.post(
            url,
            json={"queries": ["retry"], "documents": ["retry upload"]},
            headers={"Authorization": "bearer cli-key"},
        )
        assert response.status_code == 200
        assert response.json()["scores"][0] > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        _pipe(proc).close()
