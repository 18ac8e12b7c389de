"""Who may read /sidecar/, its data and /sidecar/metrics: the MCP policy, Host and Origin checks, login."""

from __future__ import annotations

import pytest

from sidecar.dashboard.access import COOKIE

PATHS = ("/sidecar/", "/sidecar/dashboard.json", "/sidecar/metrics")


async def test_loopback_bind_is_open_to_local_callers(sidecar) -> None:
    client = await sidecar()
    for path in PATHS:
        resp = await client.get(path)
        assert resp.status == 200, path
        assert resp.headers["Cache-Control"] == "no-store"


async def test_a_rebinding_host_or_a_foreign_origin_is_refused(sidecar) -> None:
    client = await sidecar()
    for path in PATHS:
        resp = await client.get(path, headers={"Host": "evil.example:8787"})
        assert resp.status == 403, path
        assert "host not allowed" in (await resp.json())["error"]["message"]
        resp = await client.get(path, headers={"Origin": "https://evil.example"})
        assert resp.status == 403
    ok = await client.get(
        "/sidecar/dashboard.json", headers={"Host": "localhost:8787", "Origin": "http://localhost:8787"}
    )
    assert ok.status == 200


async def test_allowed_origins_admit_their_host(sidecar) -> None:
    client = await sidecar(mcp={"allowed_origins": ["https://dash.internal"]})
    resp = await client.get(
        "/sidecar/metrics", headers={"Host": "dash.internal", "Origin": "https://dash.internal"}
    )
    assert resp.status == 200


async def test_non_loopback_bind_without_token_is_refused(sidecar, caplog: pytest.LogCaptureFixture) -> None:
    client = await sidecar(server={"host": "0.0.0.0"})
    for path in PATHS:
        resp = await client.get(path)
        assert resp.status == 403
        assert "SIDECAR_MCP_TOKEN" in (await resp.json())["error"]["message"]
    assert any("dashboard: bound to 0.0.0.0" in r.getMessage() for r in caplog.records)
    # The proxy itself keeps working.
    assert (await client.get("/sidecar/healthz")).status == 200


async def test_token_policy_bearer_and_login_form(sidecar, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIDECAR_MCP_TOKEN", "s3cret-token")
    client = await sidecar(server={"host": "0.0.0.0"})
    # Prometheus, curl: the bearer token.
    for path in PATHS:
        assert (await client.get(path, headers={"Authorization": "Bearer s3cret-token"})).status == 200
        refused = await client.get(path, headers={"Authorization": "Bearer wrong"})
        assert refused.status == 401
    data = await client.get("/sidecar/dashboard.json")
    assert data.status == 401 and data.headers["WWW-Authenticate"].startswith("Bearer")
    # A browser: the page answers with the login form, which sets a session cookie.
    page = await client.get("/sidecar/")
    assert page.status == 401 and page.content_type == "text/html"
    html = await page.text()
    assert '<form method="post" action="login"' in html and "s3cret" not in html
    wrong = await client.post("/sidecar/login", data={"token": "nope"}, allow_redirects=False)
    assert wrong.status == 401 and "Wrong token" in await wrong.text()
    assert COOKIE not in client.session.cookie_jar.filter_cookies(client.make_url("/sidecar/"))
    own_origin = f"http://{client.host}:{client.port}"
    login = await client.post(
        "/sidecar/login",
        data={"token": "s3cret-token"},
        headers={"Origin": own_origin},
        allow_redirects=False,
    )
    assert login.status == 303 and login.headers["Location"] == "/sidecar/"
    cookie = login.cookies[COOKIE]
    assert cookie.value != "s3cret-token" and "s3cret" not in cookie.value
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/sidecar/"
    for path in PATHS:
        assert (await client.get(path)).status == 200, path  # the cookie jar sends the session
    # The session opens the dashboard only: MCP still wants the bearer token.
    mcp = await client.post("/sidecar/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert mcp.status == 401
    # Another site's page cannot post the form.
    foreign = await client.post(
        "/sidecar/login", data={"token": "s3cret-token"}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status == 403
    logout = await client.post("/sidecar/logout", allow_redirects=False)
    assert logout.status == 303
    assert (await client.get("/sidecar/dashboard.json")).status == 401


async def test_a_token_on_a_loopback_bind_is_required_too(sidecar, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIDECAR_MCP_TOKEN", "tok")
    client = await sidecar()
    assert (await client.get("/sidecar/metrics")).status == 401
    assert (await client.get("/sidecar/metrics", headers={"Authorization": "Bearer tok"})).status == 200


async def test_disabled_dashboard_is_an_unknown_sidecar_path(sidecar) -> None:
    client = await sidecar(dashboard={"enabled": False})
    for path in PATHS:
        assert (await client.get(path)).status == 404
    assert "savings" not in await (await client.get("/sidecar/health")).json()
