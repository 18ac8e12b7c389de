"""Search results (``grep -n``, ``rg``, Claude Code's ``Grep``): score matches grouped by file.

Every line of a search result matches the search pattern, so the pattern says nothing about which
line matters; the goal's other words do, and so does the file the goal names. Lines are parsed as
``path:line:text`` (a match), ``path-line-text`` (context, ``-C``) or rg's heading form (the path
alone on a line, then ``line:text``). Per line:

1. goal terms in the line (its path included), rarity taken over lines: the pattern itself (in
   every line) weighs nothing, a file named by the goal lifts all of its matches;
2. a file whose path holds goal terms lifts its matches (the file the task is about);
3. the first match of each file gets a small prior (which files matched stays visible), and a
   heading line goes with its file's first match;
4. a last line that is no match is a checker's summary (mypy, ruff and gcc print their diagnostics as
   ``path:line:`` lines, then ``Found 12 errors in 3 files``): kept with the best lines.

A checker's diagnostic list with more than ``path:line:`` lines (code frames, ``-->`` locations, eslint's
rows under their file, tsc's ``path(line,col):``; ``engine.diagnostics``) is read as records instead:
each line goes with the file its record is about (no first-match prior: every record is a finding),
and ``diagnostics.diagnostic_priors`` lifts records, errors among warnings and summaries.

Units for selection are runs of up to ``UNIT_LINES`` matches of one file, so a cut never merges
two files' matches silently: its marker names the original line range, recoverable as any other.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from sidecar.pruning.engine.chunking import Chunk, lowered
from sidecar.pruning.engine.diagnostics import diagnostic_priors, read_diagnostics
from sidecar.pruning.engine.terms import asks_about_failure, weighted_matches

UNIT_LINES = 2
FILE_LIFT = 0.35  # share of a file's value each of its matches gets
COORD = 0.5  # bonus per extra distinct goal term in a file
FIRST_W = 0.15  # the first match of each file, as a share of the best score
CONTEXT_FACTOR = 0.6  # context lines (-C) matter less than matches

# "path:12:text" (a match) or "path-12-text" (context); a path holds a letter, so "2024-05-01 10:00"
# (a log's timestamp) is no match.
MATCH = re.compile(r"^(?:\./)?((?=[^\s:,]*[A-Za-z])[\w.@+~-][^\s:,]*?)(?::(\d+):|-(\d+)-)")
_NUMBERED = re.compile(r"^\d+[:-]")


def file_groups(lines: Sequence[str]) -> tuple[list[int], list[bool], list[str]]:
    """Return each line's file index, whether it is context, and the paths (by first appearance)."""
    files: dict[str, int] = {}
    group = [0] * len(lines)
    context = [False] * len(lines)
    current = ""
    for i, line in enumerate(lines):
        m = MATCH.match(line)
        if m:
            path = m.group(1)
            context[i] = m.group(3) is not None
        elif _NUMBERED.match(line):
            path = current  # rg --heading: a numbered line belongs to the path above it
            context[i] = line[len(line) - len(line.lstrip("0123456789"))] == "-"
        elif line.strip() and " " not in line.strip() and line.strip() != "--":
            path = current = line.strip()  # a heading (a path alone)
        else:
            path = current
        group[i] = files.setdefault(path, len(files))
    return group, context, list(files)


def score_search(
    lines: Sequence[str], goal: str, offsets: list[int] | None = None
) -> tuple[list[float], list[Chunk]]:
    """Score each line of a search result; return the scores and the selection units.

    ``offsets``: each line's start in the joined text, then its end (computed when not given).
    """
    n = len(lines)
    diag = read_diagnostics(lines)  # a checker's records: their lines go by the file each is about
    group, context, paths = file_groups(lines) if diag is None else (diag.file, [False] * n, diag.paths)
    text = "\n".join(lines)
    low = lowered(text)
    if offsets is None:
        offsets = list(itertools.accumulate(map((1).__add__, map(len, lines)), initial=0))
    # Rarity over lines, not files: a search over a few big files still tells its rare words apart.
    matches = weighted_matches(text, low, offsets, goal, list(range(n)), n, literals=True)
    scores = [0.0] * n
    for i, ts in matches.items():
        scores[i] = sum(ts.values()) * (CONTEXT_FACTOR if context[i] else 1.0)
    unit = max(max(scores, default=0.0), 1.0)
    value = _path_values(paths, goal)
    seen: set[int] = set()
    for i in range(n):
        f, blank = group[i], not lines[i].strip()
        if f >= 0 and not (diag and blank):  # (a diagnostic list's line of no file, make's, is -1)
            scores[i] += FILE_LIFT * value[f]
        if diag is None and f not in seen and not blank:
            seen.add(f)
            scores[i] += FIRST_W * unit
            if not MATCH.match(lines[i]) and i + 1 < n:
                scores[i + 1] += FIRST_W * unit  # a heading's first match
        if blank:
            scores[i] -= 0.05 * unit
    if diag is None:
        units = _units(group, n)
    else:
        units = diagnostic_priors(lines, diag, scores, value, unit, failing=asks_about_failure(goal))
    # A checker's closing summary after its path:line: diagnostics (mypy's "Found 12 errors in 3 files").
    last = next((i for i in range(n - 1, -1, -1) if lines[i].strip()), None)
    # (In a diagnostic list, a line of its own: not the last row of tsc's table of files.)
    if (
        last is not None
        and (diag is None or diag.record[last] == last)
        and not MATCH.match(lines[last])
        and not _NUMBERED.match(lines[last])
    ):
        scores[last] = max(scores)
    return scores, units


def _path_values(paths: list[str], goal: str) -> list[float]:
    """Return each file's value from the goal terms its path holds (the file the task names)."""
    text = "\n".join(paths)
    low = lowered(text)
    offsets = list(itertools.accumulate(map((1).__add__, map(len, paths)), initial=0))
    found = weighted_matches(text, low, offsets, goal, list(range(len(paths))), len(paths), literals=False)
    return [
        sum(ts.values()) * (1.0 + COORD * (len(ts) - 1)) if (ts := found.get(f)) else 0.0
        for f in range(len(paths))
    ]


def _units(group: list[int], n: int) -> list[Chunk]:
    out: list[Chunk] = []
    start = 0
    for i in range(1, n + 1):
        if i == n or group[i] != group[start] or i - start >= UNIT_LINES:
            out.append(Chunk(start, i, "matches"))
            start = i
    return out
