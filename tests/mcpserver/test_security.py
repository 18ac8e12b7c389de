"""Who may use /sidecar/mcp: Origin, the token policy, non-loopback refusal, and caller-scoped prune ids."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from sidecar.config import load_config
from sidecar.mcpserver.security import (
    NO_TOKEN_REFUSED,
    ORIGIN_REFUSED,
    TOKEN_REQUIRED,
    AuthPolicy,
    auth_policy,
    check,
    is_loopback_host,
    load_policy,
    origin_allowed,
)
from tests.mcpserver.support import INIT, round_trip, start

OPEN, TOKEN = AuthPolicy(mode="open"), AuthPolicy(mode="token", token="s3cret")


async def test_origin_is_checked(aiohttp_server):
    _, url = await start(aiohttp_server, '[mcp]\nallowed_origins = ["https://ide.example.com"]\n')
    async with aiohttp.ClientSession() as http:
        for origin, status in (
            ("http://evil.example", 403),
            ("http://localhost.evil.example", 403),
            ("null", 403),
            ("http://localhost:3000", 200),
            ("http://127.0.0.1:8787", 200),
            ("https://ide.example.com", 200),
        ):
            async with http.post(url, json=INIT, headers={"Origin": origin}) as resp:
                assert resp.status == status, origin


def test_auth_policy_decision():
    assert auth_policy("127.0.0.1", None).mode == "open"
    assert auth_policy("localhost", None).mode == "open"
    assert auth_policy("::1", None).mode == "open"
    assert auth_policy("0.0.0.0", None).mode == "refuse"
    assert auth_policy("", None).mode == "refuse"
    assert auth_policy("10.0.0.5", None).mode == "refuse"
    assert auth_policy("sidecar.internal", None).mode == "refuse"
    assert auth_policy("0.0.0.0", "s3cret").mode == "token"
    assert auth_policy("127.0.0.1", "s3cret").mode == "token"
    assert auth_policy("127.0.0.1", "").mode == "open"  # an empty variable is no token
    assert "s3cret" not in repr(auth_policy("0.0.0.0", "s3cret"))


def test_loopback_hosts():
    for host in ("localhost", "LOCALHOST", "127.0.0.1", "127.8.9.10", "::1", "[::1]"):
        assert is_loopback_host(host), host
    for host in ("", "0.0.0.0", "::", "192.168.1.2", "localhost.example.com"):
        assert not is_loopback_host(host), host


def test_load_policy_reads_the_named_variable_and_warns_without_logging_the_token(caplog):
    path = Path("mcp.toml")  # conftest runs each test in its own empty directory
    path.write_text('[server]\nhost = "0.0.0.0"\n[mcp]\ntoken_env = "MY_MCP_TOKEN"\n')
    config = load_config(env={"SIDECAR_CONFIG": str(path)})
    with caplog.at_level(logging.WARNING, logger="sidecar.mcp"):
        assert load_policy(config, {}).mode == "refuse"
    assert "without $MY_MCP_TOKEN" in caplog.text and "0.0.0.0" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="sidecar.mcp"):
        policy = load_policy(config, {"MY_MCP_TOKEN": "s3cret", "SIDECAR_MCP_TOKEN": "other"})
    assert policy.mode == "token" and policy.token == "s3cret"
    assert "s3cret" not in caplog.text
    assert load_policy(load_config(env={}), {}).mode == "open"


@pytest.mark.parametrize(
    ("headers", "policy", "refusal"),
    [
        ({}, OPEN, None),
        ({"Origin": "http://localhost:3000"}, OPEN, None),
        ({"Origin": "https://evil.example"}, OPEN, ORIGIN_REFUSED),
        ({"Origin": "https://evil.example", "Authorization": "Bearer s3cret"}, TOKEN, ORIGIN_REFUSED),
        ({"Authorization": "Bearer s3cret"}, AuthPolicy(mode="refuse"), NO_TOKEN_REFUSED),
        ({}, TOKEN, TOKEN_REQUIRED),
        ({"Authorization": "Bearer wrong"}, TOKEN, TOKEN_REQUIRED),
        ({"Authorization": "Basic s3cret"}, TOKEN, TOKEN_REQUIRED),
        ({"Authorization": "Bearer s3cret-and-more"}, TOKEN, TOKEN_REQUIRED),
        ({"Authorization": "Bearer s3cret"}, TOKEN, None),
        ({"Authorization": "bearer  s3cret "}, TOKEN, None),
    ],
)
def test_check(headers, policy, refusal):
    assert check(headers, policy, ["https://ide.example.com"]) == refusal


def test_refusals_say_why_without_secrets():
    assert (ORIGIN_REFUSED.status, NO_TOKEN_REFUSED.status, TOKEN_REQUIRED.status) == (403, 403, 401)
    assert TOKEN_REQUIRED.headers == {"WWW-Authenticate": 'Bearer realm="sidecar-mcp"'}
    assert "mcp.token_env" in NO_TOKEN_REFUSED.message


async def test_token_required_on_non_loopback_bind(aiohttp_server, monkeypatch):
    # The config says the sidecar binds all interfaces; the test server itself stays on loopback.
    server, refused_url = await start(aiohttp_server, '[server]\nhost = "0.0.0.0"\n')
    async with aiohttp.ClientSession() as http:
        async with http.post(refused_url, json=INIT) as resp:
            assert resp.status == 403
            assert (await resp.json())["error"]["code"] == -32600
        async with http.get(server.make_url("/sidecar/health")) as resp:
            section = (await resp.json())["mcp"]
        assert section["auth"] == "refuse" and section["refused_total"] == 1
    monkeypatch.setenv("SIDECAR_MCP_TOKEN", "s3cret")
    _, url = await start(aiohttp_server, '[server]\nhost = "0.0.0.0"\n')
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
            async with http.post(url, json=INIT, headers=headers) as resp:
                assert resp.status == 401
                assert resp.headers["WWW-Authenticate"] == 'Bearer realm="sidecar-mcp"'
                assert "s3cret" not in await resp.text()
    async with httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret"}) as http_client:
        async with Client(streamable_http_client(url, http_client=http_client)) as client:
            await round_trip(client)


async def test_prune_id_recovers_only_for_the_same_credential(mcp_url):
    async def connect(key: str | None):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx2.AsyncClient(headers=headers)

    async with (
        await connect("key-a") as http_a,
        Client(streamable_http_client(mcp_url, http_client=http_a)) as a,
    ):
        out = await round_trip(a)
    ranges = [{"start_line": 1, "end_line": 3}]
    for key in ("key-b", None):
        async with (
            await connect(key) as http_b,
            Client(streamable_http_client(mcp_url, http_client=http_b)) as b,
        ):
            with pytest.raises(MCPError) as refused:
                await b.call_tool("recover_text", {"prune_id": out["prune_id"], "ranges": ranges})
            assert refused.value.code == -32004
    async with aiohttp.ClientSession() as http:  # a session opened by key-a is not key-b's
        async with http.post(mcp_url, json=INIT, headers={"Authorization": "Bearer key-a"}) as resp:
            session = resp.headers["Mcp-Session-Id"]
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        async with http.post(
            mcp_url, json=ping, headers={"Mcp-Session-Id": session, "Authorization": "Bearer key-b"}
        ) as resp:
            assert resp.status == 404
        async with http.post(
            mcp_url, json=ping, headers={"Mcp-Session-Id": session, "x-api-key": "key-a"}
        ) as resp:
            assert resp.status == 200  # the same key as x-api-key is the same caller


def test_origin_helpers():  # caller_identity: tests/proxy/test_identity.py
    assert origin_allowed("http://[::1]:9000", []) and not origin_allowed("file://", [])
    assert origin_allowed("HTTPS://IDE.example.com/", ["https://ide.example.com"])
    assert not origin_allowed("https://ide.example.com:8443", ["https://ide.example.com"])
    assert not origin_allowed("http://[bad", [])
