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
