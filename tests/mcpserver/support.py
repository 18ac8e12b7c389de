"""What the MCP tests share: a log with one relevant line, JSON-RPC helpers, and a full SDK round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client, MCPError

from sidecar.app import build_app
from sidecar.config import load_config
from sidecar.mcpserver import McpDispatcher, SessionState, install_mcp
from sidecar.pruning.lifecycle import install_pruner

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
DESIGN_STATS = {
    "backend",
    "original_lines",
    "kept_lines",
    "pruned_lines",
    "pruned_ratio",
    "tokens_est_before",
    "tokens_est_after",
    "tokens_saved_est",
    "elapsed_ms",
    "latency_ms",
    "used_fallback",
    "cost_estimated_usd",
}


async def rpc(d: McpDispatcher, state: SessionState, method: str, params=None, id=1):
    """Send one request through the dispatcher and return the decoded reply."""
    message = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    reply = await d.handle(json.dumps(message).encode(), state)
    assert reply is not None
    return json.loads(reply)


async def call(d: McpDispatcher, state: SessionState, tool: str, arguments):
    """Call a tool through the dispatcher and return the decoded reply."""
    return await rpc(d, state, "tools/call", {"name": tool, "arguments": arguments})


async def start(aiohttp_server, toml: str = ""):
    """Serve the pruner and MCP (nothing else) on a test server; return it and the MCP URL."""
    env = {}
    if toml:
        path = Path("mcp.toml")  # conftest runs each test in its own empty directory
        path.write_text(toml)
        env["SIDECAR_CONFIG"] = str(path)
    app = build_app(load_config(env=env), installers=[install_pruner, install_mcp])
    server = await aiohttp_server(app)
    return server, str(server.make_url("/sidecar/mcp"))


async def round_trip(client: Client) -> dict:
    """List the tools, prune the log, recover a pruned block exactly; return the prune output."""
    assert {tool.name for tool in (await client.list_tools()).tools} == {
        "prune_text",
        "recover_text",
        "health",
    }
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
    """Check that -32602, -32004 and -32005 reach an SDK client as errors."""
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
