"""MCP under hostile input: deep JSON (row 3), token-mode recover (5), amplification (6), stdio lines (12)."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import pytest

from sidecar.config import load_config
from sidecar.mcpserver import McpDispatcher, SessionState, serve_stdio
from sidecar.testing.fake_upstream import FakeUpstream
from tests.mcpserver.support import INIT, TEXT
from tests.reliability.conftest import start_full

pytestmark = pytest.mark.timeout(60)

DEEP = b"[" * 1000 + b"]" * 1000
TOKEN = "mcp-token-0123456789"
KEY_A, KEY_B = "sk-agent-a-0123456789", "sk-agent-b-0123456789"
PRUNE_ID = re.compile(r"\b[a-z2-7]{26}\b")


def deep_bodies() -> list[bytes]:
    return [
        DEEP,
        b'{"jsonrpc":"2.0","id":1,"method":"ping","params":' + DEEP + b"}",
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"prune_text","arguments":'
        + DEEP
        + b"}}",
        b'[{"jsonrpc":"2.0","id":1,"method":"ping","x":' + DEEP + b"}]",
        b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":' + DEEP + b"}}",
    ]


async def test_deep_json_over_http_gets_a_parse_error(fake: FakeUpstream):
    server = await start_full(load_config(env={"SIDECAR_UPSTREAM_URL": fake.url}))
    url = str(server.make_url("/sidecar/mcp"))
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json=INIT) as resp:
                sid = resp.headers["Mcp-Session-Id"]
            for body in deep_bodies():
                for headers in ({}, {"Mcp-Session-Id": sid}):
                    async with session.post(
                        url, data=body, headers={"Content-Type": "application/json", **headers}
                    ) as resp:
                        assert resp.status < 500, body[:80]
                        doc = await resp.json()
                    replies = doc if isinstance(doc, list) else [doc]
                    assert all(r["error"]["code"] in (-32700, -32600, -32602) for r in replies), doc
    finally:
        await server.close()


async def run_stdio(lines: list[bytes], limit: int = 2**16) -> list[bytes]:
    reader = asyncio.StreamReader(limit=limit)
    for line in lines:
        reader.feed_data(line)
    reader.feed_eof()
    written: list[bytes] = []
    await asyncio.wait_for(serve_stdio(load_config(env={}), reader, written.append), 30)
    return written


async def test_deep_json_over_stdio_gets_one_reply_each():
    written = await run_stdio(
        [body + b"\n" for body in deep_bodies()] + [b'{"jsonrpc":"2.0","id":9,"method":"ping"}\n']
    )
    replies = [json.loads(w) for w in written]
    assert len(replies) == len(deep_bodies()) + 1
    assert {"jsonrpc": "2.0", "id": 9, "result": {}} in replies
    errors = [r for r in replies if not (isinstance(r, dict) and r.get("id") == 9)]
    for reply in errors:
        reply = reply[0] if isinstance(reply, list) else reply
        assert reply["error"]["code"] in (-32700, -32600, -32602)


async def test_one_line_over_the_limit_gets_one_error():
    ping = b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n'
    huge = b'{"jsonrpc":"2.0","id":0,"method":"ping","x":"' + b"x" * 40_000 + b'"}\n'
    written = await run_stdio([huge, ping], limit=1000)
    replies = [json.loads(w) for w in written]
    assert [r.get("error", {}).get("code") for r in replies] == [-32700, None], replies
    assert replies[-1] == {"jsonrpc": "2.0", "id": 1, "result": {}}


@pytest.mark.slow
async def test_a_40_mib_line_over_real_stdio_gets_one_error(tmp_path):
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar", "mcp", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=tmp_path,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b'{"jsonrpc":"2.0","id":0,"method":"ping","x":"' + b"x" * (40 * 1024 * 1024) + b'"}\n')
    proc.stdin.write(b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n')
    await proc.stdin.drain()
    proc.stdin.close()
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    replies = [json.loads(line) for line in out.splitlines()]
    assert [r.get("error", {}).get("code") for r in replies] == [-32700, None], replies


async def mcp_session(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> dict[str, str]:
    async with session.post(url, json=INIT, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return {**headers, "Mcp-Session-Id": resp.headers["Mcp-Session-Id"]}


def tool_call(name: str, arguments: dict, id: int = 2) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


async def recover(session, url, headers, prune_id, ranges=None) -> dict:
    call = tool_call("recover_text", {"prune_id": prune_id, "ranges": ranges or []})
    async with session.post(url, json=call, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_token_mode_recovers_the_agents_own_markers(fake: FakeUpstream, monkeypatch):
    monkeypatch.setenv("SIDECAR_MCP_TOKEN", TOKEN)
    config = load_config(env={"SIDECAR_UPSTREAM_URL": fake.url, "SIDECAR_MIN_CHARS_TO_PRUNE": "500"})
    server = await start_full(config)
    base = str(server.make_url("")).rstrip("/")
    url = base + "/sidecar/mcp"
    chat = {"model": "m", "messages": [
        {"role": "user", "content": "database timeout error"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "read_log", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": TEXT},
    ]}  # fmt: skip
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(
                base + "/v1/chat/completions", json=chat, headers={"Authorization": f"Bearer {KEY_A}"}
            ) as resp:
                assert resp.status == 200 and int(resp.headers["X-Sidecar-Tokens-Saved"]) > 0
            sent = json.loads(fake.received[-1].body)["messages"][2]["content"]
            prune_id = PRUNE_ID.search(sent).group(0)
            ok = [
                {"Authorization": f"Bearer {TOKEN}", "x-api-key": KEY_A},  # token as the bearer, key apart
                {"X-Sidecar-MCP-Token": TOKEN, "Authorization": f"Bearer {KEY_A}"},  # the key as the bearer
                {"X-Sidecar-MCP-Token": TOKEN, "x-api-key": KEY_A},
            ]
            for headers in ok:
                reply = await recover(session, url, await mcp_session(session, url, headers), prune_id)
                assert reply["result"]["structuredContent"]["raw_text"] == TEXT, (headers, reply)
            refused = [
                {"Authorization": f"Bearer {TOKEN}"},  # the token alone is not the agent
                {"Authorization": f"Bearer {TOKEN}", "x-api-key": KEY_B},
                {"X-Sidecar-MCP-Token": TOKEN, "Authorization": f"Bearer {KEY_B}"},
            ]
            for headers in refused:
                reply = await recover(session, url, await mcp_session(session, url, headers), prune_id)
                assert reply["error"]["code"] == -32004, (headers, reply)
            for headers in ({"x-api-key": KEY_A}, {"X-Sidecar-MCP-Token": "wrong", "x-api-key": KEY_A}):
                async with session.post(url, json=INIT, headers=headers) as resp:
                    assert resp.status == 401
            # A session opened by key A is not key B's, with the token in either header.
            headers = await mcp_session(session, url, {"X-Sidecar-MCP-Token": TOKEN, "x-api-key": KEY_A})
            headers["x-api-key"] = KEY_B
            async with session.post(
                url, json={"jsonrpc": "2.0", "id": 3, "method": "ping"}, headers=headers
            ) as r:
                assert r.status == 404
    finally:
        await server.close()


async def amplified(dispatcher: McpDispatcher, state: SessionState, ranges: list[dict]) -> dict:
    prune = tool_call("prune_text", {"text": TEXT * 5, "goal_hint": "database timeout"}, id=1)
    pruned = await dispatcher.handle(json.dumps(prune).encode(), state)
    assert pruned is not None
    prune_id = json.loads(pruned)["result"]["structuredContent"]["prune_id"]
    call = tool_call("recover_text", {"prune_id": prune_id, "ranges": ranges})
    reply = await dispatcher.handle(json.dumps(call).encode(), state)
    assert reply is not None
    assert len(reply) < 4 * len(TEXT * 5) + 10_000, len(reply)  # never much more than the text itself
    return json.loads(reply)


async def test_recover_amplification_is_refused(dispatcher: McpDispatcher):
    state = SessionState()
    whole = [{"start_line": 1, "end_line": 1000}]
    reply = await amplified(dispatcher, state, whole * 3000)
    assert reply["error"]["code"] == -32602, reply  # too many ranges: refused before any work
    assert "ranges" in reply["error"]["message"]
    reply = await amplified(dispatcher, state, whole * 5)
    assert reply["error"]["code"] == -32005 and "whole text" in reply["error"]["message"], reply
    reply = await amplified(
        dispatcher, state, [{"start_line": 1, "end_line": 10}, {"start_line": 5, "end_line": 20}]
    )
    assert "result" in reply  # overlapping ranges within the text's size are fine
    reply = await amplified(dispatcher, state, whole)
    assert "result" in reply


@pytest.fixture
async def dispatcher():
    from sidecar.pruning.service import Pruner

    pruner = Pruner(load_config(env={}))
    await pruner.start()
    try:
        yield McpDispatcher(pruner)
    finally:
        await pruner.aclose()
