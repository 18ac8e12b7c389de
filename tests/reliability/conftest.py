"""Shared pieces of the reliability suite: a full sidecar (every component) in front of the fake upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest
from aiohttp.test_utils import TestServer

from sidecar.app import build_app, default_installers
from sidecar.config import Config
from sidecar.keys import Installer
from sidecar.telemetry.middleware import telemetry_installer
from sidecar.telemetry.service import Telemetry
from sidecar.telemetry.settings import TelemetrySettings
from sidecar.testing.fake_upstream import FakeUpstream


def in_memory_telemetry() -> Telemetry:
    """Telemetry on, every request traced, spans kept in memory (no collector needed)."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from sidecar.telemetry.metrics import InMemoryMetricExporter

    settings = TelemetrySettings(sampler="parentbased_always_on")
    return Telemetry(settings, span_exporter=InMemorySpanExporter(), metric_exporter=InMemoryMetricExporter())


def installers(*, telemetry: bool) -> Sequence[Installer]:
    """Every component, with telemetry in memory when asked (else as the environment says: off)."""
    out = list(default_installers())
    if telemetry:
        out[0] = telemetry_installer(in_memory_telemetry())
    return out


async def start_full(config: Config, *, telemetry: bool = False) -> TestServer:
    """Start the whole sidecar as `sidecar serve` runs it, on a free loopback port."""
    app = build_app(config, installers=installers(telemetry=telemetry))
    server = TestServer(app, host="127.0.0.1", handler_cancellation=True)
    await server.start_server()
    return server


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    """The fake provider on a free loopback port."""
    upstream = FakeUpstream()
    await upstream.start()
    try:
        yield upstream
    finally:
        await upstream.stop()
