"""SIGTERM ends all within drain_delay_s + shutdown_timeout_s, streams and a dead collector too (row 7)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from sidecar.testing.fake_upstream import FakeUpstream
from tests.test_server import free_port

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

STREAM = json.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": "go"}]})
MARGIN_S = 1.5  # interpreter start-up is not in it; exit and teardown after the bound are


async def start(tmp_path: Path, upstream: str, toml: str, env: dict[str, str] | None = None):
    port = free_port()
    config = tmp_path / "c.toml"
    config.write_text(toml)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar", "serve", "--port", str(port), "--upstream", upstream,
        "--config", str(config), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=tmp_path,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert proc.stdout is not None
    assert b"listening on" in await asyncio.wait_for(proc.stdout.readline(), 30)
    return proc, f"http://127.0.0.1:{port}"


async def stop_and_time(proc: asyncio.subprocess.Process) -> float:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return time.monotonic() - started


async def test_long_streams_end_within_drain_plus_timeout(tmp_path: Path):
    fake = FakeUpstream(chunk_ms=5000)  # 8 chunks: a 40 s stream
    await fake.start()
    proc, url = await start(tmp_path, fake.url, "[server]\ndrain_delay_s = 1.0\nshutdown_timeout_s = 3.0\n")
    try:
        async with aiohttp.ClientSession() as session:
            streams = [await session.post(url + "/v1/chat/completions", data=STREAM) for _ in range(4)]
            assert all(s.status == 200 for s in streams)
            took = await stop_and_time(proc)
            for s in streams:
                s.close()
    finally:
        await fake.stop()
    assert took <= 1.0 + 3.0 + MARGIN_S, took
    assert took >= 1.0 + 2.0  # the streams were given their time first


async def test_idle_exit_with_the_collector_down_is_bounded(tmp_path: Path):
    dead = free_port()  # nothing listens there
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{dead}", "OTEL_METRIC_EXPORT_INTERVAL": "600000"}
    fake = FakeUpstream()
    await fake.start()
    proc, url = await start(tmp_path, fake.url, "[server]\nshutdown_timeout_s = 2.0\n", env)
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(20):  # spans and metrics to flush
                async with session.post(
                    url + "/v1/chat/completions", data=STREAM.replace("true", "false")
                ) as r:
                    await r.read()
        took = await stop_and_time(proc)
    finally:
        await fake.stop()
    assert took <= 2.0 + MARGIN_S, took
