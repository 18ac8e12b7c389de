"""Typed application keys: the app's shared state, importable from any layer without importing up."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import msgspec
from aiohttp import web

from sidecar.config import Config
from sidecar.stats import ProxyStats

HealthSource = Callable[[], msgspec.Struct]
# A component: adds its middleware, cleanup_ctx and routes to the app (sidecar.app.build_app runs them).
Installer = Callable[[web.Application], None]

CONFIG = web.AppKey("sidecar_config", Config)
STATS = web.AppKey("sidecar_stats", ProxyStats)
UPSTREAM = web.AppKey("sidecar_upstream", aiohttp.ClientSession)
# Each component registers a section of /sidecar/health here, from its cleanup_ctx.
HEALTH_SOURCES = web.AppKey("sidecar_health_sources", dict[str, HealthSource])


def health_document(app: web.Application) -> dict[str, object]:
    """Return ``/sidecar/health``'s document, read now: the proxy section, then one per component."""
    doc: dict[str, object] = {"proxy": msgspec.to_builtins(app[STATS].snapshot())}
    for name, source in app[HEALTH_SOURCES].items():
        doc[name] = msgspec.to_builtins(source())
    return doc
