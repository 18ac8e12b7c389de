"""What a scripted model does: the script file, its scenarios and steps, and each step as an agent's call.

    plan.json: {"scenarios": [{"match": "case-7", "steps": [
                   {"read": "/abs/src/app.py"}, {"grep": "parse_cookie", "path": "src"},
                   {"run": "python3 check.py"}, {"answer": "Done."}]}]}

A scenario is chosen by its ``match`` occurring in the conversation's user text; each of its steps sets
exactly one of read, grep, run, answer. A step becomes the call the agent's own tools take:

    step    Anthropic (Claude Code)          Responses, exec_command (Codex)   Responses, code-mode exec
    read    Read {file_path}                 exec_command {cmd: "cat PATH"}    exec: tools.exec_command(..)
    grep    Bash {command: "grep -rn .."}    exec_command {cmd: "grep -rn .."} exec: tools.exec_command(..)
    run     Bash {command}                   exec_command {cmd}                exec: tools.exec_command(..)
    answer  a text block                     a message item                    a message item

A step's ``shell`` replaces the command a shell agent runs (``{"read": "/abs/a.py", "shell": "cat a.py"}``).
The server that plays the script is :mod:`sidecar.testing.scripted`.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import msgspec

from sidecar.testing.scripted_wire import ToolCall

_READ_BUDGET = 200_000  # max_output_tokens asked of Codex, so a file read is not truncated by the agent


class Step(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One thing the model does: read a file, grep, run a command, or answer (exactly one is set)."""

    read: str | None = None
    grep: str | None = None
    path: str = "."  # where grep searches
    run: str | None = None
    answer: str | None = None
    shell: str | None = None  # the command a shell-only agent runs for this step (default: cat, grep -rn)

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.read, self.grep, self.run, self.answer)) != 1:
            raise ValueError("a step sets exactly one of read, grep, run, answer")

    def command(self) -> str:
        """Return the shell command of a read, grep or run step."""
        if self.shell is not None:
            return self.shell
        if self.read is not None:
            return f"cat {shlex.quote(self.read)}"
        if self.grep is not None:
            return f"grep -rn -- {shlex.quote(self.grep)} {shlex.quote(self.path)}"
        return self.run or ""


class Scenario(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The steps of one task, chosen by a marker in the conversation's user text."""

    match: str = ""  # chosen when this occurs in the user's text ("" matches any conversation)
    steps: list[Step]


class Script(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A script file: its scenarios, tried in order."""

    scenarios: list[Scenario]


def load_script(path: str | Path) -> Script:
    """Read and validate a script file; raise ValueError naming the problem."""
    try:
        return msgspec.json.decode(Path(path).read_bytes(), type=Script)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ValueError(f"script {path}: {exc}") from exc


def claude_call(step: Step, tools: set[str]) -> ToolCall | None:
    """Return a step as Claude Code's own tool call (Read, else Bash); None when neither is offered."""
    if step.read is not None and "Read" in tools:
        return ToolCall(name="Read", arguments={"file_path": step.read})
    if "Bash" not in tools:
        return None
    what = "Search the code" if step.grep is not None else "Read the file" if step.read else "Run the command"
    return ToolCall(name="Bash", arguments={"command": step.command(), "description": what})


def codex_call(step: Step, tools: set[tuple[str, str]]) -> ToolCall | None:
    """Return a step as the call Codex's tools take (code-mode exec, exec_command, shell); None: none."""
    cmd = step.command()
    if ("custom", "exec") in tools:  # code mode: the model writes JavaScript that calls the nested tools
        args = msgspec.json.encode({"cmd": cmd, "max_output_tokens": _READ_BUDGET}).decode()
        return ToolCall(
            name="exec", text_input=f"const r = await tools.exec_command({args});\ntext(r.output);\n"
        )
    if ("function", "exec_command") in tools:
        return ToolCall(name="exec_command", arguments={"cmd": cmd, "max_output_tokens": _READ_BUDGET})
    if ("function", "shell") in tools:
        return ToolCall(name="shell", arguments={"command": ["bash", "-lc", cmd]})
    return None


def describe(step: Step) -> str:
    """Return what a step does, in words (the turn's thinking says it)."""
    if step.read is not None:
        return f"read {step.read}"
    if step.grep is not None:
        return f"search for {step.grep!r} in {step.path}"
    if step.run is not None:
        return f"run {step.run}"
    return "answer"
