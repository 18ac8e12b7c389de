"""The MCP method table: version negotiation, notifications, batches, and how tool errors are reported."""

from __future__ import annotations

import json
import logging

import pytest

from sidecar.mcpserver import McpDispatcher, SessionState
from sidecar.mcpserver.dispatcher import LATEST_VERSION, PROTOCOL_VERSIONS
from tests.mcpserver.support import GOAL, LINES, TEXT, call, rpc


@pytest.mark.parametrize(
    ("asked", "got"),
    [
        ("2025-11-25", "2025-11-25"),
        ("2025-06-18", "2025-06-18"),
        ("2025-03-26", "2025-03-26"),
        ("2099-01-01", LATEST_VERSION),
        ("garbage", LATEST_VERSION),
    ],
)
async def test_initialize_negotiates_the_version(dispatcher, asked, got):
    state = SessionState()
    reply = await rpc(
        dispatcher,
        state,
        "initialize",
        {"protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    )
    assert reply["result"]["protocolVersion"] == got
    assert reply["result"]["capabilities"] == {"tools": {"listChanged": False}}
    assert reply["result"]["serverInfo"]["name"] == "sidecar-pruner"
    assert state.protocol_version == got
    assert await dispatcher.handle(b'{"jsonrpc":"2.0","method":"notifications/initialized"}', state) is None
    assert state.initialized


def test_latest_version_is_the_first():
    assert LATEST_VERSION == PROTOCOL_VERSIONS[0] == "2025-11-25"
    assert "2024-11-05" in PROTOCOL_VERSIONS


async def test_older_versions_get_no_output_schema_nor_structured_content(dispatcher):
    state = SessionState()
    await rpc(dispatcher, state, "initialize", {"protocolVersion": "2025-03-26"})
    tools = (await rpc(dispatcher, state, "tools/list"))["result"]["tools"]
    assert all("outputSchema" not in t and "title" not in t for t in tools)
    result = (await call(dispatcher, state, "health", {}))["result"]
    assert "structuredContent" not in result
    assert json.loads(result["content"][0]["text"])["calls_total"] == 0


async def test_recover_errors(dispatcher):
    state = SessionState()
    missing = await call(dispatcher, state, "recover_text", {"prune_id": "nope", "ranges": []})
    assert missing["error"]["code"] == -32004
    assert missing["error"]["data"]["reason"] == "prune_id_not_found"
    pid = (await call(dispatcher, state, "prune_text", {"text": TEXT, "goal_hint": GOAL}))["result"][
        "structuredContent"
    ]["prune_id"]
    for bad in (
        {"start_line": 0, "end_line": 2},
        {"start_line": 5, "end_line": 4},
        {"start_line": 1, "end_line": 301},
    ):
        reply = await call(dispatcher, state, "recover_text", {"prune_id": pid, "ranges": [bad]})
        assert reply["error"]["code"] == -32005
        assert reply["error"]["data"]["reason"] == "invalid_range"
    bad_shape = await call(
        dispatcher, state, "recover_text", {"prune_id": pid, "ranges": [{"start_line": 1}]}
    )
    assert bad_shape["error"]["code"] == -32602
    assert "arguments.ranges[0].end_line" in bad_shape["error"]["message"]


async def test_caller_identity_limits_recover(dispatcher):
    owner, stranger = SessionState(caller="a" * 32), SessionState(caller="b" * 32)
    pid = (await call(dispatcher, owner, "prune_text", {"text": TEXT, "goal_hint": GOAL}))["result"][
        "structuredContent"
    ]["prune_id"]
    ranges = [{"start_line": 1, "end_line": 1}]
    assert (await call(dispatcher, stranger, "recover_text", {"prune_id": pid, "ranges": ranges}))["error"][
        "code"
    ] == -32004
    assert (await call(dispatcher, SessionState(), "recover_text", {"prune_id": pid, "ranges": ranges}))[
        "error"
    ]["code"] == -32004
    ok = await call(dispatcher, owner, "recover_text", {"prune_id": pid, "ranges": ranges})
    assert ok["result"]["structuredContent"]["raw_text"] == LINES[0]


async def test_protocol_errors(dispatcher):
    state = SessionState()
    assert (await rpc(dispatcher, state, "resources/list"))["error"]["code"] == -32601
    assert (await rpc(dispatcher, state, "server/discover"))["error"]["code"] == -32601
    unknown_tool = await call(dispatcher, state, "rm_rf", {})
    assert unknown_tool["error"]["code"] == -32602 and "name" in unknown_tool["error"]["message"]
    assert unknown_tool["error"]["data"] == {"field": "name"}
    assert (
        json.loads(await dispatcher.handle(b'{"jsonrpc": "2.0", "id": 1', state))["error"]["code"] == -32700
    )
    assert (
        json.loads(await dispatcher.handle(b'{"jsonrpc": "1.0", "id": 1, "method": "ping"}', state))["error"][
            "code"
        ]
        == -32600
    )
    assert (
        json.loads(await dispatcher.handle(b'{"jsonrpc": "2.0", "id": {}, "method": "ping"}', state))[
            "error"
        ]["code"]
        == -32600
    )
    assert json.loads(await dispatcher.handle(b"[]", state))["error"]["code"] == -32600
    assert (await rpc(dispatcher, state, "initialize", {}))["error"]["message"].startswith(
        "invalid params: params.protocolVersion"
    )
    assert await rpc(dispatcher, state, "ping", id="p") == {"id": "p", "result": {}, "jsonrpc": "2.0"}
    # A client's response to a request we never sent, and notifications, get no answer.
    assert await dispatcher.handle(b'{"jsonrpc": "2.0", "id": 9, "result": {}}', state) is None
    assert await dispatcher.handle(b'{"jsonrpc": "2.0", "method": "notifications/cancelled"}', state) is None
    # A notification that fails (unknown method, bad params) is still not answered.
    assert await dispatcher.handle(b'{"jsonrpc": "2.0", "method": "nope"}', state) is None
    assert await dispatcher.handle(b'{"jsonrpc": "2.0", "method": "tools/call", "params": 3}', state) is None


async def test_long_method_names_are_cut_in_errors(dispatcher):
    reply = await rpc(dispatcher, SessionState(), "x" * 500)
    assert reply["error"]["message"] == "method not found: " + "x" * 80


async def test_batch_answers_requests_in_order(dispatcher):
    body = json.dumps(
        [
            {"jsonrpc": "2.0", "id": 1, "method": "ping"},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "nope"},
        ]
    ).encode()
    replies = json.loads(await dispatcher.handle(body, SessionState()))
    assert [r["id"] for r in replies] == [1, 2]
    assert replies[1]["error"]["code"] == -32601
    only_notifications = b'[{"jsonrpc": "2.0", "method": "notifications/initialized"}]'
    assert await dispatcher.handle(only_notifications, SessionState()) is None


async def test_tool_failure_is_a_tool_error_result(dispatcher: McpDispatcher, monkeypatch, caplog):
    def broken():
        raise RuntimeError("secret text must not leak")

    monkeypatch.setattr(dispatcher.pruner, "health", broken)
    with caplog.at_level(logging.DEBUG, logger="sidecar.mcp"):
        result = (await call(dispatcher, SessionState(), "health", {}))["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"] == "health failed: RuntimeError"
    assert "secret text" not in caplog.text and "health failed: RuntimeError" in caplog.text


async def test_logs_carry_metadata_only(dispatcher, caplog):
    with caplog.at_level(logging.DEBUG, logger="sidecar.mcp"):
        await call(dispatcher, SessionState(), "prune_text", {"text": TEXT, "goal_hint": GOAL})
        await call(dispatcher, SessionState(), "recover_text", {"prune_id": "nope", "ranges": []})
    assert "mcp prune_text:" in caplog.text and "prune_id_not_found" in caplog.text
    assert GOAL not in caplog.text and "database timeout" not in caplog.text
