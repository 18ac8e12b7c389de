"""Sampling and propagation (sidecar.telemetry.tracing): rate limits, sampled-out requests, traceparent."""

from __future__ import annotations

import json

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from sidecar.app import build_app
from sidecar.errors import ConfigError
from sidecar.telemetry.metrics import InMemoryMetricExporter
from sidecar.telemetry.middleware import telemetry_installer
from sidecar.telemetry.service import Telemetry
from sidecar.telemetry.settings import TelemetrySettings, settings_from_env
from sidecar.telemetry.tracing import RateLimitingSampler
from sidecar.testing.fake_upstream import FakeUpstream
from tests.telemetry.support import (
    AGENT_SPAN,
    AGENT_TRACE,
    Sidecar,
    chat_body,
    headers,
    hexid,
    post,
    start_sidecar,
)

pytestmark = pytest.mark.timeout(60)


def test_default_sampler_is_rate_limited_and_parent_based():
    s = settings_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert (s.sampler, s.sampler_arg) == ("parentbased_ratelimiting", 100.0)
    s = settings_from_env({"OTEL_TRACES_SAMPLER": "ratelimiting", "OTEL_TRACES_SAMPLER_ARG": "5"})
    assert (s.sampler, s.sampler_arg) == ("ratelimiting", 5.0)
    with pytest.raises(ConfigError, match="^OTEL_TRACES_SAMPLER_ARG: "):
        settings_from_env({"OTEL_TRACES_SAMPLER": "parentbased_ratelimiting", "OTEL_TRACES_SAMPLER_ARG": "0"})


def test_rate_limiting_sampler_refills():
    now = [0.0]
    sampler = RateLimitingSampler(2.0, clock=lambda: now[0])
    decide = [sampler.should_sample(None, 1, "x").decision.is_sampled() for _ in range(4)]
    assert decide == [True, True, False, False]  # a burst of one second's worth
    now[0] = 0.5
    assert [sampler.should_sample(None, 1, "x").decision.is_sampled() for _ in range(2)] == [True, False]


async def test_rate_limit_applies_to_new_traces_only(fake_upstream: FakeUpstream, make_config):
    sc = await start_sidecar(make_config(fake_upstream.url), sampler="parentbased_ratelimiting", arg=1.0)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(3):  # new traces: one a second
                async with http.post(sc.url("/v1/chat/completions"), data=chat_body()) as r:
                    assert r.status == 200
            sent = [dict(rec.headers).get("traceparent") for rec in fake_upstream.received]
            for _ in range(2):  # the agent's sampled traces are always continued
                await post(sc, "/v1/chat/completions", chat_body())
    finally:
        await sc.server.close()
    servers = [s for s in sc.finished() if s.kind is SpanKind.SERVER]
    assert len(servers) == 3 and sum(hexid(s.context.trace_id, 32) == AGENT_TRACE for s in servers) == 2
    assert sent[0] is not None and sent[0].endswith("-01") and sent[1:] == [None, None], (
        "a traced request's client span goes upstream; a new trace sampled out sends none"
    )
    # Metrics count every request, sampled or not.
    [(_, duration)] = sc.metrics()["gen_ai.client.operation.duration"]
    assert duration.count == 5 and sum(duration.bucket_counts) == 5


async def test_unsampled_parent_records_nothing_but_propagates(sidecar: Sidecar, fake_upstream: FakeUpstream):
    async with aiohttp.ClientSession() as http:
        h = headers(traceparent=f"00-{AGENT_TRACE}-{AGENT_SPAN}-00")
        async with http.post(sidecar.url("/v1/chat/completions"), data=chat_body(), headers=h) as r:
            assert r.status == 200
    assert sidecar.finished() == []
    sent = dict(fake_upstream.received[-1].headers)["traceparent"]
    assert sent.startswith(f"00-{AGENT_TRACE}-") and sent.endswith("-00")


async def test_sampled_out_request_creates_no_span_and_still_moves_the_metrics(
    fake_upstream: FakeUpstream, make_config, monkeypatch
):
    sc = await start_sidecar(make_config(fake_upstream.url), sampler="parentbased_always_off")
    tel = sc.telemetry
    started: list[str] = []
    real_start = tel.tracer.start_span

    def counting_start(name, *args, **kwargs):
        started.append(name)
        return real_start(name, *args, **kwargs)

    def no_sdk_sampling(*args, **kwargs):
        raise AssertionError("the SDK sampler was asked about a request already sampled out")

    monkeypatch.setattr(tel.tracer, "start_span", counting_start)
    monkeypatch.setattr(tel.sampler, "should_sample", no_sdk_sampling)
    small = json.dumps({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}).encode()
    stream = json.dumps(
        {
            "model": "gpt-test",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "hi"}],
        }
    ).encode()
    try:
        async with aiohttp.ClientSession() as http:
            for body in (small, small, stream):
                async with http.post(sc.url("/v1/chat/completions"), data=body) as r:
                    assert r.status == 200
                    await r.read()
        sent = [dict(rec.headers).get("traceparent") for rec in fake_upstream.received]
        m = sc.metrics()
    finally:
        await sc.server.close()
    assert started == [] and sc.finished() == []
    assert sent == [None, None, None], "no trace context of our own for a new trace sampled out"
    [(attrs, duration)] = m["gen_ai.client.operation.duration"]
    assert duration.count == 3 and attrs["gen_ai.request.model"] == "gpt-test"
    tokens = {a["gen_ai.token.type"]: p for a, p in m["gen_ai.client.token.usage"]}
    assert tokens["input"].count == 3 and tokens["output"].count == 3 and tokens["input"].sum > 0
    [(_, ttfb)] = m["sidecar.upstream.time_to_first_byte"]
    assert ttfb.count == 1, "the streamed answer's first byte"


async def test_spans_inside_a_sampled_out_request_continue_it(sidecar: Sidecar, fake_upstream: FakeUpstream):
    """A prune span of an unsampled request is an unsampled child, never the root of a new trace."""
    parents = []
    inner = sidecar.telemetry.sampler.inner

    class Recording(type(inner)):  # type: ignore[misc]
        pass

    def record(parent_context, trace_id, name, *args, **kwargs):
        parents.append((name, trace.get_current_span(parent_context).get_span_context()))
        return type(inner).should_sample(inner, parent_context, trace_id, name, *args, **kwargs)

    sidecar.telemetry.sampler.inner = Recording.__new__(Recording)
    sidecar.telemetry.sampler.inner.__dict__.update(inner.__dict__)
    sidecar.telemetry.sampler.inner.should_sample = record  # type: ignore[method-assign]
    status, _, resp = await post(
        sidecar, "/v1/chat/completions", chat_body(), traceparent=f"00-{AGENT_TRACE}-{AGENT_SPAN}-00"
    )
    assert status == 200 and int(resp["X-Sidecar-Tokens-Saved"]) > 0
    assert sidecar.finished() == []
    assert [name for name, _ in parents] == ["prune", "prune"]
    for _, parent in parents:
        assert parent.is_valid and not parent.trace_flags.sampled
        assert hexid(parent.trace_id, 32) == AGENT_TRACE and hexid(parent.span_id) == AGENT_SPAN


async def test_routed_and_audited_calls_carry_the_traceparent(fake_upstream, tmp_path, monkeypatch):
    from sidecar.routing.middleware import install_routing
    from sidecar.testing.fake_upstream import Profile, routing_reply
    from tests.routing.support import KEYS, PROVIDERS, key_env, write_config

    for name, key in KEYS.items():
        monkeypatch.setenv(key_env(name), key)
    fake = FakeUpstream(profiles={name: Profile() for name in PROVIDERS}, reply=routing_reply)
    await fake.start()
    spans = InMemorySpanExporter()
    tel = Telemetry(
        TelemetrySettings(sampler="parentbased_always_on"),
        span_exporter=spans,
        metric_exporter=InMemoryMetricExporter(),
    )
    app = build_app(write_config(tmp_path, fake.url), installers=[telemetry_installer(tel), install_routing])
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "write parse_port"}]})
    try:
        async with aiohttp.ClientSession() as http:
            h = headers(**{"X-Sidecar-Mode": "double-check"})
            async with http.post(server.make_url("/v1/chat/completions"), data=body, headers=h) as r:
                assert r.status == 200 and r.headers["X-Sidecar-Audit"] == "pass"
                await r.read()
    finally:
        await server.close()
        await fake.stop()
    sent = {rec.profile: dict(rec.headers).get("traceparent") for rec in fake.received}
    [client] = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    expected = f"00-{AGENT_TRACE}-{hexid(client.context.span_id)}-01"
    assert sent == {"deepseek": expected, "gemini": expected}, "executor and auditor continue the trace"
