"""Telemetry: OTEL_* settings, span tree and attributes, metrics against health, privacy, OTLP export."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import socket
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
import rotel
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy
from opentelemetry import trace
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from sidecar.app import build_app
from sidecar.errors import ConfigError
from sidecar.proxy.forward import Forward
from sidecar.pruning.lifecycle import install_pruner
from sidecar.pruning.middleware import install_pruning
from sidecar.telemetry import service as tm
from sidecar.telemetry.genai import GenAIObserver
from sidecar.telemetry.metrics import GenAIMetrics
from sidecar.telemetry.service import (
    DURATION_BUCKETS,
    TOKEN_BUCKETS,
    Telemetry,
    TelemetrySettings,
    install_telemetry,
    settings_from_env,
    telemetry_installer,
)
from sidecar.testing.fake_deepinfra import FakeDeepInfra
from sidecar.testing.fake_upstream import FakeUpstream, count_received_tokens
from sidecar.tokens import estimate_tokens

pytestmark = pytest.mark.timeout(60)

SECRET = "SENTINEL-7f3a9c"  # must never leave the sidecar in telemetry
AGENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
AGENT_SPAN = "00f067aa0ba902b7"


def tool_output(name: str, lines: int = 160) -> str:
    """A realistic chunk of code as a tool returned it, with the sentinel buried inside."""
    out = [f"# {name}.py"]
    for i in range(lines):
        if i == lines // 2:
            out.append(f"API_TOKEN = '{SECRET}'  # do not print")
        elif i % 8 == 0:
            out.append(f"def helper_{name}_{i}(value: int) -> int:")
        else:
            out.append(f"    value = value * {i} + len('{name}{i}')  # arithmetic step {i}")
    out.append("def parse_port(value: str) -> int:")
    out.append("    return int(value)")
    return "\n".join(out)


def chat_body(*, stream: bool = False, model: str = "gpt-test", salt: str = "") -> bytes:
    messages = [
        {"role": "system", "content": "You are a coding agent."},
        {"role": "user", "content": f"Fix parse_port so it rejects bad ports. {SECRET}"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "read", "arguments": '{"p":"a.py"}'}},
                {"id": "c2", "type": "function", "function": {"name": "read", "arguments": '{"p":"b.py"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": tool_output("alpha" + salt)},
        {"role": "tool", "tool_call_id": "c2", "content": tool_output("beta" + salt)},
    ]
    doc: dict[str, object] = {"model": model, "messages": messages}
    if stream:
        doc["stream"] = True
        doc["stream_options"] = {"include_usage": True}
    return json.dumps(doc).encode()


def anthropic_body(*, stream: bool) -> bytes:
    doc = {
        "model": "claude-test",
        "max_tokens": 256,
        "stream": stream,
        "messages": [
            {"role": "user", "content": f"Fix parse_port. {SECRET}"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "read", "input": {}}]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": tool_output("gamma")}],
            },
        ],
    }
    return json.dumps(doc).encode()


class Sidecar:
    """A sidecar with in-memory exporters, in front of the fake upstream."""

    def __init__(self, server: TestServer, telemetry: Telemetry, spans: InMemorySpanExporter) -> None:
        self.server, self.telemetry, self.spans = server, telemetry, spans
        self.exporter = telemetry._metric_exporter
        assert isinstance(self.exporter, tm.InMemoryMetricExporter)

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def collect(self):
        self.telemetry.flush_metrics()
        return self.exporter.exported[-1] if self.exporter.exported else None

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def metrics(self) -> dict[str, list[tuple[dict[str, object], object]]]:
        """name -> [(attributes, point)] from one collection."""
        data = self.collect()
        out: dict[str, list[tuple[dict[str, object], object]]] = {}
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for point in metric.data.data_points:
                        out.setdefault(metric.name, []).append((dict(point.attributes or {}), point))
        return out


async def start_sidecar(config, *, sampler: str = "parentbased_always_on", arg: float = 1.0) -> Sidecar:
    spans = InMemorySpanExporter()
    tel = Telemetry(
        TelemetrySettings(sampler=sampler, sampler_arg=arg),
        span_exporter=spans,
        metric_exporter=tm.InMemoryMetricExporter(),
    )
    app = build_app(config, installers=[telemetry_installer(tel), install_pruner, install_pruning])
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(access_log=None)  # as `sidecar serve` runs it
    return Sidecar(server, tel, spans)


@pytest.fixture
async def sidecar(fake_upstream: FakeUpstream, make_config):
    sc = await start_sidecar(make_config(fake_upstream.url, SIDECAR_MIN_CHARS_TO_PRUNE="500"))
    try:
        yield sc
    finally:
        await sc.server.close()


def headers(**extra: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer sk-{SECRET}",
        "Content-Type": "application/json",
        "traceparent": f"00-{AGENT_TRACE}-{AGENT_SPAN}-01",
        **extra,
    }


def by_name(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def hexid(n: int, width: int = 16) -> str:
    return f"{n:0{width}x}"


# --- settings ----------------------------------------------------------------------------------------


def test_no_endpoint_means_disabled():
    s = settings_from_env({})
    assert not s.enabled and s.traces is None and s.metrics is None
    assert not settings_from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}
    ).enabled


def test_endpoints_and_protocols():
    s = settings_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/", "OTEL_SERVICE_NAME": "pod-a"})
    assert s.enabled and s.service_name == "pod-a"
    assert s.traces == tm.Export(endpoint="http://c:4318/v1/traces", protocol="http/protobuf")
    assert s.metrics == tm.Export(endpoint="http://c:4318/v1/metrics", protocol="http/protobuf")
    g = settings_from_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m:9/custom",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.25",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,team=a%2Cb",
        }
    )
    assert g.traces == tm.Export(endpoint="http://c:4317", protocol="grpc")
    assert g.metrics == tm.Export(endpoint="http://m:9/custom", protocol="http/protobuf")
    assert (g.sampler, g.sampler_arg) == ("parentbased_traceidratio", 0.25)
    assert g.resource_attributes == {"deployment.environment": "prod", "team": "a,b"}
    only = settings_from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_METRICS_EXPORTER": "none"}
    )
    assert only.traces is not None and only.metrics is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://c"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json"),
        ("OTEL_SDK_DISABLED", "maybe"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_RESOURCE_ATTRIBUTES", "a=1,novalue"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "-5"),
    ],
)
def test_invalid_values_name_the_variable(name: str, value: str, monkeypatch):
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", name: value}
    with pytest.raises(ConfigError, match=f"^{name}: "):
        settings_from_env(env)
    # The installer reads the environment when the app is built: start-up stops there.
    for key, val in env.items():
        monkeypatch.setenv(key, val)
    with pytest.raises(ConfigError, match=f"^{name}: "):
        build_app(tm_config(), installers=[install_telemetry])


def test_default_sampler_is_rate_limited_and_parent_based():
    s = settings_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert (s.sampler, s.sampler_arg) == ("parentbased_ratelimiting", 100.0)
    s = settings_from_env({"OTEL_TRACES_SAMPLER": "ratelimiting", "OTEL_TRACES_SAMPLER_ARG": "5"})
    assert (s.sampler, s.sampler_arg) == ("ratelimiting", 5.0)
    with pytest.raises(ConfigError, match="^OTEL_TRACES_SAMPLER_ARG: "):
        settings_from_env({"OTEL_TRACES_SAMPLER": "parentbased_ratelimiting", "OTEL_TRACES_SAMPLER_ARG": "0"})


def test_rate_limiting_sampler_refills():
    now = [0.0]
    sampler = tm.RateLimitingSampler(2.0, clock=lambda: now[0])
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


def test_sampler_arg_out_of_range():
    with pytest.raises(ConfigError, match="^OTEL_TRACES_SAMPLER_ARG: "):
        settings_from_env({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"})


def test_endpoint_error_does_not_echo_credentials():
    with pytest.raises(ConfigError) as info:
        settings_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": f"user:{SECRET}@collector"})
    assert SECRET not in str(info.value)


def tm_config():
    from sidecar.config import load_config

    return load_config(env={"SIDECAR_UPSTREAM_URL": "http://127.0.0.1:9"})


# --- disabled: nothing on the request path -----------------------------------------------------------


async def test_disabled_adds_nothing(fake_upstream: FakeUpstream, make_config, caplog):
    caplog.set_level(logging.DEBUG)
    config = make_config(fake_upstream.url)
    bare = build_app(config, installers=[])
    app = build_app(config, installers=[install_telemetry])
    assert len(app.middlewares) == len(bare.middlewares)
    assert len(app.cleanup_ctx) == len(bare.cleanup_ctx)
    assert not app[tm.TELEMETRY].enabled and app[tm.TELEMETRY].tracer_provider is None
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


# --- the span tree -----------------------------------------------------------------------------------


async def post(sc: Sidecar, path: str, body: bytes, **extra: str) -> tuple[int, bytes, dict[str, str]]:
    async with aiohttp.ClientSession() as http:
        async with http.post(sc.url(path), data=body, headers=headers(**extra)) as r:
            return r.status, await r.read(), dict(r.headers)


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
    from tests.routing.test_middleware import KEYS, PROVIDERS, key_env, write_config

    for name, key in KEYS.items():
        monkeypatch.setenv(key_env(name), key)
    fake = FakeUpstream(profiles={name: Profile() for name in PROVIDERS}, reply=routing_reply)
    await fake.start()
    spans = InMemorySpanExporter()
    tel = Telemetry(
        TelemetrySettings(sampler="parentbased_always_on"),
        span_exporter=spans,
        metric_exporter=tm.InMemoryMetricExporter(),
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


# --- DeepInfra: server -> prune -> deepinfra.rerank --------------------------------------------------


@pytest.fixture
async def fake_deepinfra():
    fake = FakeDeepInfra(api_key="di-" + SECRET)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


async def deepinfra_sidecar(fake_upstream, fake_deepinfra, make_config, monkeypatch) -> Sidecar:
    monkeypatch.setenv("DEEPINFRA_API_KEY", "di-" + SECRET)
    config = make_config(
        fake_upstream.url,
        KIMI_PRUNING_BACKEND="deepinfra",
        DEEPINFRA_ENDPOINT_URL=fake_deepinfra.url,
        SIDECAR_MIN_CHARS_TO_PRUNE="500",
    )
    return await start_sidecar(config)


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


# --- metrics agree with /sidecar/health --------------------------------------------------------------


def total(points, **match) -> float:
    return sum(p.value for a, p in points if all(a.get(k) == v for k, v in match.items()))


async def test_metrics_match_health(fake_upstream, fake_deepinfra, make_config, monkeypatch):
    sc = await deepinfra_sidecar(fake_upstream, fake_deepinfra, make_config, monkeypatch)
    try:
        await post(sc, "/v1/chat/completions", chat_body())  # 2 DeepInfra calls
        await post(sc, "/v1/chat/completions", chat_body())  # 2 cache hits
        fake_deepinfra.fault = "429"
        await post(sc, "/v1/chat/completions", chat_body(stream=True, salt="x"))  # 2 fallbacks
        async with aiohttp.ClientSession() as http:
            async with http.get(sc.url("/sidecar/health")) as r:
                health = await r.json()
        m = sc.metrics()
    finally:
        await sc.server.close()
    p = health["pruning"]
    calls = m["sidecar.prune.calls"]
    assert total(calls) == p["calls_total"] == 6
    assert (
        total(calls, **{"sidecar.prune.requested_backend": "deepinfra", "sidecar.prune.cache_hit": False})
        == (p["calls_deepinfra"])
    )
    assert p["calls_deepinfra"] == 4
    fallbacks = total(
        calls,
        **{
            "sidecar.prune.requested_backend": "deepinfra",
            "sidecar.prune.cache_hit": False,
            "sidecar.prune.used_fallback": True,
        },
    )
    assert fallbacks == p["fallbacks_deepinfra"] == 2
    assert total(m["sidecar.prune.cache.hits"]) == p["cache_hits"] == 2
    assert total(m["sidecar.prune.cache.misses"]) == p["cache_misses"] == 4
    assert total(m["sidecar.prune.tokens_saved"]) == p["tokens_saved_total"] > 0
    assert total(m["sidecar.prune.tokens_before"]) == p["tokens_before_total"]
    assert (
        total(m["sidecar.prune.cost"]) == pytest.approx(p["cost_estimated_total_usd"])
        and p["cost_estimated_total_usd"] > 0
    )
    assert sum(pt.count for _, pt in m["sidecar.prune.duration"]) == 6
    proxy = health["proxy"]
    assert total(m["sidecar.upstream.requests"]) == proxy["upstream_requests"] == 3
    assert total(m["sidecar.requests"]) == proxy["requests_total"] == 4


# --- privacy -----------------------------------------------------------------------------------------


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


# --- integration: OTLP to a real collector process ---------------------------------------------------

ROTEL = Path(rotel.__file__).parent / "rotel-agent"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sink:
    """What the collector forwarded to us over OTLP/HTTP, decoded with opentelemetry-proto."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.traces: list[ExportTraceServiceRequest] = []
        self.metrics: list[ExportMetricsServiceRequest] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/traces", self.on_traces)
        app.router.add_post("/v1/metrics", self.on_metrics)
        return app

    async def on_traces(self, request: web.Request) -> web.Response:
        body = await request.read()  # aiohttp inflates the collector's gzip
        self.raw.append(body)
        self.traces.append(ExportTraceServiceRequest.FromString(body))
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def on_metrics(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.raw.append(body)
        self.metrics.append(ExportMetricsServiceRequest.FromString(body))
        return web.Response(body=b"", content_type="application/x-protobuf")

    def spans(self):
        return [
            (rs.resource, span)
            for req in self.traces
            for rs in req.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]

    def metric_names(self) -> set[str]:
        return {
            m.name
            for req in self.metrics
            for rm in req.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        }


async def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the collector")
        await asyncio.sleep(0.05)


async def wait_port(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, "the collector exited"
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return


@pytest.fixture
async def collector(aiohttp_server, tmp_path: Path):
    """rotel (a real OTLP collector) on loopback, forwarding everything to a Sink over OTLP/HTTP."""
    sink = Sink()
    sink_server = await aiohttp_server(sink.app(), host="127.0.0.1")
    grpc_port, http_port = free_port(), free_port()
    log_path = tmp_path / "rotel.out"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(ROTEL),
                "start",
                "--otlp-grpc-endpoint",
                f"127.0.0.1:{grpc_port}",
                "--otlp-http-endpoint",
                f"127.0.0.1:{http_port}",
                "--exporter",
                "otlp",
                "--otlp-exporter-protocol",
                "http",
                "--otlp-exporter-endpoint",
                str(sink_server.make_url("")).rstrip("/"),
                "--batch-timeout",
                "50ms",
                "--pid-file",
                str(tmp_path / "rotel.pid"),
                "--log-file",
                str(tmp_path / "rotel.log"),
            ],  # fmt: skip
            stdout=out,
            stderr=subprocess.STDOUT,
            env={"PATH": os.environ.get("PATH", "")},
        )
    try:
        await wait_port(http_port, proc)
        await wait_port(grpc_port, proc)
        yield (
            sink,
            {"grpc": f"http://127.0.0.1:{grpc_port}", "http/protobuf": f"http://127.0.0.1:{http_port}"},
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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


def test_grpc_without_the_extra_is_a_clear_start_up_error(monkeypatch):
    import importlib.util

    import sidecar.telemetry.settings as settings_module

    real = importlib.util.find_spec

    def without_grpc(name, *args):
        return None if name.startswith("opentelemetry.exporter.otlp.proto.grpc") else real(name, *args)

    monkeypatch.setattr(settings_module.importlib.util, "find_spec", without_grpc)
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    with pytest.raises(ConfigError, match=r"OTEL_EXPORTER_OTLP_PROTOCOL: .*pip install 'sidecar\[grpc\]'"):
        settings_from_env(env)
    assert settings_from_env({**env, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}).enabled
