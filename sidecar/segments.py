"""Prunable segments of a chat request body, their goals, and byte-exact splicing of replacements.

    parse_chat(body, style, ...) -> ChatBody(doc, segments=[Segment(path, text, goal, source_type, ...)])
    rewrite(chat, [(segment, new_text)]) -> body with only those JSON string tokens re-encoded

Segments: OpenAI ``role: "tool"`` (and legacy ``"function"``) message content, as a string or text
parts; Anthropic ``tool_result`` blocks in user messages, string content or text blocks; optionally
large user text after the first one. Never images, documents, tool definitions, system prompts or
``cache_control`` markers: only the string token of a text is ever replaced.

Goal rule: the ``X-Sidecar-Goal`` header when sent; otherwise the task (the first user text) plus the
latest user instruction before the segment (user text that is not a tool result), plus the search
pattern or command of the tool call that produced the output. It is a function of what precedes the
segment only, so a segment is rewritten the same way on every later turn.

The body is decoded once with msgspec. A segment's token is found by searching the body for the
text's usual encodings (raw UTF-8 as msgspec and JavaScript write it, ASCII-escaped as Python's json
writes it), skipping escaped quotes; when that fails, one compiled-regex pass over the JSON tokens
(strings as whole tokens) finds it by path. Either way the rewritten body must decode to the original
document with only the replaced strings changed. Any shape the code does not expect raises
:class:`SegmentError`, and the caller forwards the body untouched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Literal

import msgspec

from .backends.base import SourceType

Style = Literal["openai", "anthropic"]
JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]
PathItem = str | int
Path = tuple[PathItem, ...]

GOAL_PART_MAX_CHARS = 2000  # per part: a pasted log as "instruction" must not become the whole goal
_HINT_KEYS = ("pattern", "query", "regex", "search", "symbol", "command", "cmd")
_PATH_KEYS = ("path", "file_path", "filename", "file", "target_file", "relative_path")
_CODE_EXT = frozenset(
    "py pyi js jsx ts tsx mjs cjs go rs java kt kts scala c h cc cpp hpp cxx cs rb php swift m mm sh bash "
    "zsh lua pl r jl ex exs erl hs ml clj dart vue svelte sql toml yaml yml json ini cfg gradle cmake".split()
)
_DOC_EXT = frozenset("md rst txt adoc org html".split())
_LOG_WORDS = re.compile(
    r"\b(?:pytest|tox|nox|unittest|jest|vitest|mocha|npm|pnpm|yarn|cargo|make|ctest|mvn|gradle|go test|"
    r"dotnet|rspec|phpunit|build|compile|lint|mypy|ruff|eslint|tsc)\b"
)
_READ_WORDS = re.compile(r"^\s*(?:cat|head|tail|sed|nl|less|bat|view)\b")
# Context that agents wrap into user messages but that is not an instruction (Claude Code, Cline).
_REMINDER = re.compile(r"<(system-reminder|environment_details)>.*?</\1>", re.S)

# One JSON token: a string (group 1) optionally followed by ":" (group 2: it was a key), or a
# structural character. Scalars and whitespace are skipped by the search itself.
_TOKEN = re.compile(rb'("[^"\\]*(?:\\.[^"\\]*)*")(\s*:)?|[{}\[\],]', re.S)
_COMMA, _OPEN_OBJ, _OPEN_ARR = ord(","), ord("{"), ord("[")


class SegmentError(ValueError):
    """The body is not a chat request this module can rewrite safely (forward it untouched)."""


class Segment(msgspec.Struct, frozen=True, kw_only=True):
    """One prunable text: where its JSON string token sits in the body, and what to prune it for."""

    index: int  # position among the body's segments (document order)
    path: Path  # where the string sits in the document, e.g. ("messages", 3, "content")
    text: str
    goal: str
    kind: Literal["tool_output", "user_text"]
    source_type: SourceType | None  # None: let the pruner detect it
    tool_name: str | None = None


class _Call:
    __slots__ = ("name", "hint", "source_type")

    def __init__(self, name: str | None, args: JsonValue) -> None:
        self.name = name
        self.hint, self.source_type = _call_hints(name, args)


class _Walk:
    """Conversation state while reading messages in order: task, latest instruction, tool calls."""

    def __init__(self, *, min_chars: int, goal_override: str | None, prune_user_text: bool) -> None:
        self.min_chars = min_chars
        self.goal_override = goal_override
        self.prune_user_text = prune_user_text
        self.task: str | None = None
        self.latest: str | None = None
        self.calls: dict[str, _Call] = {}
        self.found: list[Segment] = []

    def goal(self, call: _Call | None) -> str:
        if self.goal_override is not None:
            return self.goal_override
        parts = [p[:GOAL_PART_MAX_CHARS] for p in (self.task, self.latest) if p]
        if len(parts) == 2 and parts[0] == parts[1]:
            parts.pop()
        if call is not None and call.hint:
            parts.append(call.hint[:GOAL_PART_MAX_CHARS])
        return "\n".join(parts)

    def add(
        self, path: Path, text: str, goal: str, kind: Literal["tool_output", "user_text"], call: _Call | None
    ) -> None:
        name, st = (call.name, call.source_type) if call else (None, None)
        seg = Segment(
            index=len(self.found), path=path, text=text, goal=goal, kind=kind, source_type=st, tool_name=name
        )
        self.found.append(seg)

    def tool_output(self, path: Path, text: str, call: _Call | None) -> None:
        if len(text) >= self.min_chars:
            self.add(path, text, self.goal(call), "tool_output", call)

    def user_texts(self, texts: list[tuple[Path, str]]) -> None:
        """Take one user message's texts: maybe segments (goal from before it), then the new instruction."""
        if self.prune_user_text and self.task is not None:
            goal = self.goal(None)
            for path, text in texts:
                if len(text) >= self.min_chars and goal:
                    self.add(path, text, goal, "user_text", None)
        instruction = "\n".join(t for t in (_REMINDER.sub("", text).strip() for _, text in texts) if t)
        if instruction:
            if self.task is None:
                self.task = instruction
            self.latest = instruction


class ChatBody:
    """A chat request body decoded once, with its prunable segments in document order."""

    __slots__ = ("body", "doc", "segments")

    def __init__(self, body: bytes, doc: dict[str, JsonValue], segments: list[Segment]) -> None:
        self.body = body
        self.doc = doc
        self.segments = segments


def parse_chat(
    body: bytes,
    style: Style,
    *,
    min_chars: int,
    goal_override: str | None = None,
    prune_user_text: bool = False,
) -> ChatBody:
    """Decode a chat body and find its prunable segments; raise SegmentError on any unexpected shape."""
    try:
        doc: JsonValue = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise SegmentError("body is not valid UTF-8 JSON") from exc
    if not isinstance(doc, dict):
        raise SegmentError("body is not a JSON object")
    messages = doc.get("messages")
    if not isinstance(messages, list):
        raise SegmentError("messages is not a list")
    walk = _Walk(min_chars=min_chars, goal_override=goal_override, prune_user_text=prune_user_text)
    if style == "openai":
        _walk_openai(messages, walk)
    else:
        _walk_anthropic(messages, walk)
    return ChatBody(body, doc, walk.found)


def rewrite(chat: ChatBody, replacements: Sequence[tuple[Segment, str]]) -> bytes:
    """Return the body with each segment's JSON string token replaced by the encoding of its new text.

    Every byte outside those tokens is kept. The result is checked: it must decode to the original
    document with exactly those strings changed, else SegmentError.
    """
    if not replacements:
        return chat.body
    todo = sorted(replacements, key=lambda r: r[0].index)
    if any(chat.segments[seg.index] is not seg for seg, _ in todo):
        raise SegmentError("replacement for an unknown segment")
    spans = _find_tokens(chat.body, [seg.text for seg, _ in todo])
    if spans is not None:
        out = _splice(chat.body, spans, [text for _, text in todo])
        if _same_but(chat, out, todo):
            return out
    # The client escaped differently (or a copy of the text sits elsewhere): walk the JSON tokens.
    by_path = _string_spans(chat.body, {seg.path for seg, _ in todo})
    try:
        spans = [by_path[seg.path] for seg, _ in todo]
    except KeyError:
        raise SegmentError("segment span not found") from None
    out = _splice(chat.body, spans, [text for _, text in todo])
    if not _same_but(chat, out, todo):
        raise SegmentError("rewritten body does not match the document")
    return out


def _find_tokens(body: bytes, texts: list[str]) -> list[tuple[int, int]] | None:
    """Locate each text's JSON string token in order by searching its likely encodings; None if one fails."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for text in texts:
        found = None
        for enc in _encodings(text):
            # Search a short prefix, then compare in place: bytes.find with a 50 KB needle is slow.
            head = enc[:64]
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
            raise SegmentError("overlapping segments")
        pieces.append(body[pos:start])
        pieces.append(msgspec.json.encode(text))
        pos = end
    pieces.append(body[pos:])
    return b"".join(pieces)


def _same_but(chat: ChatBody, out: bytes, todo: Sequence[tuple[Segment, str]]) -> bool:
    """True when ``out`` decodes to the original document with exactly the replaced strings changed."""
    try:
        new: JsonValue = msgspec.json.decode(out)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return False
    for seg, text in todo:
        _set(chat.doc, seg.path, text)
    try:
        return new == chat.doc
    finally:
        for seg, _ in todo:
            _set(chat.doc, seg.path, seg.text)


def _set(doc: JsonValue, path: Path, value: str) -> None:
    node = doc
    for item in path[:-1]:
        if isinstance(node, dict) and isinstance(item, str):
            node = node[item]
        elif isinstance(node, list) and isinstance(item, int):
            node = node[item]
        else:
            raise SegmentError("path does not match the document")
    last = path[-1]
    if isinstance(node, dict) and isinstance(last, str):
        node[last] = value
    elif isinstance(node, list) and isinstance(last, int):
        node[last] = value
    else:
        raise SegmentError("path does not match the document")


def _texts(content: JsonValue, base: Path) -> list[tuple[Path, str]]:
    """Return the (path, text) of a content value: a string, or the text parts/blocks of a list."""
    if isinstance(content, str):
        return [(base, content)]
    if content is None:
        return []
    if not isinstance(content, list):
        raise SegmentError("content is neither a string nor a list")
    out: list[tuple[Path, str]] = []
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            raise SegmentError("content part is not an object")
        if part.get("type") != "text":
            continue  # images, documents, tool_result (handled by the caller), anything new
        text = part.get("text")
        if not isinstance(text, str):
            raise SegmentError("text part without a string text")
        out.append(((*base, j, "text"), text))
    return out


def _checked_role(msg: dict[str, JsonValue]) -> str:
    """Return the role of a message whose shape is sane; any message of the wrong shape stops pruning.

    A request with a malformed message anywhere is forwarded as it came (the provider will say
    what is wrong), even if its other messages could be pruned.
    """
    role = msg.get("role")
    if not isinstance(role, str):
        raise SegmentError("message role is not a string")
    content = msg.get("content")
    if isinstance(content, list):
        if not all(isinstance(part, dict) for part in content):
            raise SegmentError("content part is not an object")
    elif content is not None and not isinstance(content, str):
        raise SegmentError("content is neither a string nor a list")
    calls = msg.get("tool_calls")
    if calls is not None and not (isinstance(calls, list) and all(isinstance(c, dict) for c in calls)):
        raise SegmentError("tool_calls is not a list of objects")
    return role


def _walk_openai(messages: list[JsonValue], walk: _Walk) -> None:
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise SegmentError("message is not an object")
        role = _checked_role(msg)
        base: Path = ("messages", i, "content")
        if role == "user":
            walk.user_texts(_texts(msg.get("content"), base))
        elif role == "assistant":
            calls = msg.get("tool_calls")
            if isinstance(calls, list):
                for call in calls:
                    if isinstance(call, dict) and isinstance(call.get("id"), str):
                        fn = call.get("function")
                        fn = fn if isinstance(fn, dict) else {}
                        name, args = fn.get("name"), fn.get("arguments")
                        walk.calls[str(call["id"])] = _Call(
                            name if isinstance(name, str) else None, _json_args(args)
                        )
        elif role in ("tool", "function"):
            ref = msg.get("tool_call_id")
            found = walk.calls.get(ref) if isinstance(ref, str) else None
            if found is None and role == "function" and isinstance(msg.get("name"), str):
                found = _Call(str(msg["name"]), None)
            for path, text in _texts(msg.get("content"), base):
                walk.tool_output(path, text, found)


def _walk_anthropic(messages: list[JsonValue], walk: _Walk) -> None:
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise SegmentError("message is not an object")
        role = _checked_role(msg)
        content = msg.get("content")
        base: Path = ("messages", i, "content")
        if role == "assistant":
            if isinstance(content, list):
                for block in content:
                    if isinstance(block, dict) and block.get("type") in ("tool_use", "server_tool_use"):
                        ref, name = block.get("id"), block.get("name")
                        if isinstance(ref, str):
                            tool = name if isinstance(name, str) else None
                            walk.calls[ref] = _Call(tool, block.get("input"))
            continue
        if role != "user":
            continue
        if isinstance(content, str):
            walk.user_texts([(base, content)])
            continue
        if not isinstance(content, list):
            raise SegmentError("content is neither a string nor a list")
        texts: list[tuple[Path, str]] = []
        for j, block in enumerate(content):
            if not isinstance(block, dict):
                raise SegmentError("content block is not an object")
            kind = block.get("type")
            if kind == "text":
                text = block.get("text")
                if not isinstance(text, str):
                    raise SegmentError("text block without a string text")
                texts.append(((*base, j, "text"), text))
            elif kind == "tool_result":
                ref = block.get("tool_use_id")
                call = walk.calls.get(ref) if isinstance(ref, str) else None
                for path, text in _texts(block.get("content"), (*base, j, "content")):
                    walk.tool_output(path, text, call)
        walk.user_texts(texts)


def _json_args(args: JsonValue) -> JsonValue:
    """Decode OpenAI's JSON-encoded tool arguments; anything unreadable is no hint."""
    if not isinstance(args, str) or not args:
        return None
    try:
        value: JsonValue = msgspec.json.decode(args)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    return value


def _call_hints(name: str | None, args: JsonValue) -> tuple[str, SourceType | None]:
    """Return (goal hint, source type) from a tool call: its search pattern or command, its file's kind."""
    if not isinstance(args, dict):
        return "", None
    hint = [v for k in _HINT_KEYS if isinstance(v := args.get(k), str) and v]
    command = next((v for k in ("command", "cmd") if isinstance(v := args.get(k), str)), "")
    path = next((v for k in _PATH_KEYS if isinstance(v := args.get(k), str)), "")
    source: SourceType | None = None
    if not path and _READ_WORDS.match(command):
        path = command.split()[-1] if command.split() else ""
    ext = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    if ext == "log" or (command and _LOG_WORDS.search(command) and not _READ_WORDS.match(command)):
        source = "logs"
    elif ext in _CODE_EXT:
        source = "code"
    elif ext in _DOC_EXT:
        source = "docs"
    return " ".join(hint), source


def _string_spans(body: bytes, wanted: set[Path]) -> dict[Path, tuple[int, int]]:
    """Return the byte span of each wanted string value, by its path from the top-level object."""
    out: dict[Path, tuple[int, int]] = {}
    path: list[PathItem] = []
    arrays: list[bool] = []
    depth_max = max(len(p) for p in wanted)
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
            else:
                path.pop()
                arrays.pop()
            continue
        if kind == 2:
            raw = m.group(1)
            path[-1] = msgspec.json.decode(raw, type=str) if b"\\" in raw else raw[1:-1].decode("utf-8")
            continue
        # path[0] is the top-level object's current key: tokens outside "messages" cost one compare.
        if path and path[0] == "messages" and len(path) <= depth_max:
            key = tuple(path)
            if key in wanted:
                out[key] = m.span(1)
                left -= 1
                if not left:
                    break
    return out
