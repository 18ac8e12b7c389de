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


def _runs_by_shapes(lines: list[str]) -> list[tuple[int, int]]:
    """The reference: every line's shape, runs of equal shapes."""
    from sidecar.pruning.engine.runs import RUN_MIN, _shape

    shapes = [_shape(line) for line in lines]
    out, i = [], 0
    while i < len(lines):
        j = i + 1
        if shapes[i] is not None:
            while j < len(lines) and shapes[j] == shapes[i]:
                j += 1
            if j - i >= RUN_MIN:
                out.append((i, j))
        i = j
    return out


def test_find_runs_matches_the_shape_of_every_line() -> None:
    import random

    pieces = ["  'a': 1,", "  'b': [2],", "    x,", "  f(y);", "import z,", "# c,", "", "  end", "\t'q': 3,"]
    for seed in range(200):
        rnd = random.Random(seed)
        lines = [rnd.choice(pieces[: rnd.randint(2, len(pieces))]) for _ in range(rnd.randint(1, 120))]
        assert find_runs(lines) == _runs_by_shapes(lines)
