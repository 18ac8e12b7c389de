"""Streamable HTTP at /sidecar/mcp: the official `mcp` SDK client (2.x), raw HTTP, sessions, negotiation."""

from __future__ import annotations

import json
import re

import aiohttp
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from sidecar.app import build_app
from sidecar.mcpserver import install_mcp
from sidecar.mcpserver.http import MAX_SESSIONS, MCP_HTTP, prefers_sse
from sidecar.pruning.lifecycle import install_pruner
from tests.mcpserver.support import INIT, TEXT, assert_errors, round_trip, start


async def test_sdk_client_over_streamable_http(aiohttp_server):
    server, url = await start(aiohttp_server)
    async with Client(url) as client:  # default mode: probes server/discover, falls back to initialize
        assert client.protocol_version == "2025-11-25"
        out = await round_trip(client)
        await assert_errors(client, out["prune_id"])
        health = (await client.call_tool("health", {})).structured_content
    assert health["calls_total"] == 1  # the round trip's prune; the refused call never reached the pruner
    async with aiohttp.ClientSession() as http:
        async with http.get(server.make_url("/sidecar/health")) as resp:
            doc = await resp.json()
    section = doc["pruning"]
    assert doc["mcp"]["auth"] == "open" and doc["mcp"]["requests_total"] >= 8
    assert doc["mcp"]["sessions"] == 0  # the SDK client ended its session with DELETE on exit
    assert doc["mcp"]["refused_total"] == 0
    for key in ("calls_total", "calls_deepinfra", "fallbacks_deepinfra", "cost_estimated_total_usd"):
        assert health[key] == section[key]


async def test_sdk_client_legacy_mode(mcp_url):
    async with Client(mcp_url, mode="legacy") as client:
        assert client.protocol_version == "2025-11-25"
        await round_trip(client)


async def test_plain_json_post_works_like_curl(mcp_url):
    async with aiohttp.ClientSession() as http:
        async with http.post(mcp_url, data=json.dumps(INIT)) as resp:  # no Accept, no Content-Type
            assert resp.status == 200 and resp.content_type == "application/json"
            assert (await resp.json())["result"]["protocolVersion"] == "2025-11-25"
            session = resp.headers["Mcp-Session-Id"]
        headers = {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}
        async with http.post(
            mcp_url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
        ) as resp:
            assert resp.status == 202
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "prune_text", "arguments": {"text": TEXT, "goal_hint": "database timeout"}},
        }
        async with http.post(mcp_url, json=call, headers={**headers, "Accept": "*/*"}) as resp:
            assert resp.content_type == "application/json"
            assert (await resp.json())["result"]["structuredContent"]["stats"]["original_lines"] == 300
        async with http.post(mcp_url, json=call, headers={**headers, "Accept": "text/event-stream"}) as resp:
            assert resp.content_type == "text/event-stream"
            event = (await resp.text()).strip().split("\n")
            assert event[0] == "event: message" and event[1].startswith("data: ")
            assert json.loads(event[1][6:])["result"]["structuredContent"]["stats"]["original_lines"] == 300
        async with http.get(mcp_url, headers=headers) as resp:
            assert resp.status == 405 and resp.headers["Allow"] == "POST, DELETE"
        async with http.post(
            mcp_url, json={**call, "id": 3}, headers={**headers, "MCP-Protocol-Version": "1999-01-01"}
        ) as resp:
            assert resp.status == 400
        async with http.delete(mcp_url, headers=headers) as resp:
            assert resp.status == 204
        async with http.post(mcp_url, json=call, headers=headers) as resp:
            assert resp.status == 404  # the session is gone: initialize again


async def test_disabled_endpoint_is_not_found(aiohttp_server):
    _, url = await start(aiohttp_server, "[mcp]\nenabled = false\n")
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=INIT) as resp:
            assert resp.status == 404


async def test_session_is_required_after_initialize(mcp_url):
    ping = {"jsonrpc": "2.0", "id": 5, "method": "ping"}
    async with aiohttp.ClientSession() as http:
        async with http.post(mcp_url, json=ping) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == -32600
        async with http.post(mcp_url, json=ping, headers={"Mcp-Session-Id": "forged"}) as resp:
            assert resp.status == 404
        async with http.delete(mcp_url, headers={"Mcp-Session-Id": "forged"}) as resp:
            assert resp.status == 404


async def test_a_failed_initialize_opens_no_session(aiohttp_server):
    server, url = await start(aiohttp_server)
    bad = {**INIT, "params": {}}  # no protocolVersion: -32602, nothing negotiated
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=bad) as resp:
            assert resp.status == 200 and "Mcp-Session-Id" not in resp.headers
            assert (await resp.json())["error"]["code"] == -32602
    assert server.app[MCP_HTTP].sessions == {}


async def test_least_recently_used_sessions_are_dropped_first(aiohttp_server, monkeypatch):
    monkeypatch.setattr("sidecar.mcpserver.http.MAX_SESSIONS", 2)
    assert MAX_SESSIONS == 10_000  # the real bound; patched down to keep the test small
    server, url = await start(aiohttp_server)
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    async with aiohttp.ClientSession() as http:
        ids = []
        for _ in range(2):
            async with http.post(url, json=INIT) as resp:
                ids.append(resp.headers["Mcp-Session-Id"])
        async with http.post(url, json=ping, headers={"Mcp-Session-Id": ids[0]}) as resp:
            assert resp.status == 200  # ids[0] is now the most recently used
        async with http.post(url, json=INIT) as resp:
            ids.append(resp.headers["Mcp-Session-Id"])
        statuses = []
        for session in ids:
            async with http.post(url, json=ping, headers={"Mcp-Session-Id": session}) as resp:
                statuses.append(resp.status)
    assert statuses == [200, 404, 200]
    assert len(server.app[MCP_HTTP].sessions) == 2


async def test_ids_pruned_by_the_proxy_recover_over_mcp_for_the_same_key(
    aiohttp_server, fake_upstream, make_config
):
    from sidecar.pruning.middleware import install_pruning

    app = build_app(make_config(fake_upstream.url), installers=[install_pruner, install_pruning, install_mcp])
    server = await aiohttp_server(app)
    url = str(server.make_url("/sidecar/mcp"))
    messages = [
        {"role": "user", "content": "Why do requests fail? Look for the database timeout error."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "read_log", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": TEXT},
    ]
    async with aiohttp.ClientSession() as http:
        async with http.post(
            server.make_url("/v1/chat/completions"),
            json={"model": "m", "messages": messages},
            headers={"Authorization": "Bearer sk-agent"},
        ) as resp:
            assert resp.status == 200
    forwarded = json.loads(fake_upstream.received[-1].body)["messages"][-1]["content"]
    prune_id = re.search(r"prune_id=([a-z0-9]+)", forwarded).group(1)
    everything = {"prune_id": prune_id, "ranges": []}
    async with httpx2.AsyncClient(headers={"Authorization": "Bearer sk-agent"}) as same:
        async with Client(streamable_http_client(url, http_client=same)) as client:
            assert (await client.call_tool("recover_text", everything)).structured_content["raw_text"] == TEXT
    async with Client(url) as anonymous:
        with pytest.raises(MCPError) as refused:
            await anonymous.call_tool("recover_text", everything)
        assert refused.value.code == -32004


@pytest.mark.parametrize("version", ["2025-11-25", "2025-06-18", "2025-03-26"])
async def test_each_version_over_http(mcp_url, version):
    init = {**INIT, "params": {**INIT["params"], "protocolVersion": version}}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            mcp_url, json=init, headers={"Accept": "application/json, text/event-stream"}
        ) as resp:
            assert (await resp.json())["result"]["protocolVersion"] == version
            headers = {"Mcp-Session-Id": resp.headers["Mcp-Session-Id"], "MCP-Protocol-Version": version}
        if version == "2025-03-26":
            del headers["MCP-Protocol-Version"]  # that version has no such header
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        async with http.post(mcp_url, json=listing, headers=headers) as resp:
            tools = (await resp.json())["result"]["tools"]
    assert [t["name"] for t in tools] == ["prune_text", "recover_text", "health"]
    assert all(("outputSchema" in t) == (version != "2025-03-26") for t in tools)


def test_prefers_sse():
    assert not prefers_sse("application/json, text/event-stream")
    assert not prefers_sse("*/*") and not prefers_sse("")
    assert prefers_sse("text/event-stream") and prefers_sse("text/event-stream, application/json")
    assert prefers_sse("application/json;q=0.5, text/event-stream")
    assert not prefers_sse("text/event-stream;q=0, application/json")
    assert not prefers_sse("text/event-stream;q=bad")


async def test_a_dispatcher_bug_is_a_json_rpc_error_not_a_500(aiohttp_server, monkeypatch):
    server, url = await start(aiohttp_server)

    async def broken(decoded, state):
        raise RuntimeError("a bug, with SECRET-TEXT in its message")

    monkeypatch.setattr(server.app[MCP_HTTP].dispatcher, "respond", broken)
    async with aiohttp.ClientSession() as http, http.post(url, json=INIT) as resp:
        assert resp.status == 200
        doc = await resp.json()
    assert doc["error"]["code"] == -32603
    assert doc["error"]["message"] == "internal error: RuntimeError"  # the class only, never the message
