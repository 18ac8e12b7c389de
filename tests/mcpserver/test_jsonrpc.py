"""The MCP dispatcher on its own: envelope, negotiation, schemas, tools and every error code."""

from __future__ import annotations

import json

import jsonschema
import msgspec
import pytest

from sidecar.config import load_config
from sidecar.mcpserver.jsonrpc import (
    LATEST_VERSION,
    McpDispatcher,
    PruneTextResult,
    SessionState,
    json_schema,
)
from sidecar.pruning.service import Pruner

LINES = [f"2026-01-01 INFO request ok id={i} path=/api/items/{i}" for i in range(300)]
LINES[150] = "2026-01-01 ERROR database timeout after 30s on query items"
TEXT = "\n".join(LINES)
GOAL = "database timeout error"

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


@pytest.fixture
async def dispatcher():
    pruner = Pruner(load_config(env={}))
    await pruner.start()
    try:
        yield McpDispatcher(pruner)
    finally:
        await pruner.aclose()


async def rpc(d: McpDispatcher, state: SessionState, method: str, params=None, id=1):
    message = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    reply = await d.handle(json.dumps(message).encode(), state)
    assert reply is not None
    return json.loads(reply)


async def call(d, state, tool, arguments):
    return await rpc(d, state, "tools/call", {"name": tool, "arguments": arguments})


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


async def test_tools_list_schemas_are_valid_json_schema(dispatcher):
    state = SessionState()
    state.protocol_version = "2025-11-25"
    tools = (await rpc(dispatcher, state, "tools/list"))["result"]["tools"]
    assert [t["name"] for t in tools] == ["prune_text", "recover_text", "health"]
    for tool in tools:
        for key in ("inputSchema", "outputSchema"):
            schema = tool[key]
            assert schema["type"] == "object"
            jsonschema.Draft202012Validator.check_schema(schema)
            assert "$ref" not in json.dumps(schema)
    prune = tools[0]["inputSchema"]
    assert prune["required"] == ["text", "goal_hint"]
    options = prune["properties"]["options"]["anyOf"][0]["properties"]
    assert set(options) >= {
        "max_prune_ratio",
        "min_keep_lines",
        "timeout_ms",
        "annotate_lines",
        "include_markers",
    }
    assert set(tools[0]["outputSchema"]["properties"]["stats"]["properties"]) == DESIGN_STATS


async def test_older_versions_get_no_output_schema_nor_structured_content(dispatcher):
    state = SessionState()
    await rpc(dispatcher, state, "initialize", {"protocolVersion": "2025-03-26"})
    tools = (await rpc(dispatcher, state, "tools/list"))["result"]["tools"]
    assert all("outputSchema" not in t for t in tools)
    result = (await call(dispatcher, state, "health", {}))["result"]
    assert "structuredContent" not in result
    assert json.loads(result["content"][0]["text"])["calls_total"] == 0


async def test_prune_then_recover_exact_lines(dispatcher):
    state = SessionState()
    await rpc(dispatcher, state, "initialize", {"protocolVersion": "2025-11-25"})
    reply = await call(
        dispatcher,
        state,
        "prune_text",
        {
            "text": TEXT,
            "goal_hint": GOAL,
            "source_type": "logs",
            "options": {
                "max_prune_ratio": 0.9,
                "min_keep_lines": 4,
                "timeout_ms": 500,
                "annotate_lines": False,
                "include_markers": True,
            },
        },
    )
    result = reply["result"]
    assert result.get("isError", False) is False
    out = result["structuredContent"]
    assert json.loads(result["content"][0]["text"]) == out
    msgspec.convert(out, PruneTextResult)
    assert set(out) == {"prune_id", "pruned_text", "annotations", "warnings", "stats"}
    assert set(out["stats"]) == DESIGN_STATS
    jsonschema.validate(out, json_schema(PruneTextResult))
    assert out["annotations"], "the log should have been pruned"
    assert LINES[150] in out["pruned_text"]
    block = out["annotations"][0]
    assert block["marker"] in out["pruned_text"]
    start, end = block["original_start_line"], block["original_end_line"]
    rec = (
        await call(
            dispatcher,
            state,
            "recover_text",
            {
                "prune_id": out["prune_id"],
                "ranges": [{"start_line": start, "end_line": end}],
                "include_line_numbers": False,
            },
        )
    )["result"]["structuredContent"]
    assert rec["raw_text"] == "\n".join(LINES[start - 1 : end])
    assert rec["metadata"] == {
        "prune_id": out["prune_id"],
        "ranges": [{"start_line": start, "end_line": end}],
        "line_numbering": "original",
    }
    numbered = (
        await call(
            dispatcher,
            state,
            "recover_text",
            {
                "prune_id": out["prune_id"],
                "ranges": [{"start_line": 2, "end_line": 3}],
                "include_line_numbers": True,
            },
        )
    )["result"]["structuredContent"]
    assert numbered["raw_text"] == f"2\t{LINES[1]}\n3\t{LINES[2]}"


async def test_prune_without_source_type_or_options_uses_config_defaults(dispatcher):
    state = SessionState()
    out = (await call(dispatcher, state, "prune_text", {"text": TEXT, "goal_hint": GOAL}))["result"]
    assert out["structuredContent"]["stats"]["original_lines"] == 300
    # keep_ratio is accepted as an extension and steers the kept share.
    small = (
        await call(
            dispatcher, state, "prune_text", {"text": TEXT, "goal_hint": GOAL, "options": {"keep_ratio": 0.1}}
        )
    )["result"]
    big = (
        await call(
            dispatcher, state, "prune_text", {"text": TEXT, "goal_hint": GOAL, "options": {"keep_ratio": 0.6}}
        )
    )["result"]
    assert small["structuredContent"]["stats"]["kept_lines"] < big["structuredContent"]["stats"]["kept_lines"]


async def test_health_tool_reports_the_pruner_aggregates(dispatcher):
    state = SessionState()
    await call(dispatcher, state, "prune_text", {"text": TEXT, "goal_hint": GOAL})
    await call(dispatcher, state, "prune_text", {"text": TEXT, "goal_hint": GOAL})
    health = (await call(dispatcher, state, "health", {}))["result"]["structuredContent"]
    assert health == msgspec.to_builtins(dispatcher.pruner.health())
    assert health["calls_total"] == 2 and health["cache_hits"] == 1
    for key in ("calls_deepinfra", "fallbacks_deepinfra", "cost_estimated_total_usd"):
        assert key in health


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"goal_hint": GOAL}, "arguments.text"),
        ({"text": TEXT}, "arguments.goal_hint"),
        ({"text": 3, "goal_hint": GOAL}, "arguments.text"),
        ({"text": TEXT, "goal_hint": GOAL, "source_type": "video"}, "arguments.source_type"),
        (
            {"text": TEXT, "goal_hint": GOAL, "options": {"max_prune_ratio": 1.5}},
            "arguments.options.max_prune_ratio",
        ),
        (
            {"text": TEXT, "goal_hint": GOAL, "options": {"min_keep_lines": -1}},
            "arguments.options.min_keep_lines",
        ),
        ({"text": TEXT, "goal_hint": GOAL, "options": {"timeout_ms": 0}}, "arguments.options.timeout_ms"),
        (
            {"text": TEXT, "goal_hint": GOAL, "options": {"annotate_lines": "yes"}},
            "arguments.options.annotate_lines",
        ),
    ],
)
async def test_invalid_prune_arguments_name_the_field(dispatcher, arguments, field):
    reply = await call(dispatcher, SessionState(), "prune_text", arguments)
    assert reply["error"]["code"] == -32602
    assert field in reply["error"]["message"]
    assert reply["error"]["data"]["field"] == field
    assert TEXT[:20] not in reply["error"]["message"]


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


async def test_tool_failure_is_a_tool_error_result(dispatcher, monkeypatch):
    def broken():
        raise RuntimeError("secret text must not leak")

    monkeypatch.setattr(dispatcher.pruner, "health", broken)
    result = (await call(dispatcher, SessionState(), "health", {}))["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"] == "health failed: RuntimeError"


class Inner(msgspec.Struct):
    title: str


class Outer(msgspec.Struct):
    title: Inner
    more: list[Inner] = []


def test_json_schema_inlines_references_and_keeps_a_field_named_title():
    schema = json_schema(Outer)
    assert "$defs" not in schema and "title" not in schema
    assert schema["properties"]["title"]["properties"]["title"] == {"type": "string"}
    assert schema["properties"]["more"]["items"]["required"] == ["title"]
    jsonschema.validate({"title": {"title": "x"}, "more": [{"title": "y"}]}, schema)


async def test_prune_accepts_the_structural_source_types(dispatcher):
    from tests.pruning.engine.samples import git_log

    state = SessionState()
    args = {"text": git_log(), "goal_hint": "the heap commit", "source_type": "diff"}
    out = (await call(dispatcher, state, "prune_text", args))["result"]["structuredContent"]
    assert out["annotations"] and out["stats"]["pruned_lines"] > 0
    assert "    Consolidation keeps gaps in a heap instead of rescanning every run" in out["pruned_text"]
