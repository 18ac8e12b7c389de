"""Segments of chat bodies: what is found, the goal rule, and byte-exact rewriting."""

from __future__ import annotations

import json

import anthropic
import msgspec
import openai
import pytest

from sidecar.app import build_app
from sidecar.chat.segments import SegmentError, parse_chat, rewrite
from sidecar.pruning.lifecycle import install_pruner
from sidecar.pruning.middleware import install_pruning

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
    assert first.tool_name == "grep" and first.source_type == "search"
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


# --- Cline: tool results sent as user text parts (its XML tool protocol) ----------------------------


def cline_module(n: int = 60) -> str:
    """src/retry.py: ``n`` functions, one of which (parse_retry_alpha) the task is about."""
    out = ['"""Retry helpers."""', "", "import time", ""]
    for i in range(n):
        name = "parse_retry_alpha" if i == n // 2 else f"helper_{i}"
        out += [
            f"def {name}(value, limit={i}):",
            f"    total = compute_{i}(value) + {i}",
            "    if total > limit:",
            f"        return format_output_{i}(total)",
            f"    return sanitize_{i}(value, total)",
            "",
        ]
    return "\n".join(out)


CLINE_FILE = cline_module()
CLINE_LOG = "Command executed.\nOutput:\n> proj@1.0.0 test\n> jest\n\n" + "\n".join(
    [f"PASS src/helpers/helper_{i}.test.ts ({i % 7}.{i % 10}1 s)" for i in range(80)]
    + [
        "FAIL src/retry.test.ts",
        "  ● parse_retry_alpha › honours the limit",
        "    expect(received).toBe(expected)",
        "    Expected: 30",
        "    Received: 41",
        "      at Object.<anonymous> (src/retry.test.ts:12:31)",
        "Tests:       1 failed, 80 passed, 81 total",
    ]
)
CLINE_GREP = "Found 40 results.\n\n" + "".join(
    f"src/mod_{i}.py\n│----\n│def caller_{i}(value):\n│    return parse_retry(value, {i})\n│----\n\n"
    for i in range(40)
)
CLINE_TASK = (
    "<task>\nparse_retry_alpha in src/retry.py ignores its limit: fix it so that npm test passes\n</task>"
)
CLINE_ANSWER = (
    "<answer>\nYes, the limit is inclusive. " + "Keep the public signature unchanged. " * 60 + "\n</answer>"
)


def cline_env(turn: int) -> str:
    files = "".join(f"src/mod_{i}.py\n" for i in range(150)) if turn == 0 else "(unchanged)\n"
    return (
        "<environment_details>\n# VSCode Visible Files\nsrc/retry.py\n\n# Current Time\n"
        f"11/21/2026, 11:{turn:02d}:00 AM (UTC)\n\n# Current Working Directory (/home/dev/proj) Files\n"
        f"{files}\n# Current Mode\nACT MODE\n</environment_details>"
    )


def cline_turns() -> list[tuple[str, list[str]]]:
    """Cline's history as (role, text parts), in its own (Anthropic) shape."""
    return [
        ("user", [CLINE_TASK, cline_env(0)]),
        (
            "assistant",
            ["<thinking>Read it first.</thinking>\n\n<read_file>\n<path>src/retry.py</path>\n</read_file>"],
        ),
        ("user", ["[read_file for 'src/retry.py'] Result:", CLINE_FILE, cline_env(1)]),
        ("assistant", ["<execute_command>\n<command>npm test</command>\n</execute_command>"]),
        ("user", ["[execute_command for 'npm test'] Result:", CLINE_LOG, cline_env(2)]),
        ("assistant", ["<search_files>\n<path>src</path>\n<regex>parse_retry</regex>\n</search_files>"]),
        ("user", ["[search_files for 'parse_retry' in '*.py'] Result:", CLINE_GREP, cline_env(3)]),
        ("assistant", ["<ask_followup_question>\n<question>Inclusive?</question>\n</ask_followup_question>"]),
        ("user", ["[ask_followup_question for 'Inclusive?'] Result:", CLINE_ANSWER, cline_env(4)]),
        ("assistant", ["<list_files>\n<path>src</path>\n</list_files>"]),
        ("user", ["[list_files for 'src'] Result:", CLINE_GREP.replace("│", ""), cline_env(5)]),
    ]


def cline_messages(style: str, turns: list[tuple[str, list[str]]] | None = None) -> list[dict]:
    """The same history as Cline's OpenAI Compatible or Anthropic provider sends it."""
    out: list[dict] = (
        [{"role": "system", "content": "You are Cline. " + "RULES " * 400}] if style == "openai" else []
    )
    for role, parts in cline_turns() if turns is None else turns:
        if role == "assistant" and style == "openai":
            out.append({"role": role, "content": "\n".join(parts)})
        else:
            out.append({"role": role, "content": [{"type": "text", "text": p} for p in parts]})
    return out


def cline_body(style: str, messages: list[dict] | None = None) -> bytes:
    doc = {"model": "m", "messages": cline_messages(style) if messages is None else messages}
    if style == "anthropic":
        doc["system"] = "You are Cline. " + "RULES " * 400
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()  # as JSON.stringify writes it


@pytest.mark.parametrize("style", ["openai", "anthropic"])
def test_cline_tool_results_are_segments_by_default(style: str) -> None:
    chat = parse_chat(cline_body(style), style, min_chars=2000)  # type: ignore[arg-type]
    i = 1 if style == "openai" else 0  # the system message shifts OpenAI's indexes
    assert [(s.path, s.tool_name, s.source_type, s.kind) for s in chat.segments] == [
        (("messages", i + 2, "content", 1, "text"), "read_file", "code", "tool_output"),
        (("messages", i + 4, "content", 1, "text"), "execute_command", "logs", "tool_output"),
        (("messages", i + 6, "content", 1, "text"), "search_files", "code", "tool_output"),
        (("messages", i + 10, "content", 1, "text"), "list_files", "listing", "tool_output"),
    ]
    read, test, grep, listing = chat.segments
    task = CLINE_TASK  # the environment_details part is not part of the instruction
    assert read.text == CLINE_FILE and read.goal == task
    assert test.goal == task + "\nnpm test"
    assert grep.goal == task + "\nparse_retry"
    # The user's answer (a tool "result" that is the user's own words) is the latest instruction.
    assert listing.goal == f"{task}\n{CLINE_ANSWER[:2000]}"
    # Stability: the goals of a shorter conversation are the same.
    short = parse_chat(cline_body(style, cline_messages(style, cline_turns()[:5])), style, min_chars=2000)  # type: ignore[arg-type]
    assert [(s.path, s.goal) for s in short.segments] == [(s.path, s.goal) for s in chat.segments[:2]]


def test_cline_user_words_only_with_prune_user_text() -> None:
    feedback = "The user provided the following feedback:\n<feedback>\n" + "please keep the logging " * 100
    turns = [
        *cline_turns()[:3],
        ("assistant", ["<attempt_completion>\n<result>Done</result>\n</attempt_completion>"]),
        (
            "user",
            ["[attempt_completion] Result:", "The user has provided feedback on the results. " + feedback],
        ),
        ("assistant", ["<execute_command>\n<command>npm test</command>\n</execute_command>"]),
        (
            "user",
            ["[execute_command for 'npm test'] Result:", CLINE_LOG + "\n\n" + feedback + "\n</feedback>"],
        ),
    ]
    body = cline_body("anthropic", cline_messages("anthropic", turns))
    assert [s.tool_name for s in parse_chat(body, "anthropic", min_chars=2000).segments] == ["read_file"]
    chat = parse_chat(body, "anthropic", min_chars=2000, prune_user_text=True)
    assert [(s.path[1:3], s.kind) for s in chat.segments] == [
        ((2, "content"), "tool_output"),
        ((4, "content"), "user_text"),
        ((6, "content"), "user_text"),
    ]  # never the environment_details parts, even with prune_user_text


@pytest.mark.parametrize(
    "parts",
    [
        ["Result:", CLINE_LOG],
        ["Here is the [nightly] Result:", CLINE_LOG],
        ["[read_file for 'a.py'] Result: see below", CLINE_LOG],
        ["The CI Result:\n" + CLINE_LOG],
        [CLINE_LOG, "[read_file for 'a.py'] Result:"],  # a header with no part after it
        ["<function_results>" + CLINE_LOG + "</function_results>"],  # not Cline's exact wrapper
    ],
)
def test_text_that_merely_says_result_is_user_text(parts: list[str]) -> None:
    turns = [*cline_turns()[:3], ("assistant", ["ok"]), ("user", parts)]
    body = cline_body("openai", cline_messages("openai", turns))
    chat = parse_chat(body, "openai", min_chars=2000)
    assert [s.path[1] for s in chat.segments] == [3]
    assert [s.path[1] for s in parse_chat(body, "openai", min_chars=2000, prune_user_text=True).segments] == [
        3,
        5,
    ]


def test_cline_header_in_the_task_message_is_not_a_result() -> None:
    parts = [{"type": "text", "text": "[x] Result:"}, {"type": "text", "text": CLINE_LOG}]
    body = cline_body("openai", [{"role": "user", "content": parts}])
    assert parse_chat(body, "openai", min_chars=2000).segments == []


@pytest.mark.parametrize("style", ["openai", "anthropic"])
def test_cline_function_results_keep_their_wrapper(style: str) -> None:
    """Claude 4 models: one ``<function_results>`` part, the call only in the assistant's XML."""
    wrapped = "<function_results>\n" + CLINE_LOG + "\n</function_results>"
    answer = "<function_results>\n" + CLINE_ANSWER + "\n</function_results>"
    turns = [
        cline_turns()[0],
        ("assistant", ["Run it.\n\n<execute_command>\n<command>npm test</command>\n</execute_command>"]),
        ("user", [wrapped, cline_env(1)]),
        (
            "assistant",
            [
                '<function_calls>\n<invoke name="Read">\n'
                '<parameter name="file_path">src/retry.py</parameter>\n</invoke>\n</function_calls>'
            ],
        ),
        ("user", ["<function_results>\n" + CLINE_FILE + "\n</function_results>", cline_env(2)]),
        ("assistant", ["<ask_followup_question>\n<question>Inclusive?</question>\n</ask_followup_question>"]),
        ("user", [answer, cline_env(3)]),
    ]
    body = cline_body(style, cline_messages(style, turns))
    chat = parse_chat(body, style, min_chars=2000)  # type: ignore[arg-type]
    log, code = chat.segments
    assert (log.text, log.prefix, log.suffix) == (CLINE_LOG, "<function_results>\n", "\n</function_results>")
    assert (log.tool_name, log.source_type, log.goal) == (
        "execute_command",
        "logs",
        CLINE_TASK + "\nnpm test",
    )
    assert (code.tool_name, code.source_type, code.text) == ("Read", "code", CLINE_FILE)
    out = rewrite(chat, [(log, "kept line\n[pruned 80 lines]"), (code, "def parse_retry_alpha(): ...")])
    sent = json.loads(out)["messages"]
    k = 1 if style == "openai" else 0
    assert (
        sent[k + 2]["content"][0]["text"]
        == "<function_results>\nkept line\n[pruned 80 lines]\n</function_results>"
    )
    assert b'"<function_results>\\nkept line' in out and b'\\n</function_results>"' in out
    assert sent[k + 6]["content"][0]["text"] == answer


def test_cline_search_and_command_arguments() -> None:
    def seg(header: str) -> tuple[str | None, str | None, str]:
        turns = [cline_turns()[0], ("assistant", ["go"]), ("user", [header, CLINE_LOG])]
        (s,) = parse_chat(
            cline_body("openai", cline_messages("openai", turns)), "openai", min_chars=2000
        ).segments
        return s.tool_name, s.source_type, s.goal.removeprefix(CLINE_TASK).strip()

    assert seg("[search_files for 'it's (a|b)' in '*.ts'] Result:") == ("search_files", "code", "it's (a|b)")
    assert seg("[execute_command for 'cat docs/guide.md'] Result:") == (
        "execute_command",
        "docs",
        "",  # a plain file read adds no words to the goal
    )
    assert seg("[execute_command for 'ls -la\n| wc'] Result:") == ("execute_command", "logs", "ls -la\n| wc")
    assert seg("[read_file for 'server.log'] Result:") == ("read_file", "logs", "")
    assert seg("[use_mcp_tool for 'github'] Result:") == ("use_mcp_tool", None, "")
    assert seg("[browser_action for 'launch'] Result:") == ("browser_action", None, "")
    with pytest.raises(ValueError):  # the user's own decision, not tool output
        seg("[new_task for creating a new task] Result:")


def test_cline_header_before_an_image_is_not_an_instruction() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,QQ=="}}
    messages = cline_messages("openai", cline_turns()[:2])
    messages.append(
        {"role": "user", "content": [{"type": "text", "text": "[read_file for 'a.png'] Result:"}, image]}
    )
    messages += cline_messages("openai", cline_turns()[3:5])[1:]
    (seg,) = parse_chat(cline_body("openai", messages), "openai", min_chars=2000).segments
    assert seg.goal == CLINE_TASK + "\nnpm test"


def test_segments_are_in_document_order_with_user_text() -> None:
    doc = anthropic_doc()
    doc["messages"][2]["content"].insert(0, {"type": "text", "text": "pasted:\n" + BIG})
    body = json.dumps(doc).encode()
    chat = parse_chat(body, "anthropic", min_chars=2000, prune_user_text=True)
    assert [s.index for s in chat.segments] == [0, 1, 2]
    assert [s.path[3] for s in chat.segments] == [0, 1, 2] and chat.segments[0].kind == "user_text"
    out = rewrite(chat, [(s, f"new {s.index}") for s in chat.segments])
    assert [b.get("text", b.get("content")) for b in json.loads(out)["messages"][2]["content"][:2]] == [
        "new 0",
        "new 1",
    ]


# --- Cline through the sidecar: the app, the fake upstream, the real SDKs ---------------------------


@pytest.fixture
def sidecar_app(aiohttp_client, fake_upstream, make_config):
    async def make():
        config = make_config(fake_upstream.url)
        return await aiohttp_client(build_app(config, installers=[install_pruner, install_pruning]))

    return make


def part_texts(doc: dict) -> list[list[str]]:
    """Every message's text parts (assistant strings as one part)."""
    out = []
    for m in doc["messages"]:
        content = m["content"]
        out.append([content] if isinstance(content, str) else [p["text"] for p in content])
    return out


def assert_cline_pruned(sent: bytes, original: list[dict]) -> None:
    """Only the big tool outputs changed; headers, environment details and the task are as sent."""
    got, want = part_texts(json.loads(sent)), part_texts({"messages": original})
    assert len(got) == len(want)
    pruned = {CLINE_FILE, CLINE_LOG, CLINE_GREP, CLINE_GREP.replace("│", "")}
    for got_parts, want_parts in zip(got, want, strict=True):
        for g, w in zip(got_parts, want_parts, strict=True):
            if w in pruned:
                assert len(g) < len(w) and "recover_text prune_id=" in g, w[:40]
            else:
                assert g == w
    read = next(
        g for gs, ws in zip(got, want, strict=True) for g, w in zip(gs, ws, strict=True) if w == CLINE_FILE
    )
    assert "def parse_retry_alpha(value" in read
    log = next(
        g for gs, ws in zip(got, want, strict=True) for g, w in zip(gs, ws, strict=True) if w == CLINE_LOG
    )
    assert "FAIL src/retry.test.ts" in log and "parse_retry_alpha › honours the limit" in log


async def test_cline_openai_compatible_through_the_sidecar(sidecar_app, fake_upstream) -> None:
    client = await sidecar_app()
    sdk = openai.AsyncOpenAI(base_url=str(client.make_url("/v1")), api_key="sk-test", max_retries=0)
    messages = cline_messages("openai")
    raw = await sdk.chat.completions.with_raw_response.create(model="m", messages=messages)
    assert raw.parse().choices[0].message.content
    assert int(raw.headers["X-Sidecar-Tokens-Saved"]) > 0
    assert_cline_pruned(fake_upstream.received[-1].body, messages)
    await sdk.close()


async def test_cline_anthropic_through_the_sidecar(sidecar_app, fake_upstream) -> None:
    client = await sidecar_app()
    sdk = anthropic.AsyncAnthropic(base_url=str(client.make_url("")), api_key="sk-test", max_retries=0)
    messages = cline_messages("anthropic")
    system = [
        {"type": "text", "text": "You are Cline. " + "RULES " * 400, "cache_control": {"type": "ephemeral"}}
    ]
    raw = await sdk.messages.with_raw_response.create(
        model="m", max_tokens=64, system=system, messages=messages
    )
    assert (await raw.parse()).content[0].text
    assert int(raw.headers["X-Sidecar-Tokens-Saved"]) > 0
    sent = fake_upstream.received[-1].body
    assert_cline_pruned(sent, messages)
    assert json.loads(sent)["system"] == system
    await sdk.close()


@pytest.mark.parametrize("style", ["openai", "anthropic"])
async def test_cline_prefix_is_byte_identical_across_turns(sidecar_app, fake_upstream, style: str) -> None:
    """Each turn through a fresh sidecar (nothing cached): what was sent before goes again byte for byte."""
    path = "/v1/chat/completions" if style == "openai" else "/v1/messages"
    messages = cline_messages(style)
    lookalike = {
        "role": "user",
        "content": [{"type": "text", "text": "Result:"}, {"type": "text", "text": "CI says:\n" + CLINE_LOG}],
    }
    messages += [{"role": "assistant", "content": [{"type": "text", "text": "ok"}]}, lookalike]
    encoded = [json.dumps(m, ensure_ascii=False, separators=(",", ":")).encode() for m in messages]
    sent: list[bytes] = []
    for end in (4, 6, 8, len(messages)):
        body = b'{"model":"m","max_tokens":64,"messages":[' + b",".join(encoded[:end]) + b"]}"
        resp = await (await sidecar_app()).post(path, data=body, headers={"Content-Type": "application/json"})
        assert resp.status == 200
        sent.append(fake_upstream.received[-1].body)
    for before, after in zip(sent, sent[1:], strict=False):
        assert after.startswith(before[: -len(b"]}")])
    assert sent[-1].endswith(encoded[-1] + b"]}")  # the "Result:" lookalike went as it came
    assert_cline_pruned(sent[-1], messages)
    # Only the pruned strings differ from what the client sent: the first one starts the difference.
    first = encoded[: 3 if style == "openai" else 2]
    assert sent[0].startswith(b'{"model":"m","max_tokens":64,"messages":[' + b",".join(first))
