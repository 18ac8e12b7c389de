"""The application: own endpoints under /sidecar/ (never forwarded), readiness, installers and their order."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import msgspec
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Handler

from sidecar.app import build_app, default_installers
from sidecar.keys import HEALTH_SOURCES, STATS, UPSTREAM
from sidecar.testing.fake_upstream import FakeUpstream
from tests.support import base, sidecar

__all__ = ["sidecar"]  # a fixture (tests/support.py)


async def test_own_endpoints_never_forwarded(sidecar: TestServer, fake_upstream: FakeUpstream):
    async with aiohttp.ClientSession() as session:
        for path, status in (("/sidecar/healthz", 200), ("/sidecar/readyz", 200), ("/sidecar/nope", 404)):
            async with session.get(base(sidecar) + path) as resp:
                assert resp.status == status
        async with session.get(base(sidecar) + "/sidecar/health") as resp:
            health = await resp.json()
    assert not fake_upstream.received
    assert health["proxy"]["ready"] is True
    assert health["proxy"]["uptime_s"] >= 0


async def test_readyz_false_before_start(make_config):
    app = build_app(make_config("http://127.0.0.1:9"), installers=[])
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        from sidecar.keys import STATS

        app[STATS].draining = True
        resp = await client.get("/sidecar/readyz")
        assert resp.status == 503
        assert (await resp.json())["status"] == "draining"
    finally:
        await client.close()


async def test_liveness_and_the_three_readiness_states(
    fake_upstream: FakeUpstream, make_config, aiohttp_client
):
    app = build_app(make_config(fake_upstream.url), installers=[])
    client = await aiohttp_client(app)
    assert (await client.get("/sidecar/healthz")).status == 200
    assert await (await client.get("/sidecar/healthz")).json() == {"status": "ok"}
    resp = await client.get("/sidecar/readyz")
    assert (resp.status, await resp.json()) == (200, {"status": "ready"})
    app[STATS].ready = False  # as before the last resource opened
    resp = await client.get("/sidecar/readyz")
    assert (resp.status, await resp.json()) == (503, {"status": "starting"})
    app[STATS].draining = True
    resp = await client.get("/sidecar/readyz")
    assert (resp.status, await resp.json()) == (503, {"status": "draining"})
    assert (await client.get("/sidecar/healthz")).status == 200  # alive while draining
    assert not fake_upstream.received


async def test_unknown_sidecar_paths_are_404_for_every_method(
    fake_upstream: FakeUpstream, make_config, aiohttp_client
):
    client = await aiohttp_client(build_app(make_config(fake_upstream.url), installers=[]))
    for method, path in [
        ("POST", "/sidecar/v1/chat/completions"),
        ("DELETE", "/sidecar/"),
        ("PUT", "/sidecar/healthz/x"),
    ]:
        resp = await client.request(method, path, data=b'{"model": "m", "messages": []}')
        assert resp.status == 404, (method, path)
        assert resp.content_type == "application/json"
        assert (await resp.json())["error"]["code"] == "not_found"
    assert not fake_upstream.received
    resp = await client.post("/v1/sidecar/x", data=b"{}")  # /sidecar/ only at the root is ours
    assert resp.headers.get("X-Echo") == "1"
    assert [r.path_qs for r in fake_upstream.received] == ["/v1/sidecar/x"]


async def test_installers_run_in_order_inside_the_stats_middleware(
    fake_upstream: FakeUpstream, make_config, aiohttp_client
):
    seen: list[str] = []

    def installer(name: str):
        def install(app: web.Application) -> None:
            @web.middleware
            async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
                seen.append(f"{name} in_flight={request.app[STATS].in_flight}")
                return await handler(request)

            app.middlewares.append(middleware)
            seen.append(f"installed {name}")

        return install

    app = build_app(make_config(fake_upstream.url), installers=[installer("first"), installer("second")])
    assert seen == ["installed first", "installed second"]
    client = await aiohttp_client(app)
    resp = await client.post("/v1/chat/completions", json={"model": "m", "messages": []})
    assert resp.status == 200
    # Outermost first, and the stats middleware outside them all (it has already counted the request).
    assert seen[2:] == ["first in_flight=1", "second in_flight=1"]


class Mine(msgspec.Struct):
    opened: bool


async def test_an_installers_route_and_resource_live_between_the_upstream_session_and_readiness(
    fake_upstream: FakeUpstream, make_config
):
    events: list[str] = []

    def install(app: web.Application) -> None:
        async def ctx(app: web.Application) -> AsyncIterator[None]:
            events.append(f"open: ready={app[STATS].ready} session_open={not app[UPSTREAM].closed}")
            app[HEALTH_SOURCES]["mine"] = lambda: Mine(opened=True)
            yield
            events.append(f"close: session_open={not app[UPSTREAM].closed}")

        async def mine(request: web.Request) -> web.Response:
            return web.json_response({"mine": True})

        app.cleanup_ctx.append(ctx)
        app.router.add_get("/sidecar/mine", mine)

    app = build_app(make_config(fake_upstream.url), installers=[install])
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        assert app[STATS].ready
        assert await (await client.get("/sidecar/mine")).json() == {"mine": True}  # not the 404 catch-all
        health = await (await client.get("/sidecar/health")).json()
        assert list(health) == ["proxy", "mine"] and health["mine"] == {"opened": True}
    finally:
        await client.close()
    # Opened after the upstream session and before readiness; closed before the session, in reverse order.
    assert events == ["open: ready=False session_open=True", "close: session_open=True"]
    assert app[UPSTREAM].closed and not app[STATS].ready


async def test_requests_are_counted_by_the_stats_middleware(sidecar: TestServer, fake_upstream: FakeUpstream):
    async with aiohttp.ClientSession() as session:
        for path in ("/v1/models", "/sidecar/healthz"):
            async with session.get(base(sidecar) + path) as resp:
                assert resp.status == 200
        async with session.get(base(sidecar) + "/sidecar/health") as resp:
            proxy = (await resp.json())["proxy"]
    assert proxy["requests_total"] == 3 and proxy["requests_in_flight"] == 1  # the health request itself
    assert proxy["upstream_requests"] == 1 and proxy["upstream_status"] == {"2xx": 1}


def test_default_components_in_middleware_order():
    # Telemetry outermost (it times everything), the pruner opened before the middleware that uses it,
    # pruning before routing (the routed body is the pruned one).
    assert [install.__name__ for install in default_installers()] == [
        "install_telemetry",
        "install_pruner",
        "install_pruning",
        "install_routing",
        "install_mcp",
        "install_dashboard",
    ]


async def test_the_bare_sidecar_path_is_ours_too(aiohttp_client, fake_upstream, make_config):
    client = await aiohttp_client(build_app(make_config(fake_upstream.url), installers=[]))
    resp = await client.get("/sidecar")
    assert resp.status == 404
    assert not fake_upstream.received  # never forwarded upstream
