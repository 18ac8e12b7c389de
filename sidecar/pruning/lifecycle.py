"""The pruning service's place in the app: the ``PRUNER`` key and the cleanup_ctx that opens and closes it.

Kept apart from :mod:`sidecar.pruning.service` so that ``sidecar prune`` (the CLI) never imports aiohttp.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from sidecar.keys import CONFIG, HEALTH_SOURCES
from sidecar.pruning.service import Pruner

PRUNER = web.AppKey("sidecar_pruner", Pruner)


async def pruner_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the pruning service (backends, cache, recover store) and report its health."""
    pruner = Pruner(app[CONFIG])
    await pruner.start()
    app[PRUNER] = pruner
    app[HEALTH_SOURCES]["pruning"] = pruner.health
    try:
        yield
    finally:
        await pruner.aclose()


def install_pruner(app: web.Application) -> None:
    """Open the pruning service with the app (the pruning middleware and MCP server use it)."""
    app.cleanup_ctx.append(pruner_ctx)
