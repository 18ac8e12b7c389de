"""The JSON-RPC 2.0 envelope of the MCP server: decoding bodies, typed params, encoded replies.

    body bytes -> decode() -> Decoded(items=[Message | ErrorReply ...], batch)
                                  |                    (an invalid message becomes its error reply here)
    Message.params (raw bytes) -> decode_params(raw, Struct, "params") -> Struct | raise RpcError(-32602)
    dispatcher result bytes    -> ResultReply / error_message(...)     -> msgspec.json.encode

Nothing here raises on a bad body: a body that is not JSON (or is nested past the recursion limit,
which msgspec reports as RecursionError) is one ``-32700`` reply, an invalid message
in a batch is a ``-32600`` reply in its place, and the valid ones are answered. ``params`` and tool
``arguments`` stay raw bytes until the method that reads them decodes them into its own struct, so an
invalid call gets ``-32602`` with a message naming the field (``invalid params:
arguments.options.min_keep_lines: Expected `int` >= 0``, with ``data.field``); the field path is read
from msgspec's error by :func:`sidecar.jsontypes.error_path`, the one parser of those messages.

Error messages carry metadata only (field names, reasons, method names cut to 80 characters), never
the text of a tool argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from sidecar.jsontypes import DECODE_ERRORS, error_path

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "Decoded",
    "ErrorReply",
    "Message",
    "Reply",
    "RequestId",
    "ResultReply",
    "RpcError",
    "decode",
    "decode_params",
    "error_message",
    "error_reply",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

RequestId = int | str


class RpcError(Exception):
    """A JSON-RPC error to send back; ``message`` carries metadata only, never tool text."""

    def __init__(self, code: int, message: str, data: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = dict(data) if data else None


class Message(msgspec.Struct, kw_only=True):
    """One decoded JSON-RPC message; ``result``/``error`` mark a response from the client (ignored)."""

    jsonrpc: str | UnsetType = UNSET
    id: RequestId | None | UnsetType = UNSET
    method: str | UnsetType = UNSET
    params: msgspec.Raw | UnsetType = UNSET
    result: msgspec.Raw | UnsetType = UNSET
    error: msgspec.Raw | UnsetType = UNSET


class _ErrorBody(msgspec.Struct, omit_defaults=True):
    code: int
    message: str
    data: dict[str, str] | None = None


class ErrorReply(msgspec.Struct, kw_only=True):
    """A JSON-RPC error response."""

    jsonrpc: str = "2.0"
    id: RequestId | None
    error: _ErrorBody


class ResultReply(msgspec.Struct, kw_only=True):
    """A JSON-RPC success response; ``result`` is already-encoded JSON."""

    jsonrpc: str = "2.0"
    id: RequestId
    result: msgspec.Raw


Reply = ErrorReply | ResultReply


def error_message(
    code: int, message: str, id: RequestId | None = None, data: Mapping[str, str] | None = None
) -> ErrorReply:
    """Build a JSON-RPC error response."""
    return ErrorReply(id=id, error=_ErrorBody(code=code, message=message, data=dict(data) if data else None))


def error_reply(code: int, message: str, id: RequestId | None = None) -> bytes:
    """Encode a JSON-RPC error response (for transport-level failures)."""
    return msgspec.json.encode(error_message(code, message, id))


class Decoded(msgspec.Struct):
    """A request body: its messages (or a ready error for each invalid one) and whether it was a batch."""

    items: list[Message | ErrorReply]
    batch: bool

    def methods(self) -> list[str]:
        """Return the methods named in the body."""
        return [m.method for m in self.items if isinstance(m, Message) and isinstance(m.method, str)]


def decode(body: bytes) -> Decoded:
    """Decode a JSON-RPC body (one message or a batch) without raising."""
    stripped = body.lstrip()
    if stripped[:1] == b"[":
        try:
            raws = msgspec.json.decode(stripped, type=list[msgspec.Raw])
        except DECODE_ERRORS:  # not JSON, or nested past the recursion limit
            return Decoded(items=[error_message(PARSE_ERROR, "parse error")], batch=False)
        if not raws:
            return Decoded(items=[_invalid("empty batch")], batch=False)
        return Decoded(items=[_decode_one(raw) for raw in raws], batch=True)
    return Decoded(items=[_decode_one(stripped)], batch=False)


def _decode_one(raw: bytes | msgspec.Raw) -> Message | ErrorReply:
    try:
        message = msgspec.json.decode(raw, type=Message)
    except msgspec.ValidationError as exc:
        return _invalid(f"invalid request: {error_path(exc, brackets=True)}")
    except DECODE_ERRORS:
        return error_message(PARSE_ERROR, "parse error")
    if message.jsonrpc != "2.0":
        return _invalid('invalid request: jsonrpc must be "2.0"', message.id)
    if message.method is UNSET and message.result is UNSET and message.error is UNSET:
        return _invalid("invalid request: method is missing", message.id)
    if message.id is None and isinstance(message.method, str):
        return _invalid("invalid request: id must be a string or an integer")
    return message


def _invalid(message: str, id: RequestId | None | UnsetType = None) -> ErrorReply:
    return error_message(INVALID_REQUEST, message, None if isinstance(id, UnsetType) else id)


S = TypeVar("S")


def decode_params(raw: msgspec.Raw | UnsetType, type_: type[S], prefix: str = "params") -> S:
    """Decode ``params`` (or tool ``arguments``) into ``type_``; absent or null counts as ``{}``.

    Raises RpcError(-32602) whose message and ``data.field`` name the invalid field under ``prefix``.
    """
    try:
        body = b"{}" if isinstance(raw, UnsetType) or bytes(raw).strip() in (b"", b"null") else raw
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        where = error_path(exc, prefix, brackets=True)
        raise RpcError(INVALID_PARAMS, f"invalid params: {where}", {"field": where.path or prefix}) from None
    except DECODE_ERRORS:
        raise RpcError(INVALID_PARAMS, f"invalid params: {prefix}: not valid JSON") from None
