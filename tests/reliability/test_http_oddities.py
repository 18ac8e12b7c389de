"""Raw-socket HTTP oddities: request targets, slow clients, parser errors (rows 4, 9, 10)."""

from __future__ import annotations

import asyncio

import pytest

from sidecar.config import load_config
from sidecar.testing.fake_upstream import FakeUpstream
from tests.reliability.conftest import start_full

pytestmark = pytest.mark.timeout(60)


async def exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes, read until the server closes (or ``timeout``), return what came back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize(
    "target",
    [
        b"http://evil.example/v1/models?x=1",
        b"http://evil.example:9100/v1/models?x=1",
        b"https://evil.example/v1/models?x=1",
        b"HTTP://127.0.0.1:1/v1/models?x=1",
    ],
)
async def test_absolute_form_target_goes_to_the_configured_upstream(fake: FakeUpstream, target: bytes):
    server = await start_full(load_config(env={"SIDECAR_UPSTREAM_URL": fake.url}))
    try:
        answer = await exchange(
            server.port, b"GET " + target + b" HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
        )
    finally:
        await server.close()
    assert status_of(answer) == 200, answer[:200]
    assert fake.received[-1].path_qs == "/v1/models?x=1"  # the path only, never the host it names


@pytest.mark.parametrize("target", [b"*", b"evil.example:443", b"http://", b"http:///x", b"mailto:x@y"])
async def test_other_request_targets_get_400(fake: FakeUpstream, target: bytes):
    server = await start_full(load_config(env={"SIDECAR_UPSTREAM_URL": fake.url}))
    try:
        answer = await exchange(
            server.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
    finally:
        await server.close()
    assert answer, target
    assert 400 <= status_of(answer) < 500, answer[:200]
    assert not fake.received
