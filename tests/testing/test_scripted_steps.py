"""The scripted model's script: loading it, one action per step, each step as an agent's tool call."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from sidecar.testing.scripted_steps import Step, claude_call, codex_call, describe, load_script

CLAUDE = {"Read", "Bash"}


def test_load_script_reads_scenarios_in_order(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    steps = [{"read": "/a.py"}, {"answer": "Done."}]
    scenarios = [{"match": "[t1]", "steps": steps}, {"steps": [{"run": "ls"}]}]
    path.write_text(json.dumps({"scenarios": scenarios}))
    script = load_script(path)
    assert [s.match for s in script.scenarios] == ["[t1]", ""]
    assert script.scenarios[0].steps == [Step(read="/a.py"), Step(answer="Done.")]
    with pytest.raises(ValueError, match="nope.json"):
        load_script(tmp_path / "nope.json")


def test_a_step_sets_exactly_one_action() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Step(read="a", run="b")
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({}, Step)


def test_command_quotes_paths_and_patterns_and_shell_wins() -> None:
    assert Step(read="/a b.py").command() == "cat '/a b.py'"
    assert Step(grep="x y", path="src").command() == "grep -rn -- 'x y' src"
    assert Step(run="make test").command() == "make test"
    assert Step(read="/abs/a.py", shell="cat a.py").command() == "cat a.py"


def test_claude_reads_with_read_and_runs_the_rest_in_bash() -> None:
    read = claude_call(Step(read="/a.py"), CLAUDE)
    assert read is not None and (read.name, read.arguments) == ("Read", {"file_path": "/a.py"})
    grep = claude_call(Step(grep="retry"), CLAUDE)
    assert grep is not None and grep.name == "Bash"
    assert grep.arguments == {"command": "grep -rn -- retry .", "description": "Search the code"}
    bash_only = claude_call(Step(read="/a.py"), {"Bash"})
    assert bash_only is not None
    assert bash_only.arguments == {"command": "cat /a.py", "description": "Read the file"}
    assert claude_call(Step(run="ls"), {"Read"}) is None


def test_codex_prefers_code_mode_then_exec_command_then_shell() -> None:
    step = Step(run="make test")
    code = codex_call(step, {("custom", "exec"), ("function", "exec_command")})
    assert code is not None and code.name == "exec" and code.text_input is not None
    assert '"cmd":"make test"' in code.text_input and code.text_input.endswith("text(r.output);\n")
    exec_command = codex_call(step, {("function", "exec_command"), ("function", "shell")})
    assert exec_command is not None and exec_command.name == "exec_command"
    assert exec_command.arguments == {"cmd": "make test", "max_output_tokens": 200_000}
    shell = codex_call(step, {("function", "shell")})
    assert shell is not None and shell.arguments == {"command": ["bash", "-lc", "make test"]}
    assert codex_call(step, {("function", "apply_patch")}) is None


def test_describe() -> None:
    assert describe(Step(read="/a.py")) == "read /a.py"
    assert describe(Step(grep="x", path="src")) == "search for 'x' in src"
    assert describe(Step(run="ls")) == "run ls"
    assert describe(Step(answer="ok")) == "answer"
