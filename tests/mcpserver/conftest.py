"""MCP fixtures: a dispatcher over a real Pruner, and a real server serving /sidecar/mcp."""

from __future__ import annotations

import pytest

from sidecar.config import load_config
from sidecar.mcpserver import McpDispatcher
from sidecar.pruning.service import Pruner
from tests.mcpserver.support import start


@pytest.fixture
async def dispatcher():
    pruner = Pruner(load_config(env={}))
    await pruner.start()
    try:
        yield McpDispatcher(pruner)
    finally:
        await pruner.aclose()


@pytest.fixture
async def mcp_url(aiohttp_server):
    _, url = await start(aiohttp_server)
    return url
