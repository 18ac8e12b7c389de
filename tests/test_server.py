"""`sidecar serve` as a real process: listens, answers, drains in-flight requests on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from sidecar.testing.fake_upstream import FakeUpstream, Profile

pytestmark = pytest.mark.timeout(40)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_serve(args: list[str], cwd: Path) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sidecar",
        "serve",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    assert b"listening on" in line, line
    return proc


async def test_sigterm_drains_in_flight_requests(tmp_path: Path):
    fake = FakeUpstream(profiles={"slow": Profile(latency_ms=800)})
    await fake.start()
    port = free_port()
    config = tmp_path / "c.toml"
    config.write_text("[server]\ndrain_delay_s = 0.3\nshutdown_timeout_s = 10\n")
    proc = await start_serve(["--port", str(port), "--upstream", fake.url, "--config", str(config)], tmp_path)
    url = f"http://127.0.0.1:{port}"
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "slow"}]})
    try:
        async with aiohttp.ClientSession() as session:
            slow = asyncio.ensure_future(session.post(url + "/p/slow/v1/chat/completions", data=body))  # noqa: TID251
            await asyncio.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.1)
            async with session.get(url + "/sidecar/readyz") as ready:
                assert ready.status == 503  # draining: the load balancer stops routing here
            resp = await slow
            assert resp.status == 200
            assert (await resp.json())["object"] == "chat.completion"
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await fake.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


async def test_serve_bad_port_in_use(tmp_path: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sidecar",
            "serve",
            "--port",
            str(port),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=tmp_path,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode not in (0, None)
    assert b"cannot listen" in err
