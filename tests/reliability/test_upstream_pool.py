"""Every pooled upstream connection busy: a new request waits a bounded time, then gets 503 (row 11)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from sidecar.config import load_config
from sidecar.testing.fake_upstream import FakeUpstream
from tests.reliability.conftest import start_full

pytestmark = pytest.mark.timeout(60)

BODY = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'


async def test_a_full_pool_answers_503_after_the_pool_timeout(fake: FakeUpstream, tmp_path: Path):
    path = tmp_path / "c.toml"
    path.write_text(f'[upstream]\nurl = "{fake.url}"\nmax_connections = 2\npool_timeout_s = 0.5\n')
    server = await start_full(load_config(str(path), env={}))
    base = str(server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession() as session:
            stalled = [
                asyncio.ensure_future(  # noqa: TID251 - test-local tasks, awaited or cancelled below
                    session.post(base + "/v1/chat/completions", data=BODY, headers={"X-Fake-Fault": "stall"})
                )
                for _ in range(2)
            ]
            while len(fake.received) < 2:
                await asyncio.sleep(0.01)
            started = time.monotonic()
            async with session.post(base + "/v1/chat/completions", data=BODY) as resp:
                waited = time.monotonic() - started
                doc = await resp.json()
                assert resp.status == 503, doc
                assert doc["error"]["type"] == "upstream_pool_exhausted"
                assert resp.headers["Retry-After"] == "1"
            assert 0.4 <= waited < 3.0
            async with session.get(base + "/sidecar/health") as health:
                assert (await health.json())["proxy"]["upstream_errors"]["pool_timeout"] == 1
            for task in stalled:
                task.cancel()
            await asyncio.gather(*stalled, return_exceptions=True)
    finally:
        await server.close()


async def test_a_free_slot_is_used_as_soon_as_it_frees(fake: FakeUpstream, tmp_path: Path):
    path = tmp_path / "c.toml"
    path.write_text(f'[upstream]\nurl = "{fake.url}"\nmax_connections = 1\npool_timeout_s = 5\n')
    server = await start_full(load_config(str(path), env={}))
    base = str(server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession() as session:
            results = await asyncio.gather(
                *(session.post(base + "/v1/chat/completions", data=BODY) for _ in range(5))
            )
            assert [r.status for r in results] == [200] * 5
            for r in results:
                r.release()
    finally:
        await server.close()
