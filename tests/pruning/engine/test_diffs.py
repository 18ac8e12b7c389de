"""Diffs and history: the commit and hunks the goal is about kept, headers of the rest."""

from __future__ import annotations

from tests.pruning.engine.samples import git_log, prune


def test_the_commit_the_goal_describes_is_kept() -> None:
    text = git_log()
    _, out = prune(text, "When did the consolidation of gaps start using a heap? I need that commit", "diff")
    kept = out.split("\n")
    assert f"commit {23:040x}" in kept
    assert "    Consolidation keeps gaps in a heap instead of rescanning every run" in kept
    assert len(out) < 0.35 * len(text)


def test_the_hunk_touching_the_named_function_is_kept_whole() -> None:
    parts = []
    for k in range(12):
        name = "_connection_listed" if k == 7 else f"helper_{k}"
        parts += [
            f"diff --git a/mod{k}.py b/mod{k}.py",
            f"index {k:07x}..{k + 1:07x} 100644",
            f"--- a/mod{k}.py",
            f"+++ b/mod{k}.py",
            f"@@ -{k * 10 + 1},7 +{k * 10 + 1},7 @@ def outer_{k}():",
            "     unchanged = 1",
            f"-    value = {name}(old_argument)",
            f"+    value = {name}(new_argument, strict=True)",
            "     return value",
            "",
        ]
    text = "\n".join(parts)
    _, out = prune(text, "Review the change to _connection_listed", "diff")
    kept = set(out.split("\n"))
    assert "-    value = _connection_listed(old_argument)" in kept
    assert "+    value = _connection_listed(new_argument, strict=True)" in kept
    assert "@@ -71,7 +71,7 @@ def outer_7():" in kept


def test_a_log_names_the_commit_of_the_hunk_the_goal_touches() -> None:
    # git log -p over one file: every commit touches src/click/termui.py; the goal names what one
    # hunk changed, not the commit ("which commit changed that?"), so the commit rises with its hunk.
    parts = []
    for k in range(14):
        old, new = ("TypeError", "ValueError") if k == 9 else (f"OldThing{k}", f"NewThing{k}")
        parts += [
            f"commit {k + 1:040x}",
            "Author: Dev <dev@example.org>",
            f"Date:   Mon Mar {k + 1} 10:00:00 2025 +0000",
            "",
            f"    Rework part {k} of the terminal helpers",
            "",
            "diff --git a/src/click/termui.py b/src/click/termui.py",
            f"index {k:07x}..{k + 1:07x} 100644",
            "--- a/src/click/termui.py",
            "+++ b/src/click/termui.py",
            f"@@ -{k * 40 + 1},6 +{k * 40 + 1},6 @@ def helper_{k}():",
            "     bits = []",
            f"-        raise {old}(_('Unknown color {{colour!r}}').format(colour=fg))",
            f"+        raise {new}(_('Unknown color {{colour!r}}').format(colour=fg))",
            "     return bits",
            "",
        ]
    text = "\n".join(parts)
    goal = (
        "Our `except TypeError` around click.style() no longer catches bad colors. Which commit changed that?"
    )
    _, out = prune(text, goal, "diff")
    kept = out.split("\n")
    assert f"commit {10:040x}" in kept and "    Rework part 9 of the terminal helpers" in kept
    assert "+        raise ValueError(_('Unknown color {colour!r}').format(colour=fg))" in kept


def test_a_tools_own_lines_between_hunks_are_no_context_lines() -> None:
    # black --check --diff: each file's diff, then "would reformat <file>"; the goal asks for those
    # lines, and the hunks' code matches the goal's other words ("files").
    parts = []
    for k in range(16):
        parts += [
            f"--- src/pkg/mod{k}.py\t2024-05-14 21:19:57+00:00",
            f"+++ src/pkg/mod{k}.py\t2026-12-06 05:27:45+00:00",
            f"@@ -{k * 30 + 1},5 +{k * 30 + 1},5 @@",
            "     for k, v in files:",
            *(f"         fields.append((k, v, {j}))  # files and fields" for j in range(8)),
            f"-        (body, content_type) = self._encode_files(files, data{k})",
            f"+        body, content_type = self._encode_files(files, data{k})",
            "     return body",
        ]
        if k % 2 == 0:
            parts.append(f"would reformat src/pkg/mod{k}.py")
    parts += ["", "8 files would be reformatted, 25 files would be left unchanged.", ""]
    text = "\n".join(parts)
    goal = "black --check is failing in CI. Which files does it want to reformat?\nblack --check --diff src"
    for keep in (None, 0.2):
        _, out = prune(text, goal, "diff", keep)
        kept = out.split("\n")
        assert all(f"would reformat src/pkg/mod{k}.py" in kept for k in range(0, 16, 2)), keep
