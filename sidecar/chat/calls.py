"""Tool calls as pruning hints: what the call that produced an output says about that output.

    Call(name, args) -> .hint (the goal's third part) and .source_type (None: the pruner detects it)

The hint is the call's search pattern, query or command (not a plain file read's command: its words are
the path's); the source type comes from the file's extension, a build or test command (logs), a search
tool or command (search) and git diff, log or show (diff). Calls are read from JSON (OpenAI tool_calls
arguments, Anthropic tool_use input, Responses items) and from Cline's XML tool protocol: a
``[name for 'arg'] Result:`` header part, a ``<function_results>`` part, or the XML call written in the
assistant's text. Used by :mod:`sidecar.chat.segments` and :mod:`sidecar.chat.responses`.
"""

from __future__ import annotations

import re

import msgspec

from sidecar.chat.splice import Path
from sidecar.config import SourceType
from sidecar.jsontypes import DECODE_ERRORS, JsonValue

_HINT_KEYS = ("pattern", "query", "regex", "search", "symbol", "command", "cmd")
_PATH_KEYS = ("path", "file_path", "filename", "file", "target_file", "relative_path")
_CODE_EXT = frozenset(
    "py pyi js jsx ts tsx mjs cjs go rs java kt kts scala c h cc cpp hpp cxx cs rb php swift m mm sh bash "
    "zsh lua pl r jl ex exs erl hs ml clj dart vue svelte sql toml yaml yml json ini cfg gradle cmake".split()
)
_DOC_EXT = frozenset("md rst txt adoc org html".split())
_LOG_WORDS = re.compile(
    r"\b(?:pytest|tox|nox|unittest|jest|vitest|mocha|npm|pnpm|yarn|cargo|make|ctest|mvn|gradle|go test|"
    r"dotnet|rspec|phpunit|build|compile|lint|mypy|ruff|eslint|tsc|pip|pip3|uv|poetry|docker|journalctl|"
    r"kubectl\s+logs|stern|dmesg|pre-commit)\b"
)
# A program run (a script, a tracer, a debugger, a blame): what it prints is a log, whatever it looks like
# (warnings quote source lines, strace prints calls, gdb prints frames, git blame prints code): read as
# code, kept at its 0.45 share.
_RUN_CMD = re.compile(
    r"(?:^|[;&|(]\s*)(?:\w+=\S*\s+)*(?:python[\d.]*|node|deno|bun|ruby|perl|php|java|strace|ltrace|valgrind"
    r"|gdb|lldb|go\s+run|cargo\s+run|git\s+blame)\s"
)
# Commands whose output has a structure of its own (the pruner checks the text too).
_SEARCH_CMD = re.compile(r"(?:^|[;&|(]\s*)(?:rg|grep|egrep|fgrep|ag|ack|git grep)\s")
_DIFF_CMD = re.compile(r"(?:^|[;&|(]\s*)git\s+(?:-\S+\s+)*(?:diff|log|show)\b")
_SEARCH_TOOLS = frozenset({"grep", "grep_search", "search_code"})
_COMMAND_KEYS = ("command", "cmd")
_READ_WORDS = re.compile(r"^\s*(?:cat|head|tail|sed|nl|less|bat|view)\b")
# A package manager's dependency tree (npm ls) is a listing, not its install log: the text decides.
_TREE_CMD = re.compile(r"\b(?:npm|pnpm|yarn)\s+(?:ls|list|la|ll)\b")
_PIPED = re.compile(r"[|;&`<>]|\$\(")  # a pipeline or a second command: its words may be the goal's

# Cline (and its forks) in XML tool mode: a whole text part `[name for 'arg'] Result:` (search_files:
# `[search_files for 'regex' in 'glob'] Result:`), the output in the next text part.
_CLINE_HEADER = re.compile(r"\[([A-Za-z_][\w.-]*)(?: for (?:'(.*)'|[^'\[\]]*))?\] Result:", re.S)
_CLINE_SEARCH_ARG = re.compile(r"(.*?)' in '(.*)", re.S)
FN_OPEN, FN_CLOSE = "<function_results>\n", "\n</function_results>"  # Cline's Claude 4 format
_CLINE_ARG = {
    "execute_command": "command", "read_file": "path", "write_to_file": "path", "replace_in_file": "path",
    "list_files": "path", "list_code_definition_names": "path", "new_rule": "path", "apply_diff": "path",
    "search_files": "regex", "codebase_search": "query", "web_fetch": "url", "browser_action": "action",
    "use_mcp_tool": "server_name", "access_mcp_resource": "server_name",
}  # fmt: skip
_CLINE_SOURCE: dict[str, SourceType] = {
    "execute_command": "logs", "search_files": "code", "list_code_definition_names": "code",
    "list_files": "listing", "web_fetch": "docs",
}  # fmt: skip
# Tools whose "result" is the user's own words (an answer, feedback on a completion): never tool output.
_CLINE_DIALOG = frozenset(
    "ask_followup_question attempt_completion plan_mode_respond plan_mode_response new_task condense "
    "summarize_task report_bug switch_mode".split()
)
_USER_WORDS = re.compile(r"The user (?:has )?provided (?:the following )?feedback.{0,200}?<feedback>", re.S)
# The tool call in an assistant message, as Cline's prompts ask for it (the header-less format's hint).
_TOOL_TAGS = "|".join(sorted({*_CLINE_ARG, *_CLINE_DIALOG}))
_XML_CALL = re.compile(rf"<({_TOOL_TAGS})>\s*(<\w+>.*?)</\1>", re.S)
_XML_INVOKE = re.compile(r'<invoke name="([\w.-]+)">(.*?)</invoke>', re.S)
_XML_PARAM = re.compile(r'<(\w+)>(.*?)</\1>|<parameter name="(\w+)">(.*?)</parameter>', re.S)


class Call:
    """A tool call as a hint for its output: the tool's name, the goal hint and source type it gives."""

    __slots__ = ("name", "hint", "source_type")

    def __init__(self, name: str | None, args: JsonValue) -> None:
        self.name = name
        self.hint, self.source_type = call_hints(name, args)


def json_args(args: JsonValue) -> JsonValue:
    """Decode OpenAI's JSON-encoded tool arguments; anything unreadable is no hint."""
    try:
        value: JsonValue = msgspec.json.decode(args) if isinstance(args, str) and args else None
    except DECODE_ERRORS + (UnicodeDecodeError,):
        return None
    return value


def call_hints(name: str | None, args: JsonValue) -> tuple[str, SourceType | None]:
    """Return (goal hint, source type) from a tool call: its search pattern or command, its file's kind."""
    if not isinstance(args, dict):
        return "", None
    command = next((v for k in _COMMAND_KEYS if isinstance(v := args.get(k), str)), "")
    reads = _READ_WORDS.match(command) is not None
    # A plain file read (``cat a.py``, ``sed -n 1,200p a.py``) says which file, not what matters in it:
    # its words would only pull the path's words up everywhere (measured: 3 gold lines of 88 lost).
    plain_read = reads and not _PIPED.search(command)
    hint = [
        v
        for k in _HINT_KEYS
        if isinstance(v := args.get(k), str) and v and not (plain_read and k in _COMMAND_KEYS)
    ]
    path = next((v for k in _PATH_KEYS if isinstance(v := args.get(k), str)), "")
    if not path and reads:
        path = command.split()[-1] if command.split() else ""
    ext = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    logs = ext == "log" or (
        command
        and (_LOG_WORDS.search(command) or _RUN_CMD.search(command))
        and not reads
        and not _TREE_CMD.search(command)
    )
    source: SourceType | None = (
        "logs" if logs else "code" if ext in _CODE_EXT else "docs" if ext in _DOC_EXT else None
    )
    if (name or "").lower() in _SEARCH_TOOLS or _SEARCH_CMD.search(command):
        source = "search"
    elif _DIFF_CMD.search(command):
        source = "diff"
    return " ".join(hint), source


def cline_header(text: str) -> Call | None:
    """Return the tool call a Cline result header part names, or None when the part is not one."""
    m = _CLINE_HEADER.fullmatch(text) if text.endswith("] Result:") else None
    if m is None:
        return None
    name, arg = m.group(1), m.group(2)
    args: dict[str, JsonValue] = {}
    if arg is not None:
        split = _CLINE_SEARCH_ARG.fullmatch(arg) if name == "search_files" else None
        if split is not None:
            arg, args["file_pattern"] = split.group(1), split.group(2)
        args[_CLINE_ARG.get(name, "argument")] = arg
    return _cline_call(name, args)


def _cline_call(name: str, args: dict[str, JsonValue]) -> Call:
    """Return a Cline tool call, its source type from the tool when Cline's tool says what it returns."""
    call = Call(name, args)
    # Cline's own tools say what their output is; a command reading one file is that file's kind.
    if name in _CLINE_SOURCE and not (name == "execute_command" and call.source_type in ("code", "docs")):
        call.source_type = _CLINE_SOURCE[name]
    return call


def is_function_results(text: str) -> bool:
    """Tell whether a user text part is a whole ``<function_results>`` wrapper (Cline's Claude 4 format)."""
    return text.startswith(FN_OPEN) and text.endswith(FN_CLOSE) and len(text) >= len(FN_OPEN + FN_CLOSE)


def xml_call(texts: list[tuple[Path, str]]) -> Call | None:
    """Return the last tool call written as XML in an assistant's text (Cline's tool protocol)."""
    last: re.Match[str] | None = None
    for _, text in texts:
        if found := [*_XML_CALL.finditer(text), *_XML_INVOKE.finditer(text)]:
            last = max(found, key=lambda m: m.start())
    if last is None:
        return None
    args: dict[str, JsonValue] = {}
    for p in _XML_PARAM.finditer(last.group(2)):
        args[p.group(1) or p.group(3)] = (p.group(2) if p.group(1) else p.group(4)).strip()
    return _cline_call(last.group(1), args)


def is_user_reply(call: Call | None, text: str) -> bool:
    """Tell whether a Cline tool result carries the user's own words (an answer, feedback): never pruned."""
    return (call is not None and call.name in _CLINE_DIALOG) or bool(_USER_WORDS.search(text))
