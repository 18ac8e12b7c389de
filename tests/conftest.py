"""Shared fixtures: a clean environment, the fake upstream, a sidecar in front of it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from sidecar.config import Config, load_config
from sidecar.testing.fake_upstream import FakeUpstream

_PREFIXES = ("KIMI_", "DEEPINFRA_", "SIDECAR_", "OTEL_")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Clear the variables the sidecar reads, and run from an empty directory (no ./config.toml)."""
    for name in list(os.environ):
        if name.startswith(_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    yield


@pytest.fixture
async def fake_upstream() -> AsyncIterator[FakeUpstream]:
    """A real fake provider on a free loopback port."""
    fake = FakeUpstream()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def make_config() -> Callable[..., Config]:
    """Build a Config from env-style overrides only (the real environment never leaks in)."""

    def make(upstream: str, **env: str) -> Config:
        return load_config(env={"SIDECAR_UPSTREAM_URL": upstream, **env})

    return make
