"""Shared helpers of the telemetry tests: bodies, a sidecar with an in-memory exporter, a real collector."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from pathlib import Path

import aiohttp
import rotel
from aiohttp import web
from aiohttp.test_utils import TestServer
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sidecar.app import build_app
from sidecar.pruning.lifecycle import install_pruner
from sidecar.pruning.middleware import install_pruning
from sidecar.telemetry.metrics import InMemoryMetricExporter
from sidecar.telemetry.middleware import telemetry_installer
from sidecar.telemetry.service import Telemetry
from sidecar.telemetry.settings import TelemetrySettings

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
        assert isinstance(self.exporter, InMemoryMetricExporter)

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
        metric_exporter=InMemoryMetricExporter(),
    )
    app = build_app(config, installers=[telemetry_installer(tel), install_pruner, install_pruning])
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(access_log=None)  # as `sidecar serve` runs it
    return Sidecar(server, tel, spans)


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


async def post(sc: Sidecar, path: str, body: bytes, **extra: str) -> tuple[int, bytes, dict[str, str]]:
    async with aiohttp.ClientSession() as http:
        async with http.post(sc.url(path), data=body, headers=headers(**extra)) as r:
            return r.status, await r.read(), dict(r.headers)


def total(points, **match) -> float:
    return sum(p.value for a, p in points if all(a.get(k) == v for k, v in match.items()))


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


def tm_config():
    from sidecar.config import load_config

    return load_config(env={"SIDECAR_UPSTREAM_URL": "http://127.0.0.1:9"})


async def deepinfra_sidecar(fake_upstream, fake_deepinfra, make_config, monkeypatch) -> Sidecar:
    monkeypatch.setenv("DEEPINFRA_API_KEY", "di-" + SECRET)
    config = make_config(
        fake_upstream.url,
        KIMI_PRUNING_BACKEND="deepinfra",
        DEEPINFRA_ENDPOINT_URL=fake_deepinfra.url,
        SIDECAR_MIN_CHARS_TO_PRUNE="500",
    )
    return await start_sidecar(config)
