"""Replace JSON string values inside a body's bytes, re-encoding only those strings.

    replace_strings(body, doc, [Edit(path, old, new)]) -> body with only those string tokens changed

``doc`` is ``body`` decoded (msgspec), ``path`` is where a string sits in it, e.g.
``("messages", 3, "content")``. Every byte outside the replaced tokens is the client's: unknown
fields, key order, number formats and escapes go upstream as they came.

A token is found by searching the body for the old value's usual encodings (raw UTF-8 as msgspec and
JavaScript write it, ASCII-escaped as Python's json writes it), skipping escaped quotes; when that
fails, one compiled-regex pass over the JSON tokens (strings as whole tokens) finds it by path.
Either way the result must decode to ``doc`` with exactly those strings changed, else
:class:`SpliceError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence

import msgspec

from sidecar.jsontypes import DECODE_ERRORS, JsonValue

PathItem = str | int
Path = tuple[PathItem, ...]

# One JSON token: a string (group 1) optionally followed by ":" (group 2: it was a key), or a
# structural character. Scalars and whitespace are skipped by the search itself.
_TOKEN = re.compile(rb'("[^"\\]*(?:\\.[^"\\]*)*")(\s*:)?|[{}\[\],]', re.S)
_COMMA, _OPEN_OBJ, _OPEN_ARR = ord(","), ord("{"), ord("[")
_NEEDLE_BYTES = 64  # bytes.find with a 50 KB needle is slow: search a prefix, then compare in place


class SpliceError(ValueError):
    """The replacement cannot be made without touching other bytes (forward the body untouched)."""


class Edit(msgspec.Struct, frozen=True):
    """One string value to replace: where it sits, what it is, what it becomes."""

    path: Path
    old: str
    new: str


def replace_strings(body: bytes, doc: dict[str, JsonValue], edits: Sequence[Edit]) -> bytes:
    """Return ``body`` with each edit's string token re-encoded; edits come in document order.

    Raises SpliceError when the tokens cannot be found or the result would not decode to ``doc``
    with exactly those strings changed.
    """
    if not edits:
        return body
    spans = find_tokens(body, [e.old for e in edits])
    if spans is not None:
        out = _splice(body, spans, [e.new for e in edits])
        if same_but(doc, out, edits):
            return out
    # The client escaped differently (or a copy of the text sits elsewhere): walk the JSON tokens.
    by_path = string_spans(body, {e.path for e in edits})
    try:
        spans = [by_path[e.path] for e in edits]
    except KeyError:
        raise SpliceError("string token not found") from None
    out = _splice(body, spans, [e.new for e in edits])
    if not same_but(doc, out, edits):
        raise SpliceError("rewritten body does not match the document")
    return out


def find_tokens(body: bytes, texts: Sequence[str]) -> list[tuple[int, int]] | None:
    """Locate each text's JSON string token in order by searching its likely encodings; None if one fails."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for text in texts:
        found = None
        for enc in _encodings(text):
            head = enc[:_NEEDLE_BYTES]
            p = body.find(head, cursor)
            while p >= 0 and (_escaped(body, p) or not body.startswith(enc, p)):
                p = body.find(head, p + 1)
            if p >= 0:
                found = (p, p + len(enc))
                break
        if found is None:
            return None
        spans.append(found)
        cursor = found[1]
    return spans


def _encodings(text: str) -> Iterator[bytes]:
    """Yield the encodings clients commonly send: raw UTF-8 (msgspec, JS, the SDKs), then ASCII-escaped."""
    yield msgspec.json.encode(text)
    if not text.isascii():
        yield json.dumps(text).encode("ascii")  # Python's json default; built only when needed


def _escaped(body: bytes, p: int) -> bool:
    """True when the quote at ``p`` is escaped (an odd run of backslashes before it)."""
    n = 0
    while p - 1 - n >= 0 and body[p - 1 - n] == 0x5C:
        n += 1
    return n % 2 == 1


def _splice(body: bytes, spans: list[tuple[int, int]], texts: list[str]) -> bytes:
    pieces: list[bytes] = []
    pos = 0
    for (start, end), text in zip(spans, texts, strict=True):
        if start < pos:
            raise SpliceError("overlapping string tokens")
        pieces.append(body[pos:start])
        pieces.append(msgspec.json.encode(text))
        pos = end
    pieces.append(body[pos:])
    return b"".join(pieces)


def same_but(doc: dict[str, JsonValue], out: bytes, edits: Sequence[Edit]) -> bool:
    """Tell whether ``out`` decodes to ``doc`` with exactly the edited strings changed."""
    try:
        new: JsonValue = msgspec.json.decode(out)
    except DECODE_ERRORS + (UnicodeDecodeError,):
        return False
    # Compare against doc edited in place, then put the old values back: no deep copy of a big body.
    done: list[tuple[Path, JsonValue]] = []
    try:
        for e in edits:
            done.append((e.path, _set(doc, e.path, e.new)))
            if done[-1][1] != e.old:
                return False  # the edit does not describe this document
        return new == doc
    finally:
        for path, value in reversed(done):
            _set(doc, path, value)


def _set(doc: JsonValue, path: Path, value: JsonValue) -> JsonValue:
    """Set the value at ``path`` and return the one it replaced."""
    node = doc
    for item in path[:-1]:
        if isinstance(node, dict) and isinstance(item, str):
            node = node[item]
        elif isinstance(node, list) and isinstance(item, int):
            node = node[item]
        else:
            raise SpliceError("path does not match the document")
    last = path[-1]
    if isinstance(node, dict) and isinstance(last, str) and last in node:
        old, node[last] = node[last], value
    elif isinstance(node, list) and isinstance(last, int) and -len(node) <= last < len(node):
        old, node[last] = node[last], value
    else:
        raise SpliceError("path does not match the document")
    return old


def string_spans(body: bytes, wanted: set[Path]) -> dict[Path, tuple[int, int]]:
    """Return the byte span of each wanted string value, by its path from the top-level object."""
    out: dict[Path, tuple[int, int]] = {}
    if not wanted:
        return out
    path: list[PathItem] = []
    arrays: list[bool] = []
    depth_max = max(len(p) for p in wanted)
    heads = {p[0] for p in wanted if p}
    left = len(wanted)
    for m in _TOKEN.finditer(body):
        kind = m.lastindex
        if kind is None:
            c = body[m.start()]
            if c == _COMMA:
                if arrays and arrays[-1]:
                    top = path[-1]
                    path[-1] = top + 1 if isinstance(top, int) else top
            elif c == _OPEN_OBJ:
                path.append("")
                arrays.append(False)
            elif c == _OPEN_ARR:
                path.append(0)
                arrays.append(True)
            elif path:
                path.pop()
                arrays.pop()
            continue
        if kind == 2:
            raw = m.group(1)
            if path:
                path[-1] = msgspec.json.decode(raw, type=str) if b"\\" in raw else raw[1:-1].decode("utf-8")
            continue
        # path[0] is the top-level object's current key: tokens outside the wanted fields cost one lookup.
        if path and path[0] in heads and len(path) <= depth_max:
            key = tuple(path)
            if key in wanted:
                out[key] = m.span(1)
                left -= 1
                if not left:
                    break
    return out
