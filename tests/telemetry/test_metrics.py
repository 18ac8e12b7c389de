"""Telemetry metrics agree with /sidecar/health (sidecar.telemetry.metrics)."""

from __future__ import annotations

import aiohttp
import pytest

from tests.telemetry.support import (
    chat_body,
    deepinfra_sidecar,
    post,
    total,
)

pytestmark = pytest.mark.timeout(60)


async def test_metrics_match_health(fake_upstream, fake_deepinfra, make_config, monkeypatch):
    sc = await deepinfra_sidecar(fake_upstream, fake_deepinfra, make_config, monkeypatch)
    try:
        await post(sc, "/v1/chat/completions", chat_body())  # 2 DeepInfra calls
        await post(sc, "/v1/chat/completions", chat_body())  # 2 cache hits
        fake_deepinfra.fault = "429"
        await post(sc, "/v1/chat/completions", chat_body(stream=True, salt="x"))  # 2 fallbacks
        async with aiohttp.ClientSession() as http:
            async with http.get(sc.url("/sidecar/health")) as r:
                health = await r.json()
        m = sc.metrics()
    finally:
        await sc.server.close()
    p = health["pruning"]
    calls = m["sidecar.prune.calls"]
    assert total(calls) == p["calls_total"] == 6
    assert (
        total(calls, **{"sidecar.prune.requested_backend": "deepinfra", "sidecar.prune.cache_hit": False})
        == (p["calls_deepinfra"])
    )
    assert p["calls_deepinfra"] == 4
    fallbacks = total(
        calls,
        **{
            "sidecar.prune.requested_backend": "deepinfra",
            "sidecar.prune.cache_hit": False,
            "sidecar.prune.used_fallback": True,
        },
    )
    assert fallbacks == p["fallbacks_deepinfra"] == 2
    assert total(m["sidecar.prune.cache.hits"]) == p["cache_hits"] == 2
    assert total(m["sidecar.prune.cache.misses"]) == p["cache_misses"] == 4
    assert total(m["sidecar.prune.tokens_saved"]) == p["tokens_saved_total"] > 0
    assert total(m["sidecar.prune.tokens_before"]) == p["tokens_before_total"]
    assert (
        total(m["sidecar.prune.cost"]) == pytest.approx(p["cost_estimated_total_usd"])
        and p["cost_estimated_total_usd"] > 0
    )
    assert sum(pt.count for _, pt in m["sidecar.prune.duration"]) == 6
    proxy = health["proxy"]
    assert total(m["sidecar.upstream.requests"]) == proxy["upstream_requests"] == 3
    assert total(m["sidecar.requests"]) == proxy["requests_total"] == 4
