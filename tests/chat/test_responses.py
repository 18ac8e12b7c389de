"""Segments of OpenAI Responses bodies: what is found, the goal and kind of each, byte-exact rewriting."""

from __future__ import annotations

import json

import msgspec
import pytest

from sidecar.chat.responses import parse_responses
from sidecar.chat.segments import SegmentError, rewrite
from tests import agent_fixtures as fx

CODE = "\n".join(
    f'def handler_{i}(request):\n    return respond(request, {i})  # é \\ "q"' for i in range(80)
)
LOG = (
    "\n".join(f"tests/test_app.py::test_case_{i} PASSED" for i in range(120))
    + "\nFAILED tests/test_app.py::x"
)
HITS = "\n".join(f"src/app.py:{i}:    retry_timeout = {i}" for i in range(100))
EXEC_HEADER = "Chunk ID: 35c4e6\nWall time: 0.0000 seconds\nProcess exited with code 0\n"
EXEC_HEADER += "Original token count: 4056\nOutput:\n"
SCRIPT_HEADER = "Script completed\nWall time 0.1 seconds\nOutput:\n"
TASK = "Fix the timeout handling in the retry loop"


def codex_doc() -> dict:
    """A Codex-shaped conversation: every item type, both tool styles, context that is not the task."""
    return {
        "model": "gpt-5.5",
        "instructions": "You are Codex. " + "I" * 3000,
        "input": [
            {"type": "additional_tools", "role": "developer", "tools": [{"type": "custom", "name": "exec"}]},
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "D" * 3000}]},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {
                        "type": "input_text",
                        "text": "<environment_context>\n  <cwd>/repo</cwd>\n</environment_context>",
                    }
                ],
            },
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": TASK}]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "E" * 4000},
            {
                "type": "function_call",
                "call_id": "c1",
                "name": "exec_command",
                "arguments": json.dumps({"cmd": "cat src/net.py", "max_output_tokens": 10000}),
            },
            {"type": "function_call_output", "call_id": "c1", "output": EXEC_HEADER + CODE},
            {
                "type": "custom_tool_call",
                "call_id": "c2",
                "name": "exec",
                "input": "const r = await tools.exec_command({cmd: 'rg -n retry_timeout src'});\ntext(r);",
            },
            {
                "type": "custom_tool_call_output",
                "call_id": "c2",
                "output": [
                    {"type": "input_text", "text": SCRIPT_HEADER},
                    {"type": "input_text", "text": HITS},
                    {"type": "input_image", "image_url": "data:image/png;base64," + "A" * 4000},
                ],
            },
            {"type": "message", "role": "user", "content": "Now run the tests"},
            {
                "type": "function_call",
                "call_id": "c3",
                "name": "shell",
                "arguments": json.dumps({"command": ["bash", "-lc", "pytest -x tests"]}),
            },
            {
                "type": "function_call_output",
                "call_id": "c3",
                "output": [{"type": "input_text", "text": LOG}],
            },
            {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"query": "Q" * 3000}},
            {"type": "item_reference", "id": "msg_9"},
        ],
        "tools": [{"type": "function", "name": "exec_command", "description": "T" * 3000}],
        "reasoning": {"effort": "medium"},
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "k-1",
        "store": False,
        "stream": True,
    }


def test_segments_goals_kinds_and_headers() -> None:
    body = json.dumps(codex_doc()).encode()
    chat = parse_responses(body, min_chars=2000)
    read, hits, log = chat.segments
    assert read.path == ("input", 6, "output") and read.prefix == EXEC_HEADER and read.text == CODE
    assert read.source_type == "code" and read.tool_name == "exec_command"
    assert read.goal == TASK  # <environment_context> is not the task; a plain `cat` adds no words
    assert hits.path == ("input", 8, "output", 1, "text") and hits.prefix == "" and hits.text == HITS
    assert hits.source_type == "search" and hits.goal == f"{TASK}\nrg -n retry_timeout src"
    assert log.path == ("input", 11, "output", 0, "text") and log.source_type == "logs"
    assert log.goal == f"{TASK}\nNow run the tests\npytest -x tests"  # the shell tool's argv, unwrapped
    assert [s.index for s in chat.segments] == [0, 1, 2]


def test_rewrite_changes_only_the_pruned_text_after_the_header() -> None:
    doc = codex_doc()
    body = json.dumps(doc).encode()  # ASCII-escaped, spaced: not the encoder the sidecar uses
    chat = parse_responses(body, min_chars=2000)
    read, hits, _ = chat.segments
    out = rewrite(chat, [(read, "kept line\n... [lines 2-160 pruned]"), (hits, "one hit")])
    new = json.loads(out)
    assert new["input"][6]["output"] == EXEC_HEADER + "kept line\n... [lines 2-160 pruned]"
    assert new["input"][8]["output"][1]["text"] == "one hit"
    new["input"][6]["output"], new["input"][8]["output"][1]["text"] = doc["input"][6]["output"], HITS
    assert new == doc
    # Every byte outside the two strings is the client's.
    pruned = msgspec.json.encode(EXEC_HEADER + "kept line\n... [lines 2-160 pruned]")
    restored = out.replace(pruned, json.dumps(EXEC_HEADER + CODE).encode())
    assert restored.replace(b'"one hit"', json.dumps(HITS).encode()) == body


def test_small_outputs_and_no_list_input_have_no_segments() -> None:
    assert parse_responses(b'{"model": "m", "input": "Hello"}', min_chars=10).segments == []
    assert parse_responses(b'{"model": "m", "previous_response_id": "resp_1"}', min_chars=10).segments == []
    doc = codex_doc()
    assert parse_responses(json.dumps(doc).encode(), min_chars=100_000).segments == []


def test_previous_response_id_body_is_read_the_same_way() -> None:
    """Server-side state: the body has only the new items; the call may be in an earlier response."""
    doc = {"model": "m", "previous_response_id": "resp_1", "input": [
        {"type": "function_call_output", "call_id": "c_old", "output": CODE},
        {"type": "function_call", "call_id": "c2", "name": "read_file", "arguments": '{"path": "a.md"}'},
        {"type": "function_call_output", "call_id": "c2", "output": CODE},
    ]}  # fmt: skip
    first, second = parse_responses(json.dumps(doc).encode(), min_chars=2000).segments
    assert first.goal == "" and first.source_type is None and first.tool_name is None
    assert second.source_type == "docs" and second.tool_name == "read_file"


def test_code_mode_scripts_give_their_commands() -> None:
    script = 'const a = await tools.exec_command({"cmd": "sed -n \'1,200p\' docs/guide.md"});\n'
    script += "const b = await tools.exec_command({cmd: 'grep -n \\'x\\' a.py'});\ntext(a.output + b.output);"
    doc = {"input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": TASK}]},
        {"type": "custom_tool_call", "call_id": "c1", "name": "exec", "input": script},
        {"type": "custom_tool_call_output", "call_id": "c1", "output": SCRIPT_HEADER + CODE},
        {"type": "custom_tool_call", "call_id": "c2", "name": "exec", "input": "text('no command here')"},
        {"type": "custom_tool_call_output", "call_id": "c2", "output": CODE},
    ]}  # fmt: skip
    first, second = parse_responses(json.dumps(doc).encode(), min_chars=2000).segments
    assert first.prefix == SCRIPT_HEADER and first.text == CODE
    assert first.goal == f"{TASK}\nsed -n '1,200p' docs/guide.md; grep -n 'x' a.py"
    assert first.source_type is None  # two commands: a mix, let the pruner read it
    assert second.goal == TASK and second.source_type is None
    doc["input"][1]["input"] = script.split("\n")[0]  # the first command alone: a Markdown file read
    assert parse_responses(json.dumps(doc).encode(), min_chars=2000).segments[0].source_type == "docs"


@pytest.mark.parametrize(
    "doc",
    [
        [1, 2],
        {"input": 42},
        {"input": ["not an item"]},
        {"input": [{"type": 7}]},
        {"input": [{"type": "message", "role": None, "content": "x"}]},
        {"input": [{"type": "message", "role": "user", "content": 5}]},
        {
            "input": [
                {
                    "type": "function_call_output",
                    "call_id": "c",
                    "output": [{"type": "input_text", "text": 1}],
                }
            ]
        },
        {"input": [{"type": "function_call_output", "call_id": "c", "output": ["part"]}]},
    ],
)
def test_unexpected_shapes_raise(doc: object) -> None:
    with pytest.raises(SegmentError):
        parse_responses(json.dumps(doc).encode(), min_chars=1)


def test_invalid_json_raises() -> None:
    for body in (b'{"input": [', b'{"input": "\xff"}'):
        with pytest.raises(SegmentError):
            parse_responses(body, min_chars=1)


@pytest.mark.parametrize("agent", [fx.CODEX_EXEC, fx.CODEX_CODE])
def test_real_codex_bodies(agent: str) -> None:
    """Codex 0.171's own bodies: one segment per tool output, the status block kept, the task as goal."""
    body = fx.body(agent, "turn-4")
    chat = parse_responses(body, min_chars=2000)
    task = fx.meta(agent)["task"]
    read, hits, log = chat.segments
    assert all(s.goal.startswith(task) for s in chat.segments)  # not Codex's <environment_context>
    assert read.goal == task and read.source_type == "code"  # a plain file read adds no words
    assert "grep -rn" in hits.goal and hits.source_type == "search"
    assert "make test" in log.goal and log.source_type == "logs"
    if agent == fx.CODEX_EXEC:
        assert all(
            s.prefix.startswith("Chunk ID: ") and s.prefix.endswith("\nOutput:\n") for s in chat.segments
        )
        assert [s.path[-1] for s in chat.segments] == ["output"] * 3
    else:  # code mode: the status block is a part of its own, too short to be a segment
        assert all(s.prefix == "" and s.path[-3:] == ("output", 1, "text") for s in chat.segments)
    kinds = {item.get("type") for item in json.loads(body)["input"]}
    assert {"reasoning", "message"} <= kinds
