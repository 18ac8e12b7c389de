"""Typed application keys: the app's shared state, importable from any layer without importing up."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import aiohttp
import msgspec
from aiohttp import web

from sidecar.config import Config
from sidecar.stats import ProxyStats

if TYPE_CHECKING:
    from sidecar.pruning.service import Pruner

HealthSource = Callable[[], msgspec.Struct]

CONFIG = web.AppKey("sidecar_config", Config)
STATS = web.AppKey("sidecar_stats", ProxyStats)
UPSTREAM = web.AppKey("sidecar_upstream", aiohttp.ClientSession)
# Each component registers a section of /sidecar/health here, from its cleanup_ctx.
HEALTH_SOURCES = web.AppKey("sidecar_health_sources", dict[str, HealthSource])
PRUNER: web.AppKey[Pruner] = web.AppKey("sidecar_pruner")
