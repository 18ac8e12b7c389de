"""A request with thousands of tool outputs does not block the event loop, and its deadline holds (row 2)."""

from __future__ import annotations

import asyncio
import io
import json
import time

import aiohttp
import pytest

from sidecar.config import load_config
from sidecar.testing.fake_upstream import FakeUpstream
from tests.reliability.conftest import start_full

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


def many_tool_outputs(n: int, size: int = 2600) -> bytes:
    """One chat body with ``n`` tool messages of ``size`` characters each (logs, all different)."""
    messages: list[dict[str, object]] = [{"role": "user", "content": "why does the build fail?"}]
    for i in range(n):
        lines = [
            f"2026-01-01 12:00:{j % 60:02d} INFO step {i}.{j} compiled module_{i}_{j}.o in 3ms"
            for j in range(60)
        ]
        text = "\n".join(lines)[:size]
        call = {
            "id": f"c{i}",
            "type": "function",
            "function": {"name": "bash", "arguments": '{"command":"make"}'},
        }
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": f"c{i}", "content": text})
    return json.dumps({"model": "m", "messages": messages}).encode()


async def probe(url: str, stop: asyncio.Event, worst: list[float]) -> None:
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            started = time.perf_counter()
            async with session.get(url) as resp:
                await resp.read()
            worst.append(time.perf_counter() - started)
            await asyncio.sleep(0.05)


async def test_ten_thousand_tool_outputs_keep_healthz_and_the_deadline(fake: FakeUpstream):
    body = many_tool_outputs(10_000)
    config = load_config(env={"SIDECAR_UPSTREAM_URL": fake.url})
    server = await start_full(config)
    base = str(server.make_url("")).rstrip("/")
    stop, latencies = asyncio.Event(), []
    prober = asyncio.ensure_future(probe(base + "/sidecar/healthz", stop, latencies))  # noqa: TID251
    try:
        await asyncio.sleep(0.2)
        async with aiohttp.ClientSession() as session:
            started = time.perf_counter()
            async with session.post(base + "/v1/chat/completions", data=io.BytesIO(body)) as resp:
                assert resp.status == 200
                added_ms = float(resp.headers["X-Sidecar-Prune-Ms"])
                await resp.read()
            took = time.perf_counter() - started
            await asyncio.sleep(1.0)  # background pruning goes on: probes must still be answered
    finally:
        stop.set()
        await prober
        await server.close()
    deadline_ms = config.pruning.deadline_ms
    assert added_ms <= deadline_ms + 1000, added_ms  # the rewrite of a 27 MB body is part of the added time
    assert took < 10, took
    assert len(latencies) >= 10
    assert max(latencies) < 0.5, sorted(latencies)[-5:]
