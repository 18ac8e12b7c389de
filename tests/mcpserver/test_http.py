"""MCP transports: the official `mcp` SDK client (2.x) over Streamable HTTP and stdio, raw HTTP, security."""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from pathlib import Path

import aiohttp
import httpx2
import pytest
import yaml
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from sidecar.app import build_app
from sidecar.config import load_config
from sidecar.mcpserver.http import auth_policy, caller_identity, install_mcp, origin_allowed, prefers_sse
from sidecar.pruning.lifecycle import install_pruner

ROOT = Path(__file__).resolve().parents[2]
LINES = [f"2026-01-01 INFO request ok id={i} path=/api/items/{i}" for i in range(300)]
LINES[150] = "2026-01-01 ERROR database timeout after 30s on query items"
TEXT = "\n".join(LINES)
GOAL = "database timeout error"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "curl", "version": "1"},
    },
}


def tool_names(listing) -> set[str]:
    return {tool.name for tool in listing.tools}


async def start(aiohttp_server, toml: str = ""):
    env = {}
    if toml:
        path = Path("mcp.toml")  # conftest runs each test in its own empty directory
        path.write_text(toml)
        env["SIDECAR_CONFIG"] = str(path)
    app = build_app(load_config(env=env), installers=[install_pruner, install_mcp])
    server = await aiohttp_server(app)
    return server, str(server.make_url("/sidecar/mcp"))


@pytest.fixture
async def mcp_url(aiohttp_server):
    server, url = await start(aiohttp_server)
    return url


async def round_trip(client: Client) -> dict:
    """List the tools, prune the log, recover a pruned block exactly; return the prune output."""
    assert tool_names(await client.list_tools()) == {"prune_text", "recover_text", "health"}
    pruned = await client.call_tool(
        "prune_text",
        {
            "text": TEXT,
            "goal_hint": GOAL,
            "source_type": "logs",
            "options": {
                "max_prune_ratio": 0.9,
                "min_keep_lines": 4,
                "timeout_ms": 800,
                "annotate_lines": False,
                "include_markers": True,
            },
        },
    )
    assert not pruned.is_error
    out = pruned.structured_content
    assert json.loads(pruned.content[0].text) == out
    assert out["annotations"] and LINES[150] in out["pruned_text"]
    block = out["annotations"][-1]
    start, end = block["original_start_line"], block["original_end_line"]
    recovered = await client.call_tool(
        "recover_text",
        {
            "prune_id": out["prune_id"],
            "ranges": [{"start_line": start, "end_line": end}],
            "include_line_numbers": False,
        },
    )
    assert recovered.structured_content["raw_text"] == "\n".join(LINES[start - 1 : end])
    assert recovered.structured_content["metadata"]["line_numbering"] == "original"
    return out


async def assert_errors(client: Client, prune_id: str) -> None:
    with pytest.raises(MCPError) as bad:
        await client.call_tool(
            "prune_text", {"text": TEXT, "goal_hint": GOAL, "options": {"min_keep_lines": -3}}
        )
    assert bad.value.code == -32602 and "arguments.options.min_keep_lines" in bad.value.message
    with pytest.raises(MCPError) as missing:
        await client.call_tool(
            "recover_text", {"prune_id": "a" * 26, "ranges": [{"start_line": 1, "end_line": 2}]}
        )
    assert missing.value.code == -32004
    with pytest.raises(MCPError) as invalid:
        await client.call_tool(
            "recover_text", {"prune_id": prune_id, "ranges": [{"start_line": 290, "end_line": 999}]}
        )
    assert invalid.value.code == -32005


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
    for key in ("calls_total", "calls_deepinfra", "fallbacks_deepinfra", "cost_estimated_total_usd"):
        assert health[key] == section[key]


async def test_sdk_client_legacy_mode(mcp_url):
    async with Client(mcp_url, mode="legacy") as client:
        assert client.protocol_version == "2025-11-25"
        await round_trip(client)


async def test_sdk_client_over_stdio(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SIDECAR_", "KIMI_", "DEEPINFRA_", "OTEL_"))
    }
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "sidecar", "mcp"], env=env, cwd=tmp_path
    )
    async with Client(params) as client:
        assert client.protocol_version == "2025-11-25"
        out = await round_trip(client)
        await assert_errors(client, out["prune_id"])
        health = (await client.call_tool("health", {})).structured_content
        assert health["calls_total"] == 1 and health["calls_deepinfra"] == 0


async def test_stdio_raw_lines_and_quiet_stdout(tmp_path):
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sidecar",
        "mcp",
        cwd=tmp_path,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    lines = [
        json.dumps(INIT),
        '{"jsonrpc":"2.0","method":"notifications/initialized"}',
        "{not json",
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "prune_text", "arguments": {"text": TEXT, "goal_hint": GOAL}},
            }
        ),
    ]
    stdout, stderr = await asyncio.wait_for(proc.communicate(("\n".join(lines) + "\n").encode()), 30)
    assert proc.returncode == 0
    replies = [json.loads(line) for line in stdout.decode().splitlines()]
    assert len(replies) == 3  # nothing but JSON-RPC on stdout; no reply to the notification
    by_id = {r["id"]: r for r in replies}
    assert by_id[1]["result"]["protocolVersion"] == "2025-11-25"
    assert by_id[None]["error"]["code"] == -32700
    assert by_id[2]["result"]["structuredContent"]["stats"]["original_lines"] == 300
    assert GOAL.encode() not in stderr and b"database timeout" not in stderr


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
            "params": {"name": "prune_text", "arguments": {"text": TEXT, "goal_hint": GOAL}},
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
            assert resp.status == 405
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
    assert "s3cret" not in repr(auth_policy("0.0.0.0", "s3cret"))


async def test_token_required_on_non_loopback_bind(aiohttp_server, monkeypatch):
    # The config says the sidecar binds all interfaces; the test server itself stays on loopback.
    _, refused_url = await start(aiohttp_server, '[server]\nhost = "0.0.0.0"\n')
    async with aiohttp.ClientSession() as http:
        async with http.post(refused_url, json=INIT) as resp:
            assert resp.status == 403
    monkeypatch.setenv("SIDECAR_MCP_TOKEN", "s3cret")
    _, url = await start(aiohttp_server, '[server]\nhost = "0.0.0.0"\n')
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
            async with http.post(url, json=INIT, headers=headers) as resp:
                assert resp.status == 401
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


def test_helpers():
    assert caller_identity({"Authorization": "Bearer k"}) == caller_identity({"x-api-key": "k"})
    assert caller_identity({}) is None
    assert caller_identity({"Authorization": "Bearer k"}) != caller_identity({"Authorization": "Bearer j"})
    assert origin_allowed("http://[::1]:9000", []) and not origin_allowed("file://", [])
    assert not prefers_sse("application/json, text/event-stream")
    assert not prefers_sse("*/*") and not prefers_sse("")
    assert prefers_sse("text/event-stream") and prefers_sse("text/event-stream, application/json")
    assert prefers_sse("application/json;q=0.5, text/event-stream")


# ---- README.md's MCP section snippets ---------------------------------------------------------------

HTTP_URL = "http://127.0.0.1:8787/sidecar/mcp"


def readme_blocks() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## MCP pruner server", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)


def test_readme_snippets_parse_and_point_at_the_server():
    blocks = readme_blocks()
    assert all(lang in {"json", "yaml", "sh", "console"} for lang, _ in blocks), [lang for lang, _ in blocks]
    servers = [json.loads(body)["mcpServers"]["sidecar-pruner"] for lang, body in blocks if lang == "json"]
    assert any(s.get("type") == "streamableHttp" and s.get("url") == HTTP_URL for s in servers)
    assert any(s.get("command") == "sidecar" and s.get("args") == ["mcp"] for s in servers)
    continue_servers = [
        s for lang, body in blocks if lang == "yaml" for s in yaml.safe_load(body)["mcpServers"]
    ]
    assert any(s.get("type") == "streamable-http" and s.get("url") == HTTP_URL for s in continue_servers)
    assert any(s.get("command") == "sidecar" and s.get("args") == ["mcp"] for s in continue_servers)
    commands = [
        shlex.split(line)
        for lang, body in blocks
        if lang == "sh"
        for line in body.replace("\\\n", " ").splitlines()
        if line.startswith("claude ")
    ]
    assert ["claude", "mcp", "add", "--transport", "http", "sidecar-pruner", HTTP_URL] in commands
    assert any(c[:3] == ["claude", "mcp", "add"] and c[-3:] == ["--", "sidecar", "mcp"] for c in commands)


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
