"""Segments of chat bodies: what is found, the goal rule, and byte-exact rewriting."""

from __future__ import annotations

import json

import msgspec
import pytest

from sidecar.segments import SegmentError, parse_chat, rewrite

BIG = "\n".join(f'def handler_{i}(request):\n    return respond(request, {i})  # "q" \\ é' for i in range(80))
assert len(BIG) > 2000


def openai_doc() -> dict:
    return {
        "model": "gpt-x",
        "messages": [
            {"role": "system", "content": "You are a coding agent. " + "S" * 3000},
            {"role": "user", "content": "Fix the timeout handling in the retry loop"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "grep", "arguments": json.dumps({"pattern": "retry_timeout"})},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "read_file", "arguments": json.dumps({"path": "src/net.py"})},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": BIG},
            {
                "role": "tool",
                "tool_call_id": "call_2",
                "content": [
                    {"type": "text", "text": BIG + "\n# part two"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 4000}},
                    {"type": "text", "text": "short"},
                ],
            },
            {"role": "user", "content": "Now also log the attempt number"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_3",
                        "type": "function",
                        "function": {"name": "bash", "arguments": json.dumps({"command": "pytest -x tests"})},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_3", "content": BIG + "\nFAILED"},
        ],
        "tools": [{"type": "function", "function": {"name": "grep", "description": "D" * 3000}}],
        "temperature": 0.50,
    }


def anthropic_doc() -> dict:
    return {
        "model": "claude-x",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": "system " * 600, "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>" + "R" * 3000 + "</system-reminder>"},
                    {"type": "text", "text": "Make the parser accept trailing commas"},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Looking."},
                    {
                        "type": "tool_use",
                        "id": "tu_1",
                        "name": "Read",
                        "input": {"file_path": "/r/README.md"},
                    },
                    {
                        "type": "tool_use",
                        "id": "tu_2",
                        "name": "Grep",
                        "input": {"pattern": "trailing_comma"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "tu_1", "content": BIG},
                    {
                        "type": "tool_result",
                        "tool_use_id": "tu_2",
                        "content": [
                            {"type": "text", "text": BIG + "\nmore"},
                            {"type": "image", "source": {"type": "base64", "data": "B" * 5000}},
                        ],
                        "cache_control": {"type": "ephemeral"},
                    },
                    {"type": "text", "text": "and keep it fast"},
                ],
            },
        ],
        "tools": [{"name": "Read", "description": "T" * 4000, "input_schema": {"type": "object"}}],
    }


def test_openai_segments_and_goals() -> None:
    chat = parse_chat(json.dumps(openai_doc()).encode(), "openai", min_chars=2000)
    paths = [s.path for s in chat.segments]
    assert paths == [
        ("messages", 3, "content"),
        ("messages", 4, "content", 0, "text"),
        ("messages", 7, "content"),
    ]
    first, second, third = chat.segments
    assert first.goal == "Fix the timeout handling in the retry loop\nretry_timeout"
    assert first.tool_name == "grep" and first.source_type is None
    assert second.goal == "Fix the timeout handling in the retry loop"
    assert second.source_type == "code"
    assert third.goal == (
        "Fix the timeout handling in the retry loop\nNow also log the attempt number\npytest -x tests"
    )
    assert third.source_type == "logs"


def test_anthropic_segments_goal_skips_reminders_and_later_text() -> None:
    chat = parse_chat(json.dumps(anthropic_doc()).encode(), "anthropic", min_chars=2000)
    assert [s.path for s in chat.segments] == [
        ("messages", 2, "content", 0, "content"),
        ("messages", 2, "content", 1, "content", 0, "text"),
    ]
    # The text after the tool results in the same message comes later: not part of their goal.
    assert chat.segments[0].goal == "Make the parser accept trailing commas"
    assert chat.segments[0].source_type == "docs"
    assert chat.segments[1].goal == "Make the parser accept trailing commas\ntrailing_comma"


def test_goal_ignores_agent_context_blocks() -> None:
    task = (
        "<task>\nRename foo\n</task>\n<environment_details>\n# Files\n"
        + "x.py\n" * 500
        + "</environment_details>"
    )
    doc = {"messages": [{"role": "user", "content": task}, {"role": "tool", "content": BIG}]}
    chat = parse_chat(json.dumps(doc).encode(), "openai", min_chars=2000)
    assert chat.segments[0].goal == "<task>\nRename foo\n</task>"


def test_goal_depends_only_on_what_precedes() -> None:
    doc = openai_doc()
    short = dict(doc, messages=doc["messages"][:5])
    a = parse_chat(json.dumps(short).encode(), "openai", min_chars=2000).segments
    b = parse_chat(json.dumps(doc).encode(), "openai", min_chars=2000).segments
    assert [(s.path, s.goal, s.source_type) for s in a] == [(s.path, s.goal, s.source_type) for s in b[:2]]


def test_goal_header_and_min_chars_and_user_text() -> None:
    body = json.dumps(openai_doc()).encode()
    chat = parse_chat(body, "openai", min_chars=2000, goal_override="only this")
    assert {s.goal for s in chat.segments} == {"only this"}
    assert parse_chat(body, "openai", min_chars=10**6).segments == []
    doc = openai_doc()
    doc["messages"].append({"role": "user", "content": "pasted log:\n" + BIG})
    body = json.dumps(doc).encode()
    assert [s.kind for s in parse_chat(body, "openai", min_chars=2000).segments] == ["tool_output"] * 3
    chat = parse_chat(body, "openai", min_chars=2000, prune_user_text=True)
    assert [s.kind for s in chat.segments][-1] == "user_text"
    assert chat.segments[-1].path == ("messages", 8, "content")
    assert chat.segments[-1].goal.startswith("Fix the timeout handling")


def _check_rewrite(body: bytes, style: str) -> None:
    chat = parse_chat(body, style, min_chars=2000)  # type: ignore[arg-type]
    assert chat.segments
    new_texts = [f'kept {i}\n... [pruned] é "x"' for i in range(len(chat.segments))]
    out = rewrite(chat, list(zip(chat.segments, new_texts, strict=True)))
    expected = json.loads(body)
    for seg, text in zip(chat.segments, new_texts, strict=True):
        node = expected
        for item in seg.path[:-1]:
            node = node[item]
        node[seg.path[-1]] = text
    assert json.loads(out) == expected
    # Every byte outside the replaced tokens is the client's: same prefix up to the first one.
    encoded_first = msgspec.json.encode(new_texts[0])
    cut = out.index(encoded_first)
    assert body[:cut] == out[:cut]
    assert out.endswith(body[-50:])


@pytest.mark.parametrize(
    "dumps",
    [
        lambda d: json.dumps(d).encode(),  # Python default: ASCII escapes, spaces after separators
        lambda d: json.dumps(d, ensure_ascii=False, separators=(",", ":")).encode(),  # the SDKs
        lambda d: json.dumps(d, indent=3).encode(),
        lambda d: json.dumps(d).replace("\\u00e9", "\\u00E9").replace("/", "\\/").encode(),  # odd escaper
    ],
)
@pytest.mark.parametrize("style", ["openai", "anthropic"])
def test_rewrite_keeps_every_other_byte(dumps, style: str) -> None:
    doc = openai_doc() if style == "openai" else anthropic_doc()
    doc["unknown_field"] = {"n": 1}
    body = dumps(doc)
    body = body.replace(b'"unknown_field"', b'"weird\\u0020key": 1.50e+00, "unknown_field"', 1)
    _check_rewrite(body, style)


def test_rewrite_skips_identical_text_outside_the_segment() -> None:
    doc = openai_doc()
    # The same text as the first tool output sits earlier in a user message (not a segment).
    doc["messages"].insert(1, {"role": "user", "content": BIG})
    body = json.dumps(doc, ensure_ascii=False).encode()
    chat = parse_chat(body, "openai", min_chars=2000)
    out = rewrite(chat, [(chat.segments[0], "pruned")])
    got = json.loads(out)
    assert got["messages"][1]["content"] == BIG
    assert got["messages"][4]["content"] == "pruned"


def test_rewrite_without_replacements_is_the_same_object() -> None:
    body = json.dumps(openai_doc()).encode()
    chat = parse_chat(body, "openai", min_chars=2000)
    assert rewrite(chat, []) is body


def test_duplicate_keys_never_produce_a_wrong_body() -> None:
    big = json.dumps(BIG)
    body = (
        '{"messages":[{"role":"user","content":"task"},'
        f'{{"role":"tool","content":{big},"content":{json.dumps(BIG + "2")}}}]}}'
    ).encode()
    chat = parse_chat(body, "openai", min_chars=2000)
    try:
        out = rewrite(chat, [(chat.segments[0], "pruned")])
    except SegmentError:
        return
    assert json.loads(out)["messages"][1]["content"] == "pruned"


@pytest.mark.parametrize(
    "body",
    [
        b'{"messages": [',
        b"[1, 2]",
        b'"text"',
        b'{"messages": "x"}',
        b'{"messages": [5]}',
        b'{"messages": [{"role": 7, "content": "x"}]}',
        b'{"messages": [{"role": "tool", "content": 42}]}',
        b'{"messages": [{"role": "tool", "content": [{"type": "text", "text": 5}]}]}',
        b'{"messages": [{"role": "tool", "content": [7]}]}',
        b'{"messages": [{"role": "user", "content": "caf\xff"}]}',
    ],
)
def test_unexpected_shapes_raise(body: bytes) -> None:
    for style in ("openai", "anthropic"):
        if style == "openai" or b"tool" not in body:
            with pytest.raises(SegmentError):
                parse_chat(body, style, min_chars=10)  # type: ignore[arg-type]


def test_anthropic_wrong_block_types_raise() -> None:
    body = b'{"messages": [{"role": "user", "content": [{"type": "tool_result", "content": 3}]}]}'
    with pytest.raises(SegmentError):
        parse_chat(body, "anthropic", min_chars=10)
    body = b'{"messages": [{"role": "user", "content": ["x"]}]}'
    with pytest.raises(SegmentError):
        parse_chat(body, "anthropic", min_chars=10)


def test_source_type_hints() -> None:
    def seg_for(args: dict, name: str = "tool") -> str | None:
        doc = {
            "messages": [
                {"role": "user", "content": "task"},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "function": {"name": name, "arguments": json.dumps(args)}}],
                },
                {"role": "tool", "tool_call_id": "c", "content": BIG},
            ]
        }
        return parse_chat(json.dumps(doc).encode(), "openai", min_chars=2000).segments[0].source_type

    assert seg_for({"path": "a/b.py"}) == "code"
    assert seg_for({"file_path": "docs/guide.md"}) == "docs"
    assert seg_for({"command": "cat src/main.rs"}) == "code"
    assert seg_for({"command": "npm test"}) == "logs"
    assert seg_for({"command": "grep -rn foo ."}) is None
    assert seg_for({"path": "server.log"}) == "logs"


@pytest.mark.parametrize(
    "bad",
    [
        {"role": "system", "content": 42},
        {"role": "assistant", "content": [1]},
        {"role": "assistant", "content": None, "tool_calls": "x"},
        {"role": "developer", "content": {"text": "x"}},
    ],
)
@pytest.mark.parametrize("style", ["openai", "anthropic"])
def test_any_malformed_message_stops_pruning(bad: dict, style: str) -> None:
    doc = openai_doc() if style == "openai" else anthropic_doc()
    doc["messages"].insert(0, bad)
    with pytest.raises(SegmentError):
        parse_chat(json.dumps(doc).encode(), style, min_chars=2000)  # type: ignore[arg-type]
