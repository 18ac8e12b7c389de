"""The three tools: their schemas, DESIGN.md's output fields, argument checks, and the Pruner behind them."""

from __future__ import annotations

import json

import jsonschema
import msgspec
import pytest

from sidecar.mcpserver import SessionState
from sidecar.mcpserver.tools import PruneTextResult, json_schema, prune_result, pruner_tools
from sidecar.pruning.types import PruneOutcome, PruneStats, PruneTextStats
from tests.mcpserver.support import DESIGN_STATS, GOAL, LINES, TEXT, call, rpc


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


def test_prune_text_stats_are_design_fields_only():
    # PruneStats extends the public struct with internal figures; none of them may reach a client.
    assert set(PruneTextStats.__struct_fields__) == DESIGN_STATS
    assert set(PruneStats.__struct_fields__) > DESIGN_STATS
    stats = PruneStats(
        backend="heuristic",
        original_lines=10,
        kept_lines=4,
        pruned_lines=6,
        pruned_ratio=0.6,
        tokens_est_before=100,
        tokens_est_after=40,
        tokens_saved_est=60,
        elapsed_ms=1.5,
        latency_ms=2.0,
        used_fallback=False,
        cost_estimated_usd=0.0,
        cache_hit=True,
        source_type="logs",
        deepinfra_selected=True,
    )
    outcome = PruneOutcome(prune_id="p" * 26, pruned_text="kept", annotations=[], warnings=["w"], stats=stats)
    out = json.loads(msgspec.json.encode(prune_result(outcome)))
    assert set(out) == {"prune_id", "pruned_text", "annotations", "warnings", "stats"}
    assert set(out["stats"]) == DESIGN_STATS
    assert out["stats"]["tokens_saved_est"] == 60 and out["warnings"] == ["w"]


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
    whole = (await call(dispatcher, state, "recover_text", {"prune_id": out["prune_id"]}))["result"]
    assert whole["structuredContent"]["raw_text"] == TEXT  # no ranges: the whole text


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


async def test_null_options_take_the_config_defaults(dispatcher):
    state = SessionState()
    explicit = {"max_prune_ratio": None, "min_keep_lines": None, "annotate_lines": None}
    with_nulls = (
        await call(dispatcher, state, "prune_text", {"text": TEXT, "goal_hint": GOAL, "options": explicit})
    )["result"]["structuredContent"]
    plain = (await call(dispatcher, state, "prune_text", {"text": TEXT, "goal_hint": GOAL, "options": None}))[
        "result"
    ]["structuredContent"]
    assert with_nulls["pruned_text"] == plain["pruned_text"]


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


async def test_readme_error_message_is_exact(dispatcher):
    # README's MCP section quotes this message (without the backticks).
    arguments = {"text": TEXT, "goal_hint": GOAL, "options": {"min_keep_lines": -1}}
    reply = await call(dispatcher, SessionState(), "prune_text", arguments)
    assert (
        reply["error"]["message"] == "invalid params: arguments.options.min_keep_lines: Expected `int` >= 0"
    )


async def test_pruner_tools_share_the_pruner(dispatcher):
    tools = pruner_tools(dispatcher.pruner)
    assert [t.name for t in tools] == ["prune_text", "recover_text", "health"]
    health = await tools[2].call(msgspec.UNSET, None)
    assert health == dispatcher.pruner.health()


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
