"""Diffs and history (``git diff``, ``git show``, ``git log [-p] [--stat]``): keep what the goal touches.

A diff is read as commits (``commit <hash>`` with its author, date and message), files
(``diff --git``, ``---``/``+++``) and hunks (``@@`` and the lines under it). Per line:

1. goal terms in the line, rarity taken over hunks (commit messages count as hunks of their own);
   changed lines (``+``/``-``) count fully, context lines less;
2. a hunk whose changed lines gather goal terms is lifted whole (its header and context included);
   a commit whose message matches lifts its header (hash, author, date, message);
3. headers of the rest get a small prior: the ``commit`` and subject lines, ``diff --git`` and
   ``@@`` lines, so what changed where stays visible when its body is cut.

Units for selection are commit headers, file headers and hunks (long hunks split), so a cut falls
between hunks before it falls inside one.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from sidecar.pruning.engine.chunking import Chunk, lowered
from sidecar.pruning.engine.terms import weighted_matches

HUNK_LIFT = 0.6  # share of a hunk's (or commit message's) value each of its lines gets
COORD = 0.5
HEADER_W = 0.2  # commit, subject, file and hunk header lines, as a share of the best score
COMMIT_LIFT = 0.6  # a commit's hash and subject: this share of the best value among its hunks
CONTEXT_FACTOR = 0.5
UNIT_LINES = 30


def _sections(lines: Sequence[str]) -> tuple[list[int], list[str]]:
    """Return each line's section index and each section's kind (commit, file, hunk, text)."""
    section = [0] * len(lines)
    kinds = ["text"]
    in_message = False
    for i, line in enumerate(lines):
        start = None
        if line.startswith("commit ") and len(line) >= 14:
            start, in_message = "commit", True
        elif line.startswith("diff --git ") or line.startswith("--- ") and not kinds[-1] == "file":
            start, in_message = "file", False
        elif line.startswith("@@"):
            start, in_message = "hunk", False
        elif in_message and line and not line.startswith((" ", "\t")) and ":" not in line[:12]:
            start, in_message = "text", False  # --stat lines after a commit message
        elif kinds[-1] == "hunk" and line and line[0] not in " +-\\":
            start = "text"  # a hunk's lines all start so: this is the tool's own text ("would reformat x.py")
        if start is not None:
            kinds.append(start)
        section[i] = len(kinds) - 1
    return section, kinds


def _is_header(line: str, prev: str) -> bool:
    if line.startswith(("commit ", "diff --git ", "@@")):
        return True
    # A commit's subject: the first message line, indented, after the blank line under Date:.
    return line.startswith("    ") and not prev.strip() and bool(line.strip())


def score_diff(
    lines: Sequence[str], goal: str, offsets: list[int] | None = None
) -> tuple[list[float], list[Chunk]]:
    """Score each line of a diff or log; return the scores and the selection units.

    ``offsets``: each line's start in the joined text, then its end (computed when not given).
    """
    n = len(lines)
    section, kinds = _sections(lines)
    text = "\n".join(lines)
    low = lowered(text)
    if offsets is None:
        offsets = list(itertools.accumulate(map((1).__add__, map(len, lines)), initial=0))
    matches = weighted_matches(text, low, offsets, goal, section, len(kinds), literals=True)
    scores = [0.0] * n
    per_section: dict[int, dict[str, float]] = {}
    for i, ts in matches.items():
        line = lines[i]
        changed = line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
        factor = 1.0 if changed or kinds[section[i]] != "hunk" else CONTEXT_FACTOR
        scores[i] = sum(ts.values()) * factor
        if changed or kinds[section[i]] in ("commit", "file"):
            per_section.setdefault(section[i], {}).update(ts)
    unit = max(max(scores, default=0.0), 1.0)
    value = {s: sum(ts.values()) * (1.0 + COORD * (len(ts) - 1)) for s, ts in per_section.items()}
    # The commit each section belongs to (-1 before the first): in a log of several commits, a hunk the
    # goal touches names its commit (its hash and subject rise with it: "which commit changed that?").
    commit_of, current = [-1] * len(kinds), -1
    for s, kind in enumerate(kinds):
        current = s if kind == "commit" else current
        commit_of[s] = current
    best: dict[int, float] = {}
    if kinds.count("commit") > 1:  # (one commit, ``git show``: its header says nothing more)
        for s, v in value.items():
            c = commit_of[s]
            if c >= 0 and c != s and v > best.get(c, 0.0):
                best[c] = v
    for i in range(n):
        scores[i] += HUNK_LIFT * value.get(section[i], 0.0)
        if _is_header(lines[i], lines[i - 1] if i else ""):
            scores[i] += HEADER_W * unit + COMMIT_LIFT * best.get(section[i], 0.0)
        elif not lines[i].strip():
            scores[i] -= 0.05 * unit
    return scores, _units(section, n)


def _units(section: list[int], n: int) -> list[Chunk]:
    out: list[Chunk] = []
    start = 0
    for i in range(1, n + 1):
        if i == n or section[i] != section[start] or i - start >= UNIT_LINES:
            out.append(Chunk(start, i, "hunk"))
            start = i
    return out
