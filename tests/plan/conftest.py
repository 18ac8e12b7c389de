"""The plan tests' fixture: a FakeLLM on a free loopback port, with its ``/v1`` base URL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.plan.fakes import FakeLLM, ServerFactory


@pytest.fixture
async def llm(aiohttp_server: ServerFactory) -> AsyncIterator[tuple[FakeLLM, str]]:
    """Start a FakeLLM; yield it and its base URL."""
    fake = FakeLLM()
    server = await aiohttp_server(fake.app())
    yield fake, str(server.make_url("/v1"))
