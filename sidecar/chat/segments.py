"""Prunable segments of a chat request body and the goal each is pruned for.

    parse_chat(body, style, ...) -> ParsedChat(doc, segments=[Segment(path, text, goal, source_type, ...)])
    rewrite(chat, [(segment, new_text)]) -> body with only those JSON string tokens re-encoded

Segments: OpenAI ``role: "tool"`` (and legacy ``"function"``) message content, as a string or text
parts; Anthropic ``tool_result`` blocks in user messages, string content or text blocks; Cline's
XML-protocol tool results, user text parts in either style (a ``[read_file for 'a.py'] Result:``
header part then the output part, or one ``<function_results>`` part, its wrapper kept as it is);
optionally large user text after the first one. Never images, documents, tool definitions, system
prompts, ``cache_control`` markers or Cline's ``<environment_details>``.

Goal rule: the ``X-Sidecar-Goal`` header when sent; otherwise the task (the first user text) plus the
latest user instruction before the segment (user text that is not a tool result), plus the search
pattern or command of the tool call that produced the output (:mod:`sidecar.chat.calls` reads calls
and Cline's tool protocol). It is a function of what precedes the segment only, so a segment is
rewritten the same way on every later turn.

Byte-level splicing is :mod:`sidecar.chat.splice`. Any shape the code does not expect raises
:class:`SegmentError`, and the caller forwards the body untouched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import msgspec

from sidecar.chat.body import Style
from sidecar.chat.calls import (
    FN_CLOSE,
    FN_OPEN,
    Call,
    cline_header,
    is_function_results,
    is_user_reply,
    json_args,
    xml_call,
)
from sidecar.chat.splice import Edit, Path, SpliceError, replace_strings
from sidecar.config import SourceType
from sidecar.jsontypes import DECODE_ERRORS, JsonValue

__all__ = ["ParsedChat", "Segment", "SegmentError", "Style", "parse_chat", "rewrite"]

Kind = Literal["tool_output", "user_text"]
Wrap = tuple[str, str]  # what stays around a segment's text in its string: (prefix, suffix)
_NO_WRAP: Wrap = ("", "")

GOAL_PART_MAX_CHARS = 2000  # per part: a pasted log as "instruction" must not become the whole goal
# Context that agents wrap into user messages but that is not an instruction (Claude Code, Cline).
_REMINDER = re.compile(r"<(system-reminder|environment_details)>.*?</\1>", re.S)
_CLINE_CONTEXT = re.compile(r"<environment_details>.*</environment_details>", re.S)  # never pruned


class SegmentError(ValueError):
    """The body is not a chat request this module can rewrite safely (forward it untouched)."""


class Segment(msgspec.Struct, frozen=True, kw_only=True):
    """One prunable text: where its JSON string token sits in the body, and what to prune it for.

    The string at ``path`` is ``prefix + text + suffix``; only ``text`` is pruned (a wrapper such as
    Cline's ``<function_results>`` tags stays as the client wrote it).
    """

    index: int  # position among the body's segments (document order)
    path: Path  # where the string sits in the document, e.g. ("messages", 3, "content")
    text: str
    goal: str
    kind: Kind
    source_type: SourceType | None  # None: let the pruner detect it
    tool_name: str | None = None
    prefix: str = ""
    suffix: str = ""


class _Walk:
    """Conversation state while reading messages in order: task, latest instruction, tool calls."""

    def __init__(self, *, min_chars: int, goal_override: str | None, prune_user_text: bool) -> None:
        self.min_chars = min_chars
        self.goal_override = goal_override
        self.prune_user_text = prune_user_text
        self.task: str | None = None
        self.latest: str | None = None
        self.calls: dict[str, Call] = {}
        self.xml_call: Call | None = None  # the tool call in the latest assistant text (Cline)
        self.found: list[Segment] = []

    def goal(self, call: Call | None) -> str:
        if self.goal_override is not None:
            return self.goal_override
        parts = [p[:GOAL_PART_MAX_CHARS] for p in (self.task, self.latest) if p]
        if len(parts) == 2 and parts[0] == parts[1]:
            parts.pop()
        if call is not None and call.hint:
            parts.append(call.hint[:GOAL_PART_MAX_CHARS])
        return "\n".join(parts)

    def add(self, path: Path, text: str, goal: str, kind: Kind, call: Call | None, wrap: Wrap) -> None:
        name, st = (call.name, call.source_type) if call else (None, None)
        seg = Segment(index=len(self.found), path=path, text=text, goal=goal, kind=kind, source_type=st)
        self.found.append(msgspec.structs.replace(seg, tool_name=name, prefix=wrap[0], suffix=wrap[1]))

    def tool_output(self, path: Path, text: str, call: Call | None, wrap: Wrap = _NO_WRAP) -> None:
        if len(text) >= self.min_chars:
            self.add(path, text, self.goal(call), "tool_output", call, wrap)

    def user_texts(self, texts: list[tuple[Path, str]]) -> None:
        """Take one user message's texts: maybe segments (goal from before it), then the new instruction."""
        if self.prune_user_text and self.task is not None:
            goal = self.goal(None)
            for path, text in texts:
                if len(text) >= self.min_chars and goal and not _CLINE_CONTEXT.fullmatch(text.strip()):
                    self.add(path, text, goal, "user_text", None, _NO_WRAP)
        instruction = "\n".join(t for t in (_REMINDER.sub("", text).strip() for _, text in texts) if t)
        if instruction:
            if self.task is None:
                self.task = instruction
            self.latest = instruction

    def cline_result(self, path: Path, text: str, call: Call | None, texts: list[tuple[Path, str]]) -> None:
        """Take the output part of a Cline tool result: a segment, unless it carries the user's words."""
        wrap, inner = _NO_WRAP, text
        if call is None:  # the <function_results> form: no header, the assistant's XML call is the hint
            wrap, inner, call = (FN_OPEN, FN_CLOSE), text[len(FN_OPEN) : -len(FN_CLOSE)], self.xml_call
        if is_user_reply(call, inner):
            texts.append((path, text))
        else:
            self.tool_output(path, inner, call, wrap)


class ParsedChat(msgspec.Struct):
    """A chat request body decoded once, with its prunable segments in document order."""

    body: bytes
    doc: dict[str, JsonValue]
    segments: list[Segment]


def parse_chat(
    body: bytes,
    style: Style,
    *,
    min_chars: int,
    goal_override: str | None = None,
    prune_user_text: bool = False,
) -> ParsedChat:
    """Decode a chat body and find its prunable segments; raise SegmentError on any unexpected shape."""
    try:
        doc: JsonValue = msgspec.json.decode(body)
    except DECODE_ERRORS + (UnicodeDecodeError,) as exc:
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
    # A message's user-text segments are found after its tool outputs: put them in document order.
    found = sorted(walk.found, key=lambda s: s.path)
    segments = [s if s.index == i else msgspec.structs.replace(s, index=i) for i, s in enumerate(found)]
    return ParsedChat(body, doc, segments)


def rewrite(chat: ParsedChat, replacements: Sequence[tuple[Segment, str]]) -> bytes:
    """Return the body with each segment's JSON string token replaced by the encoding of its new text.

    Every byte outside those tokens is kept. The result is checked: it must decode to the original
    document with exactly those strings changed, else SegmentError.
    """
    if not replacements:
        return chat.body
    todo = sorted(replacements, key=lambda r: r[0].index)
    if any(chat.segments[seg.index] is not seg for seg, _ in todo):
        raise SegmentError("replacement for an unknown segment")
    edits = [Edit(s.path, s.prefix + s.text + s.suffix, s.prefix + new + s.suffix) for s, new in todo]
    try:
        return replace_strings(chat.body, chat.doc, edits)
    except SpliceError as exc:
        raise SegmentError(str(exc)) from exc


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

    A request with a malformed message anywhere is forwarded as it came (the provider says what is wrong).
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


def _walk_user(content: JsonValue, base: Path, walk: _Walk, *, tool_results: bool) -> None:
    """Read one user message: tool results (Anthropic blocks, Cline text parts), then the user's text."""
    if not isinstance(content, list):
        walk.user_texts(_texts(content, base))
        return
    texts: list[tuple[Path, str]] = []
    header: tuple[Path, str, Call] | None = None  # a Cline header part, waiting for its output part
    for j, block in enumerate(content):
        if not isinstance(block, dict):
            raise SegmentError("content block is not an object")
        kind = block.get("type")
        after, header = header, None
        if kind == "text":
            text = block.get("text")
            if not isinstance(text, str):
                raise SegmentError("text block without a string text")
            path: Path = (*base, j, "text")
            if after is not None:
                walk.cline_result(path, text, after[2], texts)
            elif walk.task is not None and (call := cline_header(text)) is not None:
                header = (path, text, call)
            elif walk.task is not None and is_function_results(text):
                walk.cline_result(path, text, None, texts)
            else:
                texts.append((path, text))
            continue
        # A header followed by an image (Cline reading one) is not an instruction: drop it.
        if tool_results and kind == "tool_result":
            ref = block.get("tool_use_id")
            call = walk.calls.get(ref) if isinstance(ref, str) else None
            for path, text in _texts(block.get("content"), (*base, j, "content")):
                walk.tool_output(path, text, call)
    if header is not None:
        texts.append(header[:2])  # with nothing after it, a header-like part is just text
    walk.user_texts(texts)


def _walk_openai(messages: list[JsonValue], walk: _Walk) -> None:
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise SegmentError("message is not an object")
        role = _checked_role(msg)
        base: Path = ("messages", i, "content")
        if role == "user":
            _walk_user(msg.get("content"), base, walk, tool_results=False)
        elif role == "assistant":
            walk.xml_call = xml_call(_texts(msg.get("content"), base))
            calls = msg.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                if isinstance(call, dict) and isinstance(ref := call.get("id"), str):
                    fn = call.get("function")
                    fn = fn if isinstance(fn, dict) else {}
                    name, args = fn.get("name"), json_args(fn.get("arguments"))
                    walk.calls[ref] = Call(name if isinstance(name, str) else None, args)
        elif role in ("tool", "function"):
            ref = msg.get("tool_call_id")
            found = walk.calls.get(ref) if isinstance(ref, str) else None
            if found is None and role == "function" and isinstance(msg.get("name"), str):
                found = Call(str(msg["name"]), None)
            for path, text in _texts(msg.get("content"), base):
                walk.tool_output(path, text, found)


def _walk_anthropic(messages: list[JsonValue], walk: _Walk) -> None:
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise SegmentError("message is not an object")
        role = _checked_role(msg)
        content = msg.get("content")
        base: Path = ("messages", i, "content")
        if role == "user":
            _walk_user(content, base, walk, tool_results=True)
        elif role == "assistant":
            walk.xml_call = xml_call(_texts(content, base))
            for block in content if isinstance(content, list) else ():
                if isinstance(block, dict) and block.get("type") in ("tool_use", "server_tool_use"):
                    ref, name = block.get("id"), block.get("name")
                    if isinstance(ref, str):
                        walk.calls[ref] = Call(name if isinstance(name, str) else None, block.get("input"))


# Shared with sidecar.chat.responses, which reads the Responses API's input items with the same goal state.
Walk = _Walk
