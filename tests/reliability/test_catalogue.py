"""The reliability suite: every hostile input of sidecar.testing.hostile through every path and header set.

Asserted for each: no 5xx from the sidecar itself, a body that is not a prunable chat request forwarded
byte-identical when no transform was asked, the sentinels never in the log (at DEBUG), health probes
answered afterwards. Telemetry is on (in memory), providers point at the fake, keys are set.
"""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

import aiohttp
import pytest

from sidecar.config import load_config
from sidecar.testing.fake_upstream import FakeUpstream, routing_reply
from sidecar.testing.hostile import (
    SENTINEL_KEY,
    SENTINEL_TEXT,
    chat_bodies,
    chat_paths,
    header_sets,
    mcp_bodies,
    raw_requests,
    transforms,
)
from tests.reliability.conftest import start_full

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

PROVIDERS = ("deepseek", "groq", "gemini", "codestral")


@pytest.fixture
async def upstream():
    fake = FakeUpstream(reply=routing_reply)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def sidecar(upstream: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    lines = [f'[upstream]\nurl = "{upstream.url}"\n[pruning]\nmin_chars_to_prune = 500\n']
    for name in PROVIDERS:
        monkeypatch.setenv(f"RELIABILITY_{name.upper()}_KEY", f"sk-{name}")
        lines.append(
            f'[providers.{name}]\nbase_url = "{upstream.url}/p/{name}/v1"\n'
            f'api_key_env = "RELIABILITY_{name.upper()}_KEY"\n'
        )
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines))
    server = await start_full(load_config(str(path), env={}), telemetry=True)
    try:
        yield server
    finally:
        await server.close()


def leaked(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log lines (messages and exception texts) that carry a sentinel."""
    out = []
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        if SENTINEL_KEY in text or SENTINEL_TEXT in text or SENTINEL_KEY[:10] in text:
            out.append(f"{record.name}: {text[:200]}")
    return out


async def test_every_chat_input_on_every_path(sidecar, upstream: FakeUpstream, caplog):
    caplog.set_level(logging.DEBUG)
    base = str(sidecar.make_url("")).rstrip("/")
    problems: list[str] = []
    tried = 0
    async with aiohttp.ClientSession() as session:
        for case in chat_bodies():
            big = len(case.body) > 1_000_000
            for header_name, headers in header_sets():
                # Bodies over 1 MB take the main header sets on the main path only (time, not coverage).
                if big and header_name not in ("plain", "strip", "mode fast"):
                    continue
                for method, path in chat_paths():
                    if big and path != "/v1/chat/completions":
                        continue
                    tried += 1
                    before = len(upstream.received)
                    data = io.BytesIO(case.body) if big else case.body  # aiohttp warns on large bytes
                    async with session.request(method, base + path, data=data, headers=headers) as resp:
                        await resp.read()
                        status = resp.status
                    where = f"{case.name} | {header_name} | {path} -> {status}"
                    if status >= 500:
                        problems.append(where)
                    if case.prunable or transforms(headers) or len(upstream.received) != before + 1:
                        continue
                    if upstream.received[-1].body != case.body:
                        problems.append(where + " (body changed)")
        async with session.get(base + "/sidecar/healthz") as resp:
            assert resp.status == 200
    assert tried > 1000, tried
    assert problems == []
    assert leaked(caplog) == []


async def test_raw_http_oddities(sidecar, caplog):
    caplog.set_level(logging.DEBUG)
    problems = []
    for name, data in raw_requests():
        answer = b""
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.port)
            writer.write(data)
            await writer.drain()
            while chunk := await asyncio.wait_for(reader.read(65536), 0.5):  # until closed or idle
                answer += chunk
        except (ConnectionError, TimeoutError):
            pass  # closed on us, or kept alive after answering: both fine
        finally:
            writer.close()
        for line in answer.split(b"\r\n"):
            if line.startswith(b"HTTP/1.") and line[9:10] == b"5":
                problems.append(f"{name}: {line.decode(errors='replace')}")
    assert problems == []
    assert leaked(caplog) == []
    async with aiohttp.ClientSession() as session:
        async with session.get(str(sidecar.make_url("/sidecar/healthz"))) as resp:
            assert resp.status == 200


async def test_mcp_bodies_get_error_replies(sidecar, caplog):
    caplog.set_level(logging.DEBUG)
    url = str(sidecar.make_url("/sidecar/mcp"))
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=init) as resp:
            sid = resp.headers["Mcp-Session-Id"]
        for name, body in mcp_bodies():
            headers = {"Content-Type": "application/json", "Mcp-Session-Id": sid}
            async with session.post(url, data=body, headers=headers) as resp:
                assert resp.status < 500, name
                doc = await resp.json()
            replies = doc if isinstance(doc, list) else [doc]
            assert replies and all("error" in r for r in replies), (name, doc)
    assert leaked(caplog) == []
