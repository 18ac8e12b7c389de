"""Long homogeneous runs in code: the named entry, its neighbours, the place a new entry goes."""

from __future__ import annotations

from sidecar.pruning.engine.runs import find_runs
from tests.pruning.engine.samples import mime_table, prune


def test_find_runs_takes_entries_not_imports_or_comments() -> None:
    lines = mime_table().split("\n")
    runs = find_runs(lines)
    assert len(runs) == 1
    a, b = runs[0]
    assert lines[a].startswith("  'aac'") and lines[b - 1].startswith("  'zip'")
    imports = [f"import mod{k}" for k in range(20)] + [f"# comment {k}," for k in range(20)]
    assert find_runs(imports) == []


def test_the_entry_the_goal_names_keeps_its_neighbours() -> None:
    text = mime_table()
    _, out = prune(text, "Serve .opus audio files with the right MIME type", "code", keep=0.3)
    kept = out.split("\n")
    assert "  'opus': 'application/x-opus'," in kept
    assert "  'ogx': 'application/x-ogx'," in kept and "  'otf': 'application/x-otf'," in kept


def test_a_new_entry_keeps_the_lines_where_it_goes() -> None:
    text = mime_table()
    _, out = prune(text, "Add avif images to the types", "code", keep=0.3)
    kept = out.split("\n")
    assert "  'avi': 'application/x-avi'," in kept and "  'azw': 'application/x-azw'," in kept
