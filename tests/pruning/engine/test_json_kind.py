"""JSON by record: the record the goal names kept whole, outliers and errors found, the rest cut."""

from __future__ import annotations

import itertools
import json

from sidecar.pruning.engine.json_kind import Tree, score_json
from tests.pruning.engine.samples import prune, releases_json


def _tree(lines: list[str]) -> Tree:
    offsets = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    return Tree(lines, "\n".join(lines), offsets)


def _record(lines: list[str], needle: str) -> list[str]:
    """Return the lines of the file object whose filename holds ``needle``."""
    i = next(k for k, line in enumerate(lines) if needle in line)
    a, b = _tree(lines).record(i)
    return lines[a : b + 1]


def test_the_release_named_by_the_goal_is_kept_whole() -> None:
    text = releases_json()
    lines = text.split("\n")
    keep, out = prune(text, "Pin example 2.31.0: which wheel is it, and what is its sha256?", "json")
    kept = set(out.split("\n"))
    wheel = _record(lines, "example-2.31.0-py3-none-any.whl")
    assert len(wheel) > 10 and all(line in kept for line in wheel)  # digests, size, upload time...
    assert len(out) < 0.35 * len(text)
    assert "recover_text prune_id=" in out  # every cut is a marker


def test_a_rare_value_of_a_key_the_goal_names_is_found() -> None:
    text = releases_json()
    lines = text.split("\n")
    _, out = prune(text, "Which releases were yanked, and why?", "json")
    kept = set(out.split("\n"))
    assert all(line in kept for line in _record(lines, "example-2.17.0.tar.gz"))
    assert all(line in kept for line in _record(lines, "example-2.17.0-py3-none-any.whl"))
    assert '"filename": "example-2.5.0.tar.gz",' not in kept


def test_error_records_are_kept_whatever_the_goal() -> None:
    items = [{"id": k, "status": "ok", "detail": f"item {k} processed"} for k in range(120)]
    items[77] = {"id": 77, "status": "error", "error": "disk quota exceeded on volume 3"}
    text = json.dumps({"results": items}, indent=2)
    _, out = prune(text, "summarise the batch", "json")
    assert '      "error": "disk quota exceeded on volume 3"' in out.split("\n")


def test_tree_records_and_units_cover_every_line() -> None:
    lines = releases_json().split("\n")
    tree = _tree(lines)
    i = next(k for k, line in enumerate(lines) if '"sha256"' in line)
    a, b = tree.record(i)
    assert lines[a].strip() == "{" and lines[b].strip().startswith("}")  # the file object, not digests
    scores, units = score_json(lines, "sha256 of 2.3.0")
    assert len(scores) == len(lines)
    assert units[0].start == 0 and units[-1].end == len(lines)
    assert all(u.end == v.start for u, v in zip(units, units[1:], strict=False))


def test_truncated_json_still_scores() -> None:
    lines = releases_json().split("\n")[:300]  # the detector would not call it JSON; the scorer copes anyway
    scores, units = score_json(lines, "2.3.0")
    assert len(scores) == 300 and units[-1].end == 300
