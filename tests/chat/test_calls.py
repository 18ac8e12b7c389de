"""Tool calls as hints: the source type and goal words a call gives its output, and Cline's tool protocol."""

from __future__ import annotations

import json

from sidecar.chat.calls import (
    FN_CLOSE,
    FN_OPEN,
    Call,
    call_hints,
    cline_header,
    is_function_results,
    is_user_reply,
    json_args,
    xml_call,
)


def test_source_type_hints() -> None:
    def source(args: dict, name: str = "tool") -> str | None:
        return Call(name, json_args(json.dumps(args))).source_type

    assert source({"path": "a/b.py"}) == "code"
    assert source({"file_path": "docs/guide.md"}) == "docs"
    assert source({"command": "cat src/main.rs"}) == "code"
    assert source({"command": "npm test"}) == "logs"
    assert source({"command": "grep -rn foo ."}) == "search"
    assert source({"command": "cd src && rg -n foo"}) == "search"
    assert source({"pattern": "foo", "path": "src"}, name="Grep") == "search"
    assert source({"command": "git log -p -n 3"}) == "diff"
    assert source({"command": "git diff HEAD~1"}) == "diff"
    assert source({"command": "pip install -v requests"}) == "logs"
    assert source({"command": "ls -la"}) is None
    assert source({"path": "server.log"}) == "logs"
    assert source({"command": "kubectl logs deploy/api --since=1h"}) == "logs"
    assert source({"command": "kubectl get pods -o wide"}) is None
    assert source({"command": "npm ls --all"}) is None  # a dependency tree: the text decides (a listing)
    # A program run prints a log, whatever it quotes (warnings' source lines, strace's calls, blame's code).
    for run in (
        "python -W always export.py",
        "PYTHONPATH=. python3 tools/x.py",
        "node build.js",
        "strace -f ls",
        "valgrind --leak-check=full ./lru",
        "gdb -batch -ex run -ex 'thread apply all bt full' ./sessiond",  # a debugger's run
        "pre-commit run --all-files",  # the hooks' runs (black, flake8, ...)
        "dmesg -T",  # the kernel's log
    ):
        assert source({"command": run}) == "logs", run
    assert source({"command": "git blame httpx/_config.py"}) == "logs"
    assert source({"command": "ls python/"}) is None and source({"command": "cat src/python/a.py"}) == "code"


def test_a_plain_file_read_adds_no_words_to_the_goal() -> None:
    def hint(command: str) -> str:
        return call_hints("sh", {"cmd": command})[0]

    assert hint("cat lib/unpack.js") == "" and hint("sed -n 1,400p lib/unpack.js") == ""
    assert "CHECKPATH" in hint("cat lib/unpack.js | grep CHECKPATH")  # a pipeline says what it wants
    assert "CHECKPATH" in hint("rg -n CHECKPATH lib")
    assert call_hints("grep", {"pattern": "retry_timeout", "path": "src"}) == ("retry_timeout", "search")


def test_json_args_reads_only_a_json_string() -> None:
    assert json_args('{"path": "a.py"}') == {"path": "a.py"}
    assert json_args("{not json") is None and json_args("") is None and json_args({"path": "a.py"}) is None


def test_cline_headers_name_the_call() -> None:
    read = cline_header("[read_file for 'src/a.py'] Result:")
    assert read is not None and (read.name, read.source_type) == ("read_file", "code")
    search = cline_header("[search_files for 'retry' in '*.ts'] Result:")
    assert search is not None and (search.name, search.hint, search.source_type) == (
        "search_files",
        "retry",
        "code",
    )
    command = cline_header("[execute_command for 'npm test'] Result:")
    assert command is not None and (command.hint, command.source_type) == ("npm test", "logs")
    assert cline_header("[read_file for 'a.py'] Result: and more") is None
    assert cline_header("not a header") is None


def test_function_results_is_a_whole_wrapper() -> None:
    assert is_function_results(FN_OPEN + "output" + FN_CLOSE)
    assert is_function_results(FN_OPEN + FN_CLOSE)
    assert not is_function_results(FN_OPEN + "output") and not is_function_results("output" + FN_CLOSE)


def test_the_last_xml_call_of_the_assistant_text_is_the_hint() -> None:
    text = (
        "First <read_file><path>a.py</path></read_file>, then "
        "<execute_command><command> pytest -x </command></execute_command>"
    )
    call = xml_call([(("messages", 1, "content"), text)])
    assert call is not None and (call.name, call.hint, call.source_type) == (
        "execute_command",
        "pytest -x",
        "logs",
    )
    invoke = xml_call(
        [((), '<invoke name="search_files"><parameter name="regex">retry</parameter></invoke>')]
    )
    assert invoke is not None and (invoke.name, invoke.hint) == ("search_files", "retry")
    assert xml_call([((), "no call here")]) is None


def test_user_replies_are_not_tool_output() -> None:
    assert is_user_reply(Call("ask_followup_question", None), "the user's answer")
    feedback = "The user has provided feedback on the results.\n<feedback>\nuse tabs\n</feedback>"
    assert is_user_reply(Call("execute_command", None), feedback) and is_user_reply(None, feedback)
    assert not is_user_reply(Call("read_file", None), "file contents") and not is_user_reply(None, "x")
