"""Diagnostic lists: records grouped by the file each is about, scored as search results are.

The prunes take the kind as the proxy does: a build or lint command declares logs, the text decides.
"""

from __future__ import annotations

from sidecar.pruning.engine.diagnostics import read_diagnostics
from sidecar.pruning.engine.kinds import detect_kind
from tests.pruning.engine.samples import eslint_stylish, gcc_make, prune, rg_output, ruff_full, tsc_output


def test_gcc_records_hold_their_frames_and_make_lines_name_no_file() -> None:
    lines = gcc_make().split("\n")
    diag = read_diagnostics(lines)
    assert diag is not None
    error = next(i for i, line in enumerate(lines) if "error: ‘parse_count’" in line)
    assert diag.record[error + 1] == diag.record[error + 2] == diag.record[error]  # its code frame
    assert diag.paths[diag.file[error]] == "parse.c" and diag.record[error] in diag.errors
    make = lines.index("make: *** [Makefile:6: parse.o] Error 1")
    assert diag.file[make] == -1
    # "parse.c: In function ...:" opens the record of the first diagnostic below it
    context = lines.index("parse.c: In function ‘parse_init’:")
    assert diag.record[context + 1] == context


def test_a_message_takes_its_file_from_the_location_below_it() -> None:
    lines = ruff_full().split("\n")
    diag = read_diagnostics(lines)
    assert diag is not None
    assert diag.paths[diag.file[0]] == "lark/lexer.py" and diag.record[1] == diag.record[4] == 0
    assert diag.record[8] == 8 and diag.paths[diag.file[8]] == "lark/parser.py"


def test_eslint_rows_belong_to_the_file_heading_above_them() -> None:
    lines = eslint_stylish().split("\n")
    diag = read_diagnostics(lines)
    assert diag is not None
    heading = lines.index("/home/dev/shop/src/components/Checkout.tsx")
    assert {diag.file[heading + j] for j in range(1, 8)} == {diag.file[heading]}
    assert diag.file[heading - 2] != diag.file[heading]


def test_diagnostic_lists_are_read_as_search_results_and_search_results_stay_so() -> None:
    for text in (eslint_stylish(), tsc_output(), gcc_make(), ruff_full()):
        assert detect_kind(text, "logs") == "search"
    assert read_diagnostics(rg_output().split("\n")) is None  # grep -n: plain matches, the search path
    build = [f"   Compiling crate{k} v0.1.{k}" for k in range(60)]
    build[30:30] = [
        "warning: unused variable: `x`",
        "  --> src/lib.rs:3:9",
        "   |",
        "3  |     let x = 1;",
        "",
    ]
    assert detect_kind("\n".join(build), "logs") == "logs"  # one warning in a build log: still a log


def test_eslint_rows_of_the_file_the_goal_names_are_kept_with_their_heading() -> None:
    text = eslint_stylish()
    lines = text.split("\n")
    heading = lines.index("/home/dev/shop/src/components/Checkout.tsx")
    goal = "Fix the eslint errors in Checkout.tsx.\nnpx eslint src"
    for keep in (None, 0.3):
        flags, _ = prune(text, goal, detect_kind(text, "logs"), keep)
        assert all(flags[heading : heading + 8])  # the heading and its seven rows (others say the same)
        assert sum(flags) < 0.4 * len(flags)  # the summary, a few other lines


def test_tsc_rows_of_the_named_file_are_kept() -> None:
    text = tsc_output()
    named = [line for line in text.split("\n") if line.startswith("src/utils/money.ts(")]
    for keep in (None, 0.3):
        _, out = prune(
            text, "Fix the TypeScript errors in src/utils/money.ts.\nnpx tsc --noEmit", "search", keep
        )
        assert all(line in out.split("\n") for line in named)
        assert "Found 42 errors in 7 files." in out


def test_compile_errors_among_warnings_are_kept_with_their_frames_and_make_lines() -> None:
    text = gcc_make()
    lines = text.split("\n")
    flags, _ = prune(text, "Fix the compile errors so the server builds.\nmake -k", detect_kind(text, "logs"))
    for name in ("parse", "log"):
        error = next(i for i, line in enumerate(lines) if f"error: ‘{name}_count’" in line)
        assert all(flags[error : error + 4])  # the message, its frame, make's line for the target
    warnings = [i for i, line in enumerate(lines) if ": warning:" in line]
    assert sum(flags[i] for i in warnings) <= 2
    assert sum(flags) < 0.4 * len(lines)


def test_a_goal_saying_the_build_is_broken_keeps_its_errors() -> None:
    # A real `make -k` (bench/data/tool_outputs): "build broken" names no error, and a warning matching
    # the command's "make" ("makes integer from pointer") outranked the errors.
    import gzip
    import json
    from pathlib import Path

    cases = Path(__file__).resolve().parents[3] / "bench" / "data" / "tool_outputs" / "cases.jsonl.gz"
    case = next(c for c in map(json.loads, gzip.open(cases, "rt")) if c["name"] == "gcc via make -k")
    lines = case["text"].split("\n")
    errors = [i for i, line in enumerate(lines) if ": error: " in line]
    for goal in ("build broken, fix\nmake -k", "why won't it compile?\nmake -k"):
        flags, _ = prune(case["text"], goal, detect_kind(case["text"], "logs"))
        assert len(errors) == 3 and all(flags[i] for i in errors), goal


def test_the_findings_the_goal_names_keep_their_location() -> None:
    text = ruff_full()
    lines = text.split("\n")
    for keep in (None, 0.3):
        _, out = prune(
            text, "Fix the B904 findings: raise ... from err inside except blocks.", "search", keep
        )
        kept = out.split("\n")
        for i, line in enumerate(lines):
            if line.startswith("B904"):
                assert line in kept and lines[i + 1] in kept
