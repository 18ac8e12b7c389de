"""JSON by record: the record the goal names kept whole, outliers and errors found, the rest cut."""

from __future__ import annotations

import bisect
import itertools
import json
import random
import re

import pytest

from sidecar.pruning.engine.json_kind import (
    OUTLIER_DISTINCT,
    OUTLIER_MIN,
    OUTLIER_SHARE,
    RECORD_MAX,
    Lines,
    Tree,
    _outliers,
    score_json,
)
from sidecar.pruning.engine.layout import spread_json
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


def test_a_goal_asking_why_something_fails_puts_the_error_first() -> None:
    # A notebook: "cell" matches every cell's "cell_type" line, nothing in the goal names the KeyError.
    cells = [
        {"cell_type": "code", "execution_count": k, "id": f"c{k:02d}", "metadata": {}, "outputs": [],
         "source": [f"df{k} = load('part{k}.csv')\n", f"df{k}.describe()\n"]}
        for k in range(1, 13)
    ]  # fmt: skip
    cells[6]["outputs"] = [
        {"ename": "KeyError", "evalue": "'BE'", "output_type": "error",
         "traceback": ["KeyError  Traceback (most recent call last)", "KeyError: 'BE'"]}
    ]  # fmt: skip
    text = json.dumps({"cells": cells, "nbformat": 4}, indent=1)
    _, out = prune(text, "Why does cell 7 of the notebook fail?", "json")
    kept = [line.strip() for line in out.split("\n")]
    assert '"ename": "KeyError",' in kept and '"evalue": "\'BE\'",' in kept


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


# The patterns the line scan replaced, tried at every position of the text (the reference).
_OLD_CLOSING = re.compile(r"^[ \t]*[}\]]", re.M)
_OLD_OPENING = re.compile(r"[{\[][ \t]*$", re.M)
_OLD_KEY_VALUE = re.compile(r'^[ \t]*"((?:[^"\\\n]|\\.)*)": ?+(?![{\[])(.*?),?[ \t]*$', re.M)
_PIECES = [
    " ",
    "  ",
    "\t",
    "\r",
    "\x0c",
    "\xa0",
    '"',
    "\\",
    '\\"',
    "{",
    "}",
    "[",
    "]",
    ",",
    ": ",
    ":",
    "a",
    "é",
    "1",
]


def _fuzzed_lines(rnd: random.Random) -> list[str]:
    lines = releases_json().split("\n")[: rnd.randint(1, 80)]
    for _ in range(rnd.randint(0, 30)):
        k = rnd.randrange(len(lines))
        cut = rnd.randint(0, len(lines[k]))
        lines[k] = lines[k][:cut] + "".join(rnd.choices(_PIECES, k=rnd.randint(1, 4))) + lines[k][cut:]
    return lines


def _line_of(offsets: list[int], pos: int) -> int:
    return bisect.bisect_right(offsets, pos) - 1


@pytest.mark.parametrize("seed", range(300))
def test_the_line_scan_matches_the_text_patterns(seed: int) -> None:
    lines = _fuzzed_lines(random.Random(seed))
    text = "\n".join(lines)
    offsets = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    closing = {_line_of(offsets, m.start()) for m in _OLD_CLOSING.finditer(text)}
    opening = {_line_of(offsets, m.start()) for m in _OLD_OPENING.finditer(text)}
    kv = {_line_of(offsets, m.start()): (m.group(1), m.group(2)) for m in _OLD_KEY_VALUE.finditer(text)}
    scan = Lines(lines, text)
    assert {i for i, k in enumerate(scan.kinds) if k == 1} == closing
    assert scan.events == sorted(closing | opening)
    assert scan.kv == kv
    assert scan.kv_lines == sorted(kv) and scan.pairs == [kv[i] for i in sorted(kv)]


def _record_by_walk(tree: Tree, i: int) -> tuple[int, int]:
    """The reference: walk up from the line's container to its record."""
    r = tree.inner[i]
    if r < 0 or tree.size(r) > RECORD_MAX:
        return i, i
    while r not in tree.element:
        p = tree.parent.get(r, -1)
        if p < 0 or tree.size(p) > RECORD_MAX:
            break
        r = p
    return r, tree.end[r]


@pytest.mark.parametrize("seed", range(100))
def test_records_match_the_walk_up(seed: int) -> None:
    lines = _fuzzed_lines(random.Random(seed))
    tree = _tree(lines)
    walked = [_record_by_walk(tree, i) for i in range(len(lines))]
    assert [tree.record(i) for i in range(len(lines))] == walked
    assert tree.groups() == [a for a, _ in walked]  # a line in no record is a group of its own


def _outliers_by_lines(kvs: dict[int, tuple[str, str]]) -> list[int]:
    """The reference: key -> value -> lines, then the rare values of keys with few values."""
    seen: dict[str, dict[str, list[int]]] = {}
    for i, (key, value) in sorted(kvs.items()):
        if len(value) <= 80:
            seen.setdefault(key, {}).setdefault(value, []).append(i)
    out: list[int] = []
    for values in seen.values():
        total = sum(map(len, values.values()))
        if len(values) <= OUTLIER_DISTINCT and total >= OUTLIER_MIN:
            out += [i for where in values.values() if len(where) <= OUTLIER_SHARE * total for i in where]
    return sorted(out)


@pytest.mark.parametrize("seed", range(60))
def test_outliers_match_the_per_line_count(seed: int) -> None:
    rnd = random.Random(seed)
    items = [
        {"id": k, "state": rnd.choice(["ok"] * 30 + ["odd", "x" * 90]), "n": rnd.randint(0, 3)}
        for k in range(80)
    ]
    lines = json.dumps({"items": items}, indent=2).split("\n")
    scan = Lines(lines, "\n".join(lines))
    assert sorted(_outliers(scan)) == _outliers_by_lines(scan.kv)


def test_an_http_response_head_is_kept_with_the_best_lines() -> None:
    head = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 30\r\n\r\n"
    records = [
        {"name": f"pkg{k}", "version": f"1.{k}.0", "summary": f"package {k} " + "text " * 12}
        for k in range(300)
    ]
    text = head + json.dumps({"environment": {"os": "linux"}, "installed": records}, indent=2)
    scores, _ = score_json(text.split("\n"), "which version of pkg137 is installed?")
    assert scores[:4] == [max(scores)] * 4 and max(scores[4:]) == max(scores)
    keep, out = prune(text, "which version of pkg137 is installed?", "json", keep=0.05)
    assert all(keep[:4]) and out.startswith(head)  # the status says how the call went
    assert '"version": "1.137.0"' in out


def _records_laid_out(records: list[dict[str, object]]) -> str:
    """An API's one-line answer as ``engine.layout`` lays it out: one short record per line."""
    laid = spread_json(json.dumps(records, separators=(",", ":")))
    assert laid is not None
    return laid


def test_pairs_inside_records_written_on_one_line_find_outliers_and_errors() -> None:
    repos = [{"id": k, "name": f"proj-{k}", "archived": k == 33, "private": False} for k in range(250)]
    lines = _records_laid_out(repos).split("\n")
    scan = Lines(lines, "\n".join(lines))
    at = next(i for i, line in enumerate(lines) if '"id":33,' in line)
    assert _outliers(scan) == [at]  # "archived":true among 249 falses, inside a one-line record
    keep, out = prune("\n".join(lines), "which repo is archived?", "json")
    assert keep[at] and len(out) < 0.3 * len("\n".join(lines))
    jobs = [
        {"id": k, "status": "completed", "conclusion": "failure" if k == 77 else "success"}
        for k in range(300)
    ]
    lines = _records_laid_out(jobs).split("\n")
    scores, _ = score_json(lines, "why did the run go wrong?")
    at = next(i for i, line in enumerate(lines) if '"id":77,' in line)
    assert scores[at] == max(scores) > sorted(scores)[len(scores) // 2]


def test_a_string_holding_braces_is_one_pair_not_an_inline_record() -> None:
    lines = ["{", '  "a": "uses {braces}, like \\"b\\": 1",', '  "c": {"d": 1}', "}"]
    scan = Lines(lines, "\n".join(lines))
    assert 1 in scan.kv and 1 not in scan.inline
    assert scan.inline == {2: [("d", "1")]}
