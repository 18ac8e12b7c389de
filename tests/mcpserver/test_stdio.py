"""MCP over stdio: ``sidecar mcp`` driven by the SDK client and by raw lines; serve_stdio in-process."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from mcp import Client, StdioServerParameters

from sidecar.cli import COMMANDS
from sidecar.config import load_config
from sidecar.mcpserver import serve_stdio
from tests.mcpserver.support import GOAL, INIT, TEXT, assert_errors, round_trip


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


def test_the_mcp_command_is_the_stdio_module():
    assert COMMANDS["mcp"][0] == "sidecar.mcpserver.stdio"


async def serve(lines: list[bytes], limit: int | None = None) -> list[dict]:
    """Run serve_stdio in-process over ``lines`` until EOF; return the replies it wrote."""
    config = load_config(env={})  # the given reader's limit applies, not server.max_body_bytes
    reader = asyncio.StreamReader(limit=limit or 2**16)
    for line in lines:
        reader.feed_data(line)
    reader.feed_eof()
    written: list[bytes] = []
    await asyncio.wait_for(serve_stdio(config, reader, written.append), 30)
    assert all(chunk.endswith(b"\n") and chunk.count(b"\n") == 1 for chunk in written)
    return [json.loads(chunk) for chunk in written]


async def test_serve_stdio_answers_every_request_before_returning():
    prune = {
        "jsonrpc": "2.0",
        "id": "p",
        "method": "tools/call",
        "params": {"name": "prune_text", "arguments": {"text": TEXT, "goal_hint": GOAL}},
    }
    lines = [
        json.dumps(INIT).encode() + b"\n",
        b"\n",  # blank lines are skipped
        json.dumps(prune).encode() + b"\n",
        b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n',
        b'[{"jsonrpc":"2.0","id":7,"method":"ping"},{"jsonrpc":"2.0","id":8,"method":"nope"}]\n',
        b'{"jsonrpc":"2.0","id":9,"method":"ping"}',  # the last line may lack its newline
    ]
    replies = await serve(lines)
    batch = [r for r in replies if isinstance(r, list)]
    single = {r["id"]: r for r in replies if isinstance(r, dict)}
    assert set(single) == {1, "p", 9} and len(batch) == 1
    assert single["p"]["result"]["structuredContent"]["stats"]["original_lines"] == 300
    assert [r["id"] for r in batch[0]] == [7, 8] and batch[0][1]["error"]["code"] == -32601


async def test_serve_stdio_answers_a_too_long_line_with_a_parse_error():
    ping = b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n'
    replies = await serve(
        [b'{"jsonrpc":"2.0","id":0,"method":"ping","x":"' + b"x" * 300 + b'"}\n', ping], 100
    )
    assert replies[0] == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "parse error: message too large"},
    }
    assert replies[-1] == {"jsonrpc": "2.0", "id": 1, "result": {}}
