"""ChatBody and the content helpers: edit a field, keep every other field's bytes as they came in."""

from __future__ import annotations

import json

import msgspec
import pytest

from sidecar.chat.body import ChatBody, all_texts, append_text, map_content, role_of, texts_of

# Spellings a re-serialisation would change: exponent, trailing zero, escapes, nested spacing.
BODY = (
    b'{ "model" : "gpt-4o",\n "messages":[{"role":"user","content":"caf\\u00e9 \\/x"},'
    b'{"role":"tool","tool_call_id":"c1","content":[{"type":"text","text":"out"},'
    b'{"type":"image_url","image_url":{"url":"data:x"}, "detail" : "low"}]}],'
    b' "temperature": 0.70, "x_unknown": {"n": 1e3, "s": [1, 2]}, "stream": false, "n": 2, "stop": null }'
)


def parsed(body: bytes = BODY) -> ChatBody:
    out = ChatBody.parse(body)
    assert out is not None
    return out


def raw(value: object) -> msgspec.Raw:
    return msgspec.Raw(json.dumps(value).encode())


def loads(value: msgspec.Raw | None) -> object:
    assert value is not None
    return json.loads(bytes(value))


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'"text"', b"null", b'{"a": 1'])
def test_anything_but_a_json_object_is_none(body: bytes):
    assert ChatBody.parse(body) is None


def test_untouched_fields_keep_their_exact_bytes():
    body = parsed()
    body.set("model", "llama-3.3-70b")
    out = body.encode()
    for kept in (
        b'"temperature":0.70',
        b'"x_unknown":{"n": 1e3, "s": [1, 2]}',
        b'"content":"caf\\u00e9 \\/x"',
        b'{"type":"image_url","image_url":{"url":"data:x"}, "detail" : "low"}',
        b'"stop":null',
    ):
        assert kept in out, kept
    assert b'"model":"llama-3.3-70b"' in out
    assert body.changed == {"model"}
    assert list(json.loads(out)) == ["model", "messages", "temperature", "x_unknown", "stream", "n", "stop"]


def test_set_adds_a_field_at_the_end_and_set_raw_inserts_bytes_verbatim():
    body = parsed(b'{"a": 1}')
    body.set("b", {"k": [1, "two"]})
    body.set_raw("c", b'{"kept" : 1.50}')
    assert body.encode() == b'{"a":1,"b":{"k":[1,"two"]},"c":{"kept" : 1.50}}'
    assert body.changed == {"b", "c"}


def test_typed_getters_and_has():
    body = parsed()
    assert body.get_str("model") == "gpt-4o" and body.get_str("temperature") is None
    assert body.get_bool("stream") is False and body.get_bool("model") is None
    assert body.get_int("n") == 2 and body.get_int("temperature") is None and body.get_int("nope") is None
    assert body.has("stop") and body.get_str("stop") is None  # present, null
    assert not body.has("nope")


def test_messages_are_raw_field_objects_or_none():
    messages = parsed().messages()
    assert messages is not None and [role_of(m) for m in messages] == ["user", "tool"]
    assert bytes(messages[0]["content"]) == b'"caf\\u00e9 \\/x"'
    for other in (b'{"model": "m"}', b'{"messages": "hi"}', b'{"messages": [1, 2]}', b'{"messages": null}'):
        assert parsed(other).messages() is None, other


def test_set_messages_keeps_the_bytes_of_messages_left_alone():
    body = parsed()
    messages = body.messages()
    assert messages is not None
    messages[0]["content"] = raw("short")
    body.set_messages(messages)
    out = body.encode()
    assert b'{"role":"user","content":"short"}' in out
    assert b'{"type":"image_url","image_url":{"url":"data:x"}, "detail" : "low"}' in out
    assert body.changed == {"messages"}


def test_role_of_a_message_without_a_string_role_is_none():
    assert role_of({"role": raw(3)}) is None and role_of({}) is None


def test_texts_of_strings_and_text_blocks_only():
    assert texts_of(raw("hello")) == ["hello"]
    blocks = [
        {"type": "text", "text": "a"},
        {"type": "image", "source": {}},
        {"type": "text", "text": 3},
        {"text": "no type"},
        {"type": "text", "text": "b"},
    ]
    assert texts_of(raw(blocks)) == ["a", "b"]
    assert texts_of(None) == [] and texts_of(raw(None)) == []
    assert texts_of(raw(12)) == [] and texts_of(raw({"type": "text", "text": "x"})) == []


def test_map_content_changes_only_text_and_says_when_nothing_changed():
    upper = str.upper
    out = map_content(raw("abc"), upper)
    assert out is not None and loads(out) == "ABC"
    assert map_content(raw("ABC"), upper) is None
    blocks = msgspec.Raw(b'[{"type":"text","text":"abc"},{"type":"image", "source" : {"data":"abc"}}]')
    out = map_content(blocks, upper)
    assert out is not None
    assert bytes(out) == b'[{"type":"text","text":"ABC"},{"type":"image","source":{"data":"abc"}}]'
    assert map_content(msgspec.Raw(b'[{"type":"text","text":"ABC"}]'), upper) is None
    assert map_content(raw(None), upper) is None and map_content(raw(7), upper) is None


def test_append_text_to_every_content_shape():
    assert loads(append_text(raw("Be brief.  \n"), "Code only.")) == "Be brief.\n\nCode only."
    assert loads(append_text(raw("   "), "Code only.")) == "Code only."
    assert loads(append_text(None, "Code only.")) == "Code only."
    assert loads(append_text(raw(7), "Code only.")) == "Code only."  # not content: replaced
    blocks = append_text(
        raw([{"type": "text", "text": "Be brief.", "cache_control": {"type": "x"}}]), "More."
    )
    assert loads(blocks) == [
        {"type": "text", "text": "Be brief.", "cache_control": {"type": "x"}},
        {"type": "text", "text": "More."},
    ]


def test_all_texts_reads_system_and_every_message():
    body = parsed(
        b'{"system": [{"type": "text", "text": "sys"}], "messages": ['
        b'{"role": "user", "content": "u"},'
        b' {"role": "assistant", "content": [{"type": "text", "text": "a"}]}]}'
    )
    assert all_texts(body) == ["sys", "u", "a"]
    assert all_texts(parsed(b'{"messages": 3}')) == []
