"""Chat request bodies edited field by field: what the sidecar does not change keeps its exact bytes.

A body is decoded once into top-level fields held as raw JSON (``msgspec.Raw``); a transform decodes only
the fields it needs and replaces only the ones it changes. Text lives in the same two shapes in OpenAI
chat and Anthropic messages bodies: a string, or a list of blocks where ``{"type": "text", "text": ...}``
carries text. Anthropic's top-level ``system`` has the same two shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

import msgspec

from sidecar.jsontypes import DECODE_ERRORS, JsonValue, RawFields

T = TypeVar("T")


# The wire protocol of a request body: OpenAI chat completions, Anthropic messages, OpenAI Responses.
Style = Literal["openai", "anthropic", "responses"]

# Roles whose text is a prompt written by a person or an agent (never a model's answer or a tool's output).
PROMPT_ROLES = frozenset({"system", "developer", "user"})

_decode_fields = msgspec.json.Decoder(RawFields)
_decode_messages = msgspec.json.Decoder(list[RawFields])
_decode_content = msgspec.json.Decoder(str | list[RawFields] | None)
_decode_str = msgspec.json.Decoder(str)


class ChatBody:
    """A JSON object body whose untouched fields are re-encoded as the very bytes that came in."""

    __slots__ = ("fields", "changed")

    def __init__(self, fields: RawFields) -> None:
        self.fields = fields
        self.changed: set[str] = set()

    @classmethod
    def parse(cls, body: bytes) -> ChatBody | None:
        """Decode ``body``; None when it is not a JSON object."""
        try:
            return cls(_decode_fields.decode(body))
        except DECODE_ERRORS:
            return None

    def get_str(self, key: str) -> str | None:
        """Return a string field, None when absent or not a string."""
        return _typed(self.fields.get(key), str)

    def get_bool(self, key: str) -> bool | None:
        """Return a boolean field, None when absent or not a boolean."""
        return _typed(self.fields.get(key), bool)

    def get_int(self, key: str) -> int | None:
        """Return an integer field, None when absent or not an integer."""
        return _typed(self.fields.get(key), int)

    def has(self, key: str) -> bool:
        """Tell whether the body has the field (null included)."""
        return key in self.fields

    def set(self, key: str, value: JsonValue) -> None:
        """Replace or add one field."""
        self.fields[key] = msgspec.Raw(msgspec.json.encode(value))
        self.changed.add(key)

    def set_raw(self, key: str, raw: bytes) -> None:
        """Replace or add one field with already-encoded JSON."""
        self.fields[key] = msgspec.Raw(raw)
        self.changed.add(key)

    def messages(self) -> list[RawFields] | None:
        """Decode ``messages`` as a list of raw-field objects; None when absent or another shape."""
        raw = self.fields.get("messages")
        if raw is None:
            return None
        try:
            return _decode_messages.decode(raw)
        except DECODE_ERRORS:
            return None

    def set_messages(self, messages: list[RawFields]) -> None:
        """Store edited messages."""
        self.set_raw("messages", msgspec.json.encode(messages))

    def encode(self) -> bytes:
        """Encode the body: changed fields new, every other field byte for byte as received."""
        return msgspec.json.encode(self.fields)


def _typed(raw: msgspec.Raw | None, kind: type[T]) -> T | None:
    if raw is None:
        return None
    try:
        value = msgspec.json.decode(raw, type=kind)
    except DECODE_ERRORS:
        return None
    return value


def role_of(message: RawFields) -> str | None:
    """Return a message's role, None when absent or not a string."""
    return _typed(message.get("role"), str)


def texts_of(content: msgspec.Raw | None) -> list[str]:
    """Return the texts of a content value (a string, or text blocks in a list)."""
    try:
        value = _decode_content.decode(content) if content is not None else None
    except DECODE_ERRORS:
        return []
    if isinstance(value, str):
        return [value]
    if value is None:
        return []
    out: list[str] = []
    for block in value:
        if _typed(block.get("type"), str) == "text":
            text = _typed(block.get("text"), str)
            if text is not None:
                out.append(text)
    return out


def map_content(content: msgspec.Raw, fn: Callable[[str], str]) -> msgspec.Raw | None:
    """Apply ``fn`` to every text of a content value; None when nothing changed."""
    try:
        value = _decode_content.decode(content)
    except DECODE_ERRORS:
        return None
    if isinstance(value, str):
        new = fn(value)
        return msgspec.Raw(msgspec.json.encode(new)) if new != value else None
    if value is None:
        return None
    changed = False
    for block in value:
        raw_text = block.get("text")
        if raw_text is None or _typed(block.get("type"), str) != "text":
            continue
        try:
            text = _decode_str.decode(raw_text)
        except DECODE_ERRORS:
            continue
        new = fn(text)
        if new != text:
            block["text"] = msgspec.Raw(msgspec.json.encode(new))
            changed = True
    return msgspec.Raw(msgspec.json.encode(value)) if changed else None


def append_text(content: msgspec.Raw | None, text: str) -> msgspec.Raw:
    """Append ``text`` to a content value: to the string after a blank line, or as one more text block."""
    try:
        value = _decode_content.decode(content) if content is not None else None
    except DECODE_ERRORS:
        value = None
    if isinstance(value, str):
        joined = f"{value.rstrip()}\n\n{text}" if value.strip() else text
        return msgspec.Raw(msgspec.json.encode(joined))
    if isinstance(value, list):
        value.append({"type": msgspec.Raw(b'"text"'), "text": msgspec.Raw(msgspec.json.encode(text))})
        return msgspec.Raw(msgspec.json.encode(value))
    return msgspec.Raw(msgspec.json.encode(text))


def all_texts(body: ChatBody) -> list[str]:
    """Return every text a chat body carries, whatever the role."""
    out = texts_of(body.fields.get("system"))
    for message in body.messages() or []:
        out.extend(texts_of(message.get("content")))
    return out
