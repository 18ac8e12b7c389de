"""Telemetry service: nothing on the path when off, the span tree, privacy, OTLP to a real collector."""

from __future__ import annotations

import gc
import json
import logging

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from sidecar.app import build_app
from sidecar.pruning.lifecycle import install_pruner
from sidecar.pruning.middleware import install_pruning
from sidecar.telemetry.middleware import TELEMETRY, install_telemetry
from sidecar.testing.fake_upstream import FakeUpstream
from tests.telemetry.support import (
    AGENT_SPAN,
    AGENT_TRACE,
    SECRET,
    Sidecar,
    anthropic_body,
    by_name,
    chat_body,
    deepinfra_sidecar,
    headers,
    hexid,
    post,
    start_sidecar,
    wait_for,
)

pytestmark = pytest.mark.timeout(60)


async def test_disabled_adds_nothing(fake_upstream: FakeUpstream, make_config, caplog):
    caplog.set_level(logging.DEBUG)
    config = make_config(fake_upstream.url)
    bare = build_app(config, installers=[])
    app = build_app(config, installers=[install_telemetry])
    assert len(app.middlewares) == len(bare.middlewares)
    assert len(app.cleanup_ctx) == len(bare.cleanup_ctx)
    assert not app[TELEMETRY].enabled and app[TELEMETRY].tracer_provider is None
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                server.make_url("/v1/chat/completions"), data=chat_body(), headers=headers()
            ) as r:
                assert r.status == 200
                await r.read()
            async with http.get(server.make_url("/sidecar/health")) as r:
                health = await r.json()
    finally:
        await server.close()
    assert health["telemetry"]["enabled"] is False
    # The agent's traceparent goes upstream as it came: we add no span of our own.
    sent = dict(fake_upstream.received[-1].headers)
    assert sent["traceparent"] == f"00-{AGENT_TRACE}-{AGENT_SPAN}-01"
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry")]


async def test_chat_request_span_tree(sidecar: Sidecar, fake_upstream: FakeUpstream):
    status, _, resp_headers = await post(sidecar, "/v1/chat/completions?api-version=" + SECRET, chat_body())
    assert status == 200
    assert int(resp_headers["X-Sidecar-Tokens-Saved"]) > 0
    spans = sidecar.finished()
    assert {s.context.trace_id for s in spans} == {int(AGENT_TRACE, 16)}, "one trace, the agent's"
    [server] = by_name(spans, "POST /v1/chat/completions")
    prunes = by_name(spans, "prune")
    [client] = by_name(spans, "chat gpt-test")
    assert len(spans) == 4 and len(prunes) == 2

    assert server.kind is SpanKind.SERVER and server.parent is not None
    assert hexid(server.parent.span_id) == AGENT_SPAN
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["url.path"] == "/v1/chat/completions"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["sidecar.tokens_saved"] == int(resp_headers["X-Sidecar-Tokens-Saved"])
    assert server.attributes["sidecar.prune.backend"] == "heuristic"

    for p in prunes:
        assert p.parent is not None and p.parent.span_id == server.context.span_id
        a = p.attributes
        assert a["sidecar.prune.backend"] == "heuristic" and a["sidecar.prune.used_fallback"] is False
        assert a["sidecar.prune.tokens_before"] > a["sidecar.prune.tokens_after"]
        assert (
            a["sidecar.prune.tokens_saved"]
            == a["sidecar.prune.tokens_before"] - a["sidecar.prune.tokens_after"]
        )
        assert a["sidecar.prune.latency_ms"] > 0 and a["sidecar.prune.cost_usd"] == 0.0
        assert a["sidecar.prune.cache_hit"] is False and a["sidecar.prune.source_type"] == "code"
        assert a["sidecar.prune.warning_count"] == 0
    assert (
        sum(p.attributes["sidecar.prune.tokens_saved"] for p in prunes)
        == server.attributes["sidecar.tokens_saved"]
    )

    assert client.kind is SpanKind.CLIENT and client.parent is not None
    assert client.parent.span_id == server.context.span_id
    usage = json.loads(fake_upstream.sent[-1])["usage"]
    assert client.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-test",
        "gen_ai.response.model": "gpt-test",
        "server.address": "127.0.0.1",
        "server.port": fake_upstream.port,
        "http.response.status_code": 200,
        "gen_ai.usage.input_tokens": usage["prompt_tokens"],
        "gen_ai.usage.output_tokens": usage["completion_tokens"],
    }
    # The upstream continues the trace under the client span.
    sent = dict(fake_upstream.received[-1].headers)
    assert sent["traceparent"] == f"00-{AGENT_TRACE}-{hexid(client.context.span_id)}-01"
    assert client.start_time >= max(p.end_time for p in prunes)


@pytest.mark.parametrize("sampler", ["parentbased_always_off", "parentbased_always_on"])
async def test_a_request_leaves_no_reference_cycle(fake_upstream: FakeUpstream, make_config, sampler: str):
    """Per-request objects die by reference counting: a cycle would hand every request to the cyclic GC."""
    sc = await start_sidecar(make_config(fake_upstream.url), sampler=sampler)
    small = json.dumps({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}).encode()
    try:
        async with aiohttp.ClientSession() as http:
            gc.collect()
            gc.disable()
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                for _ in range(5):
                    async with http.post(sc.url("/v1/chat/completions"), data=small) as r:
                        assert r.status == 200
                        await r.read()
                gc.collect()
                leaked = {type(o).__name__ for o in gc.garbage} & {"GenAIObserver", "Forward", "Request"}
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
                gc.enable()
    finally:
        await sc.server.close()
    assert leaked == set()


async def test_passthrough_and_own_endpoints(sidecar: Sidecar, fake_upstream: FakeUpstream):
    async with aiohttp.ClientSession() as http:
        async with http.get(sidecar.url("/v1/models?key=" + SECRET)) as r:
            assert r.status == 200
        async with http.get(sidecar.url("/sidecar/health")) as r:
            health = await r.json()
    names = sorted(s.name for s in sidecar.finished())
    assert names == ["GET", "GET /sidecar/health"], "no GenAI span for a non-chat path"
    assert health["telemetry"] == {
        "enabled": True,
        "traces": True,
        "metrics": True,
        "protocol": None,
        "service_name": "sidecar",
        "sampler": "parentbased_always_on",
    }


async def test_deepinfra_span_is_a_child_of_prune(fake_upstream, fake_deepinfra, make_config, monkeypatch):
    sc = await deepinfra_sidecar(fake_upstream, fake_deepinfra, make_config, monkeypatch)
    try:
        status, _, resp_headers = await post(sc, "/v1/chat/completions", chat_body())
        assert status == 200 and resp_headers["X-Sidecar-Backend"] == "deepinfra"
        fake_deepinfra.fault = "500"
        status, _, _ = await post(sc, "/v1/chat/completions", chat_body(salt="x"))
    finally:
        await sc.server.close()
    spans = sc.finished()
    servers = [s for s in spans if s.kind is SpanKind.SERVER]
    assert len(servers) == 2
    first, second = sorted(servers, key=lambda s: s.start_time)
    for server, ok in ((first, True), (second, False)):
        prunes = [s for s in spans if s.name == "prune" and s.parent.span_id == server.context.span_id]
        assert len(prunes) == 2
        for p in prunes:
            [rerank] = [
                s for s in spans if s.name == "deepinfra.rerank" and s.parent.span_id == p.context.span_id
            ]
            assert rerank.kind is SpanKind.CLIENT
            assert rerank.attributes["server.address"] == "127.0.0.1"
            assert rerank.attributes["sidecar.deepinfra.documents"] > 0
            if ok:
                assert p.attributes["sidecar.prune.backend"] == "deepinfra"
                assert p.attributes["sidecar.prune.cost_usd"] > 0
                assert rerank.attributes["http.response.status_code"] == 200
                assert rerank.attributes["sidecar.deepinfra.input_tokens"] > 0
            else:
                assert p.attributes["sidecar.prune.used_fallback"] is True
                assert p.attributes["sidecar.prune.backend"] == "heuristic"
                assert p.attributes["sidecar.prune.warning_count"] >= 1
                assert rerank.attributes["error.type"] == "http_500"
                assert rerank.status.status_code is trace.StatusCode.ERROR


async def test_no_sentinel_in_any_span_metric_or_log(fake_deepinfra, make_config, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    upstream = FakeUpstream(reply=lambda _doc: f"Here you go: {SECRET}\n")
    await upstream.start()
    sc = await deepinfra_sidecar(upstream, fake_deepinfra, make_config, monkeypatch)
    goal = {"X-Sidecar-Goal": f"find {SECRET}"}
    try:
        await post(sc, f"/v1/chat/completions?key={SECRET}", chat_body())
        await post(sc, "/v1/chat/completions", chat_body(stream=True, salt="s"), **goal)
        await post(sc, "/v1/messages", anthropic_body(stream=True))
        await post(sc, "/v1/messages", anthropic_body(stream=False), **{"x-api-key": SECRET})
        fake_deepinfra.fault = "invalid_json"
        await post(sc, "/v1/chat/completions", chat_body(salt="f"))
        fake_deepinfra.fault = "drop"
        await post(sc, "/v1/chat/completions", chat_body(salt="g"))
        upstream.inject("status=500")
        await post(sc, "/v1/chat/completions", chat_body())
    finally:
        await sc.server.close()
        await upstream.stop()
    spans = sc.finished()
    assert {"prune", "deepinfra.rerank", "chat gpt-test", "chat claude-test"} <= {s.name for s in spans}
    exported = [s.to_json() for s in spans]
    assert exported and all(SECRET not in doc for doc in exported)
    metrics_json = sc.collect().to_json()
    assert "gen_ai.client.token.usage" in metrics_json and SECRET not in metrics_json
    logs = [(r.name, r.getMessage()) for r in caplog.records]
    assert any(name == "sidecar.pruning.manager" for name, _ in logs), "the fallbacks were logged"
    assert all(SECRET not in msg for _, msg in logs)


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
async def test_otlp_export_through_a_real_collector(
    collector, fake_upstream, fake_deepinfra, make_config, monkeypatch, caplog, protocol
):
    caplog.set_level(logging.DEBUG)
    sink, endpoints = collector
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoints[protocol])
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "sidecar-it")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "200")
    monkeypatch.setenv("DEEPINFRA_API_KEY", "di-" + SECRET)
    config = make_config(
        fake_upstream.url,
        KIMI_PRUNING_BACKEND="deepinfra",
        DEEPINFRA_ENDPOINT_URL=fake_deepinfra.url,
        SIDECAR_MIN_CHARS_TO_PRUNE="500",
    )
    app = build_app(config, installers=[install_telemetry, install_pruner, install_pruning])
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(access_log=None)
    try:
        async with aiohttp.ClientSession() as http:
            url = server.make_url("/v1/chat/completions")
            async with http.post(url, data=chat_body(stream=True), headers=headers()) as r:
                assert r.status == 200 and r.headers["X-Sidecar-Backend"] == "deepinfra"
                await r.read()
        await wait_for(lambda: "sidecar.prune.calls" in sink.metric_names())  # periodic export, while running
    finally:
        await server.close()  # flushes the spans and the last metrics
    await wait_for(lambda: len(sink.spans()) >= 6)

    spans = sink.spans()
    names = sorted(span.name for _, span in spans)
    assert names == [
        "POST /v1/chat/completions",
        "chat gpt-test",
        "deepinfra.rerank",
        "deepinfra.rerank",
        "prune",
        "prune",
    ]
    resource = {a.key: a.value.string_value for a in spans[0][0].attributes}
    assert resource["service.name"] == "sidecar-it"
    by = {span.name: span for _, span in spans}
    server_span, client = by["POST /v1/chat/completions"], by["chat gpt-test"]
    assert {span.trace_id.hex() for _, span in spans} == {AGENT_TRACE}
    assert server_span.parent_span_id.hex() == AGENT_SPAN
    assert server_span.kind == server_span.SPAN_KIND_SERVER and client.kind == client.SPAN_KIND_CLIENT
    assert client.parent_span_id == server_span.span_id
    prunes = [span for _, span in spans if span.name == "prune"]
    assert all(p.parent_span_id == server_span.span_id for p in prunes)
    reranks = [span for _, span in spans if span.name == "deepinfra.rerank"]
    assert sorted(r.parent_span_id for r in reranks) == sorted(p.span_id for p in prunes)
    attrs = {a.key: a.value for a in client.attributes}
    assert (
        attrs["gen_ai.usage.input_tokens"].int_value > 0 and attrs["gen_ai.usage.output_tokens"].int_value > 0
    )
    assert (
        dict(fake_upstream.received[-1].headers)["traceparent"]
        == f"00-{AGENT_TRACE}-{client.span_id.hex()}-01"
    )

    assert {
        "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage",
        "sidecar.prune.tokens_saved",
    } <= (sink.metric_names())
    assert all(SECRET.encode() not in raw for raw in sink.raw)
    assert all(SECRET not in r.getMessage() for r in caplog.records)
