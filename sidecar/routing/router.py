"""The routing state of one app: a concurrency limiter per provider, counters, and provider destinations.

``Router.destination("deepseek:deepseek-chat")`` resolves a mode's target to the provider's URL, model,
headers (the provider's own key, read from its environment variable at call time) and limiter.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import msgspec
from aiohttp import web
from multidict import CIMultiDict

from sidecar.config import Config
from sidecar.errors import RoutingError
from sidecar.keys import CONFIG, HEALTH_SOURCES
from sidecar.routing.limiter import Destination, LimiterHealth, ProviderLimiter


class RoutingHealth(msgspec.Struct, frozen=True, kw_only=True):
    routed: dict[str, int]
    rejected: dict[str, int]
    strip_tokens_saved: int
    audits: dict[str, int]
    transforms_failed: dict[str, int]
    providers: dict[str, LimiterHealth]


class Router:
    """The routing state of one app: a limiter per provider and counters."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.limiters = {
            name: ProviderLimiter(name, provider.max_concurrent)
            for name, provider in config.providers.items()
        }
        self.routed: dict[str, int] = {}
        self.rejected: dict[str, int] = {}
        self.audits: dict[str, int] = {}
        self.failed: dict[str, int] = {}  # transforms skipped after an internal error
        self.strip_tokens_saved = 0

    def destination(self, target: str, *, json_response: bool) -> Destination:
        """Resolve ``provider:model``; raise RoutingError (500) when the provider's key is not set."""
        name, _, model = target.partition(":")
        provider = self.config.providers[name]
        key = os.environ.get(provider.api_key_env, "").strip()
        if not key:
            raise RoutingError(
                f"provider {name!r} has no API key: set the environment variable {provider.api_key_env}",
                status=500,
            )
        headers: CIMultiDict[str] = CIMultiDict()
        headers["Content-Type"] = "application/json"
        headers["Authorization"] = f"Bearer {key}"
        if json_response:
            headers["Accept-Encoding"] = "identity"  # the sidecar reads this answer: no compression
        return Destination(
            provider=name,
            model=model,
            url=provider.base_url.rstrip("/") + "/chat/completions",
            headers=headers,
            limiter=self.limiters[name],
            supports_json_format=provider.supports_json_response_format,
        )

    def count(self, table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1

    def health(self) -> RoutingHealth:
        return RoutingHealth(
            routed=dict(self.routed),
            rejected=dict(self.rejected),
            strip_tokens_saved=self.strip_tokens_saved,
            audits=dict(self.audits),
            transforms_failed=dict(self.failed),
            providers={name: limiter.health() for name, limiter in self.limiters.items()},
        )


ROUTER = web.AppKey("sidecar_router", Router)


async def routing_ctx(app: web.Application) -> AsyncIterator[None]:
    """Create the router (limiters per provider) and report its health."""
    router = Router(app[CONFIG])
    app[ROUTER] = router
    app[HEALTH_SOURCES]["routing"] = router.health
    yield
