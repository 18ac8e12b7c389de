"""Search results: the matches the goal names kept, by file; the pattern itself says nothing."""

from __future__ import annotations

from sidecar.pruning.engine.search import file_groups, score_search
from tests.pruning.engine.samples import prune, rg_output


def test_the_file_the_goal_names_keeps_its_matches() -> None:
    text = rg_output()
    _, out = prune(text, "The read timeout is ignored by send() in src/pkg/adapters.py; fix it", "search")
    kept = set(out.split("\n"))
    named = [line for line in text.split("\n") if line.startswith("src/pkg/adapters.py:")]
    assert all(line in kept for line in named)
    assert sum(1 for line in kept if line.startswith("tests/test_x.py:")) <= 3
    assert len(out) < 0.4 * len(text)  # the named file is a fifth of the matches


def test_a_dotted_name_in_the_goal_finds_its_one_match() -> None:
    lines = [f"src/click/core.py:{k}:        ctx.command.invoke(ctx, {k})" for k in range(1, 120)]
    lines[60] = "src/click/core.py:61:        ctx.obj = ctx.with_resource(connect_db(name))"
    text = "\n".join(lines)
    _, out = prune(text, "ctx.obj is lost in chained commands; where is it set?", "search")
    assert lines[60] in out.split("\n")


def test_file_groups_in_match_context_and_heading_forms() -> None:
    lines = ["src/a.py-3-    before", "src/a.py:4:    match", "--", "src/b.py:9:    other"]
    group, context, paths = file_groups(lines)
    assert paths[:1] == ["src/a.py"] and group[0] == group[1] and group[3] != group[0]
    assert context == [True, False, False, False]
    heading = ["src/a.py", "3:    x = 1", "4-    y", "", "src/b.py", "7:    z"]
    group, context, paths = file_groups(heading)
    assert paths == ["src/a.py", "src/b.py"]
    assert group[1] == group[0] and group[5] == group[4] != group[0]
    assert context[2] and not context[1]


def test_a_checkers_summary_after_its_diagnostics_is_kept() -> None:
    rows = [
        f"pkg/mod{k % 40}.py:{k}: error: Function is missing a type annotation  [no-untyped-def]"
        for k in range(1200)
    ]
    rows[700:700] = [
        f"pkg/validators.py:{k}: error: Incompatible return value type  [return-value]" for k in range(90)
    ]
    text = "\n".join(rows + ["Found 1290 errors in 41 files (checked 45 source files)", ""])
    scores, _ = score_search(text.split("\n"), "fix the type errors in validators.py (not the tests)")
    assert scores[-2] == max(scores)  # the summary, with the best lines
    keep, out = prune(text, "fix the type errors in validators.py (not the tests)", "search")
    assert "pkg/validators.py:12: error: Incompatible return value type  [return-value]" in out
    assert "Found 1290 errors in 41 files (checked 45 source files)" in out and len(out) < 0.3 * len(text)
