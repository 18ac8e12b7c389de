"""Prunable segments of an OpenAI Responses request (Codex CLI, the Agents SDK): ``POST /v1/responses``.

    parse_responses(body, ...) -> ParsedChat(doc, segments)   (rewritten by sidecar.chat.segments.rewrite)

The conversation is the ``input`` list, read in order with the same goal state as chat bodies
(:class:`sidecar.chat.segments.Walk`):

    {"type": "message", "role": "user", "content": [{"type": "input_text", "text"}]}  the task, instructions
    {"type": "function_call", "call_id", "name", "arguments": "<json>"}              a call (exec_command...)
    {"type": "custom_tool_call", "call_id", "name", "input": "<text>"}               a call (code-mode exec)
    {"type": "function_call_output" | "custom_tool_call_output", "call_id",
     "output": "<text>" | [{"type": "input_text", "text"}, ...]}                     segments

Segments: the output strings and ``input_text`` parts of tool outputs. Codex heads each output with a
status block (``Chunk ID: … Wall time: … Process exited with code 0 … Output:`` for ``exec_command``,
``Script completed / Wall time … / Output:`` for code-mode ``exec``): it is kept verbatim, as a
segment's prefix, and only what follows is pruned.

The goal: the first user message's text (Codex's ``<environment_context>``, AGENTS.md and other context
blocks are not the task), the latest user text before the output, and the call's command (``cmd`` of
``exec_command``, the ``cmd`` strings of a code-mode script, ``command`` of a shell tool). A command that
reads one file (``cat``, ``sed -n``, ``head``...) hints that file's kind, a search (``rg``, ``grep``) search,
a test or build command logs.

Never touched: ``instructions``, ``tools``, developer and system messages, assistant messages,
``reasoning`` items and their ``encrypted_content``, ``additional_tools``, images and files, and any item
type this module does not know. With ``previous_response_id`` the body carries only the new items; they
are read the same way (the goal then has only what those items say). Any shape the code does not expect
raises :class:`SegmentError`, and the caller forwards the body untouched.
"""

from __future__ import annotations

import re
import shlex

import msgspec

from sidecar.chat.calls import Call, json_args
from sidecar.chat.segments import ParsedChat, SegmentError, Walk
from sidecar.chat.splice import Path
from sidecar.jsontypes import JsonValue

__all__ = ["parse_responses"]

_OUTPUTS = frozenset({"function_call_output", "custom_tool_call_output"})
_TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
# Codex's status block above a command's output (exec_command; code-mode exec; the older shell tool).
_HEADER = re.compile(
    r"\A(?:(?:Chunk ID|Wall time|Process exited with code|Process running with session ID"
    r"|Original token count|Total output lines|Exit code"
    r"|Script completed|Script running|Script failed|Script terminated)\b[^\n]*\n){1,8}Output:\n"
)
# Context Codex puts in user messages that is not what the user asked (the task is the next message).
_CONTEXT = re.compile(
    r"\s*(?:<(environment_context|user_instructions|user_shell_command|turn_aborted)>.*</\1>"
    r"|# AGENTS\.md instructions for .*</INSTRUCTIONS>)\s*",
    re.S,
)
# Strings passed as `cmd` in a code-mode script: tools.exec_command({"cmd": "cat a.py"}) or {cmd: 'ls'}.
_SCRIPT_CMD = re.compile(r"""["']?\bcmd["']?\s*:\s*("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')""")


def parse_responses(
    body: bytes, *, min_chars: int, goal_override: str | None = None, prune_user_text: bool = False
) -> ParsedChat:
    """Decode a Responses body and find its prunable segments; raise SegmentError on any unexpected shape."""
    try:
        doc: JsonValue = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise SegmentError("body is not valid UTF-8 JSON") from exc
    if not isinstance(doc, dict):
        raise SegmentError("body is not a JSON object")
    items = doc.get("input")
    if items is None or isinstance(items, str):
        return ParsedChat(body, doc, [])  # no input, or the one-string form: no tool output
    if not isinstance(items, list):
        raise SegmentError("input is neither a string nor a list")
    walk = Walk(min_chars=min_chars, goal_override=goal_override, prune_user_text=prune_user_text)
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise SegmentError("input item is not an object")
        _item(item, ("input", i), walk)
    found = sorted(walk.found, key=lambda s: s.path)
    segments = [s if s.index == n else msgspec.structs.replace(s, index=n) for n, s in enumerate(found)]
    return ParsedChat(body, doc, segments)


def _item(item: dict[str, JsonValue], base: Path, walk: Walk) -> None:
    kind = item.get("type", "message")  # an easy input message may omit its type
    if not isinstance(kind, str):
        raise SegmentError("input item type is not a string")
    if kind == "message":
        role = item.get("role")
        if not isinstance(role, str):
            raise SegmentError("message role is not a string")
        texts = _texts(item.get("content"), (*base, "content"))
        if role == "user":
            walk.user_texts([(path, text) for path, text in texts if not _CONTEXT.fullmatch(text)])
    elif kind in ("function_call", "custom_tool_call"):
        ref, name = item.get("call_id"), item.get("name")
        if isinstance(ref, str):
            args, commands = _call_args(kind, item)
            made = Call(name if isinstance(name, str) else None, args)
            if commands > 1:
                made.source_type = None  # a script running several commands: its output is a mix
            walk.calls[ref] = made
    elif kind in _OUTPUTS:
        ref = item.get("call_id")
        call = walk.calls.get(ref) if isinstance(ref, str) else None
        for path, text in _texts(item.get("output"), (*base, "output")):
            header = _HEADER.match(text)
            prefix = header.group(0) if header else ""
            walk.tool_output(path, text[len(prefix) :], call, (prefix, ""))
    # reasoning, additional_tools, web_search_call, item_reference, anything new: not ours to touch


def _texts(content: JsonValue, base: Path) -> list[tuple[Path, str]]:
    """Return the (path, text) of a content or output value: a string, or the text parts of a list."""
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
        if part.get("type") not in _TEXT_PARTS:
            continue  # input_image, input_file, refusal, anything new
        text = part.get("text")
        if not isinstance(text, str):
            raise SegmentError("text part without a string text")
        out.append(((*base, j, "text"), text))
    return out


def _call_args(kind: str, item: dict[str, JsonValue]) -> tuple[JsonValue, int]:
    """Return a call's arguments as the goal hints read them (``cmd``/``command`` one string), and how
    many commands it runs."""
    if kind == "custom_tool_call":
        script = item.get("input")
        cmds = (
            [c for m in _SCRIPT_CMD.finditer(script) if (c := _js_string(m.group(1)))]
            if isinstance(script, str)
            else []
        )
        return ({"cmd": "; ".join(cmds)} if cmds else None), len(cmds)
    args = json_args(item.get("arguments"))
    if isinstance(args, dict):
        command = args.get("command")
        if isinstance(command, list) and all(isinstance(c, str) for c in command):
            # The shell tool's argv: ["bash", "-lc", "cat a.py"] is the command "cat a.py".
            argv = [str(c) for c in command]
            joined = argv[-1] if len(argv) >= 3 and argv[-2] in ("-c", "-lc") else shlex.join(argv)
            args = {**args, "command": joined}
    return args, 1


def _get(args: JsonValue, key: str) -> JsonValue:
    return args.get(key) if isinstance(args, dict) else None


def _js_string(literal: str) -> str:
    """Decode a JavaScript string literal as a code-mode script writes it (JSON rules, either quote)."""
    if literal.startswith("'"):
        literal = '"' + literal[1:-1].replace('\\"', '"').replace("\\'", "'").replace('"', '\\"') + '"'
    try:
        value: JsonValue = msgspec.json.decode(literal)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return ""
    return value if isinstance(value, str) else ""
