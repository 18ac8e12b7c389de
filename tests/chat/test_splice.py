"""Byte-level string replacement in JSON bodies: what is found, what is re-encoded, what is refused."""

from __future__ import annotations

import json

import msgspec
import pytest

from sidecar.chat.splice import Edit, SpliceError, find_tokens, replace_strings, same_but, string_spans

LONG = "\n".join(f'line {i}: "quoted" \\ back é ✓' for i in range(200))


def doc_and_body(doc: dict, **dumps: object) -> tuple[dict, bytes]:
    body = json.dumps(doc, **dumps).encode()  # type: ignore[arg-type]
    return msgspec.json.decode(body), body


def sample() -> dict:
    return {
        "model": "m",
        "messages": [
            {"role": "user", "content": "task"},
            {"role": "tool", "content": LONG},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "a"},
                    {"type": "text", "text": LONG + "!"},
                ],
            },
        ],
        "n": 1.50e00,
    }


@pytest.mark.parametrize(
    "dumps",
    [{}, {"ensure_ascii": False, "separators": (",", ":")}, {"indent": 2}],
    ids=["python-default", "compact-utf8", "indented"],
)
def test_replace_changes_only_the_edited_tokens(dumps: dict) -> None:
    doc, body = doc_and_body(sample(), **dumps)
    edits = [
        Edit(("messages", 1, "content"), LONG, "kept\n[pruned] é"),
        Edit(("messages", 2, "content", 1, "text"), LONG + "!", 'x "y"'),
    ]
    out = replace_strings(body, doc, edits)
    expected = sample()
    expected["messages"][1]["content"] = "kept\n[pruned] é"
    expected["messages"][2]["content"][1]["text"] = 'x "y"'
    assert json.loads(out) == expected
    first = out.index(msgspec.json.encode("kept\n[pruned] é"))
    assert out[:first] == body[:first]
    assert out.endswith(body[body.rindex(b'!"') + 2 :])
    assert doc == msgspec.json.decode(body)  # the document is restored after the check


def test_no_edits_is_the_same_object() -> None:
    doc, body = doc_and_body(sample())
    assert replace_strings(body, doc, []) is body


def test_escaped_quotes_are_never_a_token_start() -> None:
    # An earlier string ends with the text after an escaped quote: only the real token may be found.
    doc, body = doc_and_body({"messages": [{"content": 'x"needle value'}, {"content": "needle value"}]})
    assert b'\\"needle value"' in body
    assert find_tokens(body, ["needle value"]) == [(body.rindex(b'"needle value"'), len(body) - 3)]
    out = replace_strings(body, doc, [Edit(("messages", 1, "content"), "needle value", "N")])
    assert json.loads(out)["messages"] == [{"content": 'x"needle value'}, {"content": "N"}]


def test_odd_escapes_fall_back_to_the_token_walk() -> None:
    doc, body = doc_and_body(sample())
    body = body.replace(b"\\u00e9", b"\\u00E9").replace(b"/", b"\\/")  # an escaper no search will guess
    doc = msgspec.json.decode(body)
    assert find_tokens(body, [LONG]) is None
    spans = string_spans(body, {("messages", 1, "content")})
    start, end = spans[("messages", 1, "content")]
    assert msgspec.json.decode(body[start:end]) == LONG
    out = replace_strings(body, doc, [Edit(("messages", 1, "content"), LONG, "short")])
    assert json.loads(out)["messages"][1]["content"] == "short"
    assert out.startswith(body[:start]) and out.endswith(body[end:])


def test_string_spans_follow_keys_and_indexes() -> None:
    body = b'{"a": [1, {"b": "x"}], "messages": [{"k\\u0065y": "v", "n": [1, 2]}, "s", {"t": ["p", "q"]}]}'
    wanted = {("messages", 0, "key"), ("messages", 1), ("messages", 2, "t", 1), ("a", 1, "b")}
    spans = string_spans(body, wanted)
    assert {p: body[s:e] for p, (s, e) in spans.items()} == {
        ("messages", 0, "key"): b'"v"',
        ("messages", 1): b'"s"',
        ("messages", 2, "t", 1): b'"q"',
        ("a", 1, "b"): b'"x"',
    }


def test_same_but_detects_any_other_change() -> None:
    doc, body = doc_and_body(sample())
    edit = Edit(("messages", 1, "content"), LONG, "new")
    good = replace_strings(body, doc, [edit])
    assert same_but(doc, good, [edit])
    assert not same_but(doc, good.replace(b'"task"', b'"tusk"'), [edit])
    assert not same_but(doc, good[:-1], [edit])
    assert doc == msgspec.json.decode(body)


def test_refusals() -> None:
    doc, body = doc_and_body(sample())
    with pytest.raises(SpliceError):  # not where the path says
        replace_strings(body, doc, [Edit(("messages", 9, "content"), "nowhere", "x")])
    with pytest.raises(SpliceError):  # the old value is not the document's
        replace_strings(body, doc, [Edit(("messages", 0, "content"), "other", "x")])
    with pytest.raises(SpliceError):  # a path through a string
        replace_strings(body, doc, [Edit(("messages", 0, "content", 0), "task", "x")])
    assert doc == msgspec.json.decode(body)


def test_duplicate_keys_never_produce_a_wrong_body() -> None:
    body = b'{"messages": [{"content": "first", "content": "second"}]}'
    doc = msgspec.json.decode(body)
    try:
        edit = Edit(("messages", 0, "content"), doc["messages"][0]["content"], "N")
        out = replace_strings(body, doc, [edit])
    except SpliceError:
        return
    assert json.loads(out)["messages"][0]["content"] == "N"
