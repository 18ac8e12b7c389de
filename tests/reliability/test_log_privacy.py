"""Nothing sensitive reaches the log, at any level, whatever bytes a client sends (row 4).

aiohttp's parser errors carry the raw line they choked on (an API key, prompt text); the sidecar logs
their class name only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

import pytest

from sidecar.config import load_config
from sidecar.testing.fake_upstream import FakeUpstream
from tests.reliability.conftest import start_full
from tests.test_server import free_port

pytestmark = pytest.mark.timeout(90)

KEY = "sk-SENTINELKEY0123456789abcdef"
PROMPT = "SENTINEL-PROMPT-TEXT the secret plan"


def hostile_requests() -> list[bytes]:
    """Requests whose parser errors would quote a key or prompt text."""
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": PROMPT}]}).encode()
    return [
        # A control character in a header value.
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + KEY.encode()
        + b"\x01\r\n"
        b"Content-Length: 2\r\n\r\n{}",
        # A header over max_field_size (64 KiB).
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nx-api-key: " + KEY.encode() + b"A" * 66000 + b"\r\n\r\n",
        # Bytes after a short Content-Length: parsed as a second request line.
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 10\r\n\r\n" + body,
        # A request line that is prompt text.
        PROMPT.encode() + b" " + KEY.encode() + b"\r\n\r\n",
        # A header name with bytes a token may not have.
        b"GET / HTTP/1.1\r\nHost: x\r\nX-" + KEY.encode() + b"\x7f: v\r\n\r\n",
        # Chunked body with a bad chunk size that carries prompt text.
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + PROMPT.encode()
        + b"\r\n"
        + body
        + b"\r\n0\r\n\r\n",
        # A request line over max_line_size.
        b"GET /" + (PROMPT + KEY).encode() * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ]


async def send_raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    except (ConnectionError, TimeoutError):
        return b""
    finally:
        writer.close()


@pytest.mark.slow
@pytest.mark.parametrize("level", ["WARNING", "DEBUG"])
async def test_serve_logs_no_key_and_no_prompt(tmp_path: Path, level: str):
    fake = FakeUpstream()
    await fake.start()
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sidecar",
        "--log-level",
        level,
        "serve",
        "--port",
        str(port),
        "--upstream",
        fake.url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert b"listening on" in await asyncio.wait_for(proc.stdout.readline(), 30)
        for data in hostile_requests():
            await send_raw(port, data)
        proc.send_signal(signal.SIGTERM)
        err = (await asyncio.wait_for(proc.stderr.read(), 30)).decode("utf-8", "replace")
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await fake.stop()
    if level == "DEBUG":
        assert "aiohttp.server" in err  # the errors are logged, as metadata
    assert KEY not in err and KEY[:12] not in err, err[-3000:]
    assert "SENTINEL" not in err, err[-3000:]


async def test_in_process_log_has_no_key_nor_prompt(fake: FakeUpstream, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    server = await start_full(load_config(env={"SIDECAR_UPSTREAM_URL": fake.url}))
    try:
        for data in hostile_requests():
            await send_raw(server.port, data)
    finally:
        await server.close()
    text = "\n".join(
        caplog.text.splitlines()
        + [r.getMessage() for r in caplog.records]
        + [logging.Formatter().formatException(r.exc_info) for r in caplog.records if r.exc_info]
        + [r.exc_text or "" for r in caplog.records]
    )
    assert any(r.name == "aiohttp.server" for r in caplog.records)
    assert KEY[:12] not in text and "SENTINEL" not in text, text[-3000:]
