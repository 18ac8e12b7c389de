"""The JSON-RPC envelope on its own: decoding bodies and batches, typed params, error replies."""

from __future__ import annotations

import json

import msgspec
import pytest

from sidecar.mcpserver.jsonrpc import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    ErrorReply,
    Message,
    RpcError,
    decode,
    decode_params,
    error_message,
    error_reply,
)
from sidecar.mcpserver.tools import PruneTextArgs, RecoverTextArgs


def error_of(item: Message | ErrorReply) -> tuple[int, str, object]:
    assert isinstance(item, ErrorReply), item
    return item.error.code, item.error.message, item.id


def test_one_message_and_a_batch():
    one = decode(b'  {"jsonrpc": "2.0", "id": 7, "method": "ping", "params": {"a": [1]}}')
    assert not one.batch and len(one.items) == 1
    message = one.items[0]
    assert isinstance(message, Message) and message.id == 7 and message.method == "ping"
    assert json.loads(bytes(message.params)) == {"a": [1]}  # params stay raw until a method reads them
    batch = decode(
        b'[{"jsonrpc": "2.0", "id": "a", "method": "ping"}, {"jsonrpc": "2.0", "method": "notifications/x"}]'
    )
    assert batch.batch and batch.methods() == ["ping", "notifications/x"]


@pytest.mark.parametrize(
    ("body", "code", "message", "id"),
    [
        (b'{"jsonrpc": "2.0", "id": 1', PARSE_ERROR, "parse error", None),
        (b"not json", PARSE_ERROR, "parse error", None),
        (b"", PARSE_ERROR, "parse error", None),
        (b"[1, 2", PARSE_ERROR, "parse error", None),
        (b"[]", INVALID_REQUEST, "empty batch", None),
        (
            b'{"jsonrpc": "1.0", "id": 1, "method": "ping"}',
            INVALID_REQUEST,
            'invalid request: jsonrpc must be "2.0"',
            1,
        ),
        (b'{"id": 2, "method": "ping"}', INVALID_REQUEST, 'invalid request: jsonrpc must be "2.0"', 2),
        (
            b'{"jsonrpc": "2.0", "id": {}, "method": "ping"}',
            INVALID_REQUEST,
            "invalid request: id: Expected `int | str | null`, got `object`",
            None,
        ),
        (
            b'{"jsonrpc": "2.0", "id": null, "method": "ping"}',
            INVALID_REQUEST,
            "invalid request: id must be a string or an integer",
            None,
        ),
        (b'{"jsonrpc": "2.0", "id": 3}', INVALID_REQUEST, "invalid request: method is missing", 3),
        (
            b'{"jsonrpc": "2.0", "id": 4, "method": 5}',
            INVALID_REQUEST,
            "invalid request: method: Expected `str`, got `int`",
            None,
        ),
    ],
)
def test_invalid_bodies_become_error_replies(body, code, message, id):
    decoded = decode(body)
    assert not decoded.batch
    assert error_of(decoded.items[0]) == (code, message, id)


def test_a_batch_keeps_valid_messages_next_to_invalid_ones():
    decoded = decode(b'[{"jsonrpc": "2.0", "id": 1, "method": "ping"}, 3, {"jsonrpc": "1.0", "id": 2}]')
    assert decoded.batch and len(decoded.items) == 3
    assert isinstance(decoded.items[0], Message)
    assert error_of(decoded.items[1]) == (
        INVALID_REQUEST,
        "invalid request: Expected `object`, got `int`",
        None,
    )
    assert error_of(decoded.items[2]) == (INVALID_REQUEST, 'invalid request: jsonrpc must be "2.0"', 2)


def test_a_client_response_is_a_message_without_method():
    decoded = decode(b'{"jsonrpc": "2.0", "id": 9, "result": {}}')
    message = decoded.items[0]
    assert isinstance(message, Message) and message.method is msgspec.UNSET
    assert decoded.methods() == []


def rpc_error(raw: bytes | None, type_, prefix: str = "params") -> RpcError:
    with pytest.raises(RpcError) as caught:
        decode_params(msgspec.UNSET if raw is None else msgspec.Raw(raw), type_, prefix)
    assert caught.value.code == INVALID_PARAMS
    return caught.value


@pytest.mark.parametrize(
    ("raw", "message", "field"),
    [
        (
            b'{"text": "t", "goal_hint": "g", "options": {"min_keep_lines": -1}}',
            "invalid params: arguments.options.min_keep_lines: Expected `int` >= 0",
            "arguments.options.min_keep_lines",
        ),
        (
            b'{"goal_hint": "g"}',
            "invalid params: arguments.text: Object missing required field `text`",
            "arguments.text",
        ),
        (
            b'{"text": "t", "goal_hint": "g", "source_type": "video"}',
            "invalid params: arguments.source_type: Invalid enum value 'video'",
            "arguments.source_type",
        ),
        (b"[1]", "invalid params: arguments: Expected `object`, got `array`", "arguments"),
        (b'"x"', "invalid params: arguments: Expected `object`, got `str`", "arguments"),
    ],
)
def test_invalid_params_name_the_field(raw, message, field):
    error = rpc_error(raw, PruneTextArgs, "arguments")
    assert (error.message, error.data) == (message, {"field": field})


def test_array_items_are_named_with_brackets():
    # The wire messages of issue 5 name list items JSONPath-style; clients and tests match on them.
    missing = rpc_error(b'{"prune_id": "p", "ranges": [{"start_line": 1}]}', RecoverTextArgs, "arguments")
    assert missing.message == (
        "invalid params: arguments.ranges[0].end_line: Object missing required field `end_line`"
    )
    assert missing.data == {"field": "arguments.ranges[0].end_line"}
    wrong = rpc_error(
        b'{"prune_id": "p", "ranges": [{"start_line": 1, "end_line": 2}, '
        b'{"start_line": "a", "end_line": 2}]}',
        RecoverTextArgs,
        "arguments",
    )
    assert wrong.data == {"field": "arguments.ranges[1].start_line"}


def test_params_that_are_not_json():
    error = rpc_error(b"{nope", PruneTextArgs)
    assert (error.message, error.data) == ("invalid params: params: not valid JSON", None)


class Optional(msgspec.Struct):
    flag: bool = False


def test_absent_params_read_as_an_empty_object():

    for raw in (msgspec.UNSET, msgspec.Raw(b""), msgspec.Raw(b"  null ")):
        assert decode_params(raw, Optional) == Optional()
    with pytest.raises(RpcError) as caught:
        decode_params(msgspec.UNSET, RecoverTextArgs, "arguments")
    assert caught.value.data == {"field": "arguments.prune_id"}


def test_error_reply_encoding():
    assert json.loads(error_reply(PARSE_ERROR, "parse error")) == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "parse error"},
    }
    with_data = msgspec.json.encode(error_message(-32004, "prune_id_not_found", "r1", {"reason": "x"}))
    assert json.loads(with_data) == {
        "jsonrpc": "2.0",
        "id": "r1",
        "error": {"code": -32004, "message": "prune_id_not_found", "data": {"reason": "x"}},
    }
