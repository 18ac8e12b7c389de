"""Fixtures of the telemetry tests: a traced sidecar, the fake DeepInfra, a real OTLP collector."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sidecar.testing.fake_deepinfra import FakeDeepInfra
from sidecar.testing.fake_upstream import FakeUpstream
from tests.telemetry.support import (
    ROTEL,
    SECRET,
    Sink,
    free_port,
    start_sidecar,
    wait_port,
)


@pytest.fixture
async def sidecar(fake_upstream: FakeUpstream, make_config):
    sc = await start_sidecar(make_config(fake_upstream.url, SIDECAR_MIN_CHARS_TO_PRUNE="500"))
    try:
        yield sc
    finally:
        await sc.server.close()


@pytest.fixture
async def fake_deepinfra():
    fake = FakeDeepInfra(api_key="di-" + SECRET)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


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
