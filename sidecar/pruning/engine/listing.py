"""Listings (``find``, ``ls -R``, ``tree``, ``npm ls``, ``dpkg -l``, a CSV file): where each row is.

    anchors(lines) -> list[int]    per line, the line that says where it is (-1: none)

A listing's rows stand alone, but a row of ``ls -R`` is read under its directory's heading (``./src:``
after a blank line), and a row of a tree (``tree``'s ``│   ├── cli.py``, ``npm ls``'s ``└─┬ npm@11``, an
agent's ``  - cli.py``) under its parent rows, the nearest ones above drawn less deep. The heuristic lifts
each anchor to its best row (``lift``); orientation keeps the anchors of every kept row (``orient``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["anchors", "lift"]

# How deep a tree's row is: the marks before its name (tree pads with no-break spaces: "│\xa0\xa0 ├── x").
_TREE_INDENT = re.compile(r"(?:[ \t\xa0│|]|[├└`+][─—┬-]+[ \xa0]|- )*")


def anchors(lines: Sequence[str]) -> list[int]:
    """Return, per line, its parent row in a tree, else its ``ls -R`` heading, else -1."""
    out = [-1] * len(lines)
    stack: list[tuple[int, int]] = []  # (depth, line) of the rows above, each deeper than the last
    heading = -1
    for i, line in enumerate(lines):
        if not line.strip():
            heading, stack = -1, []
            continue
        if line.endswith(":") and (i == 0 or not lines[i - 1].strip()):
            heading, stack = i, []  # ls -R: a directory's heading opens its section
            continue
        m = _TREE_INDENT.match(line)
        depth = m.end() if m is not None else 0
        while stack and stack[-1][0] >= depth:
            stack.pop()
        out[i] = stack[-1][1] if stack else heading
        stack.append((depth, i))
    return out


def lift(lines: Sequence[str], scores: list[float]) -> None:
    """Raise each anchor to the best score of the rows under it (bottom up: a chain rises whole)."""
    parent = anchors(lines)
    for i in range(len(lines) - 1, -1, -1):
        a = parent[i]
        if a >= 0 and scores[a] < scores[i]:
            scores[a] = scores[i]
