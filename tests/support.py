"""What the proxy and app tests share: a plain sidecar (no components) on a real server, as serve runs it."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from sidecar.app import build_app
from sidecar.config import Config
from sidecar.testing.fake_upstream import FakeUpstream


async def start_sidecar(config: Config) -> TestServer:
    """Start the sidecar as `sidecar serve` runs it (handler cancellation on, no extra components)."""
    server = TestServer(build_app(config, installers=[]), host="127.0.0.1", handler_cancellation=True)
    await server.start_server()
    return server


@pytest.fixture
async def sidecar(fake_upstream: FakeUpstream, make_config):
    server = await start_sidecar(make_config(fake_upstream.url))
    try:
        yield server
    finally:
        await server.close()


def base(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")
