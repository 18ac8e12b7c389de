"""Slow and idle clients are timed out: head, body, keep-alive (row 10), against a real `sidecar serve`."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from sidecar.testing.fake_upstream import FakeUpstream
from tests.test_server import free_port

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[int]:
    fake = FakeUpstream()
    await fake.start()
    port = free_port()
    config = tmp_path / "c.toml"
    config.write_text("[server]\nheader_timeout_s = 1.0\nbody_timeout_s = 1.0\nkeepalive_timeout_s = 2.0\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar", "serve", "--port", str(port), "--upstream", fake.url,
        "--config", str(config), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert b"listening on" in await asyncio.wait_for(proc.stdout.readline(), 30)
        yield port
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        await fake.stop()


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> tuple[bool, bytes]:
    """Return (closed by the server within ``seconds``, what it sent before closing)."""
    got = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), deadline - time.monotonic())
        except TimeoutError:
            return False, got
        except ConnectionError:
            return True, got
        if not chunk:
            return True, got
        got += chunk
    return False, got


async def test_slow_heads_and_silent_connections_are_closed(serve: int):
    port = serve
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(40)]
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    started = time.monotonic()

    async def trickle(writer: asyncio.StreamWriter) -> None:
        try:
            for i in range(len(head)):
                writer.write(head[i : i + 1])
                await writer.drain()
                await asyncio.sleep(0.1)
        except ConnectionError:
            pass

    tricklers = [asyncio.ensure_future(trickle(w)) for _, w in conns[:20]]  # noqa: TID251 - test tasks
    results = await asyncio.gather(*(closed_within(r, 4.0) for r, _ in conns))
    elapsed = time.monotonic() - started
    for task in tricklers:
        task.cancel()
    await asyncio.gather(*tricklers, return_exceptions=True)
    for _, writer in conns:
        writer.close()
    assert all(closed for closed, _ in results), [closed for closed, _ in results]
    assert elapsed < 4.0
    # The server still serves a prompt client.
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/sidecar/health") as resp:
            doc = await resp.json()
    assert doc["proxy"]["requests_rejected"]["head_timeout"] >= 40


async def test_a_slow_body_gets_408(serve: int):
    reader, writer = await asyncio.open_connection("127.0.0.1", serve)
    writer.write(b'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"model"')
    await writer.drain()
    started = time.monotonic()
    answer = await asyncio.wait_for(reader.readuntil(b"}}"), 5.0)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"request_timeout" in answer and b"Connection: close" in answer
    assert 0.8 <= time.monotonic() - started < 4.0


async def test_idle_keepalive_is_closed_but_a_prompt_client_is_served(serve: int):
    reader, writer = await asyncio.open_connection("127.0.0.1", serve)
    writer.write(b"GET /sidecar/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    first = await asyncio.wait_for(reader.readuntil(b"}"), 5)
    assert first.startswith(b"HTTP/1.1 200 ")
    started = time.monotonic()
    closed, _ = await closed_within(reader, 6.0)
    writer.close()
    assert closed and 1.5 <= time.monotonic() - started < 6.0
