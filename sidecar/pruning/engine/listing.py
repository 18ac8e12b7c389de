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

__all__ = ["TREE_ROW", "anchors", "is_heading", "lift"]

# A tree's drawing before a row's name: padding (tree's has no-break spaces: "│\xa0\xa0 ├── x"), then
# the branch ("├── ", npm's "└─┬ ") or an agent's bullet ("- ").
_PAD = r"[ \t\xa0│|]"
_BRANCH = r"[├└`+][─—┬-]+[ \xa0]"
_TREE_INDENT = re.compile(rf"(?:{_PAD}|{_BRANCH}|- )*")  # how deep a row is
# A tree's row (kinds reads a listing by them): a name after a branch, or a bullet holding one name
# alone (a bullet's sentence, a changelog's "- Fixed ...", is no row).
TREE_ROW = re.compile(rf"{_PAD}*(?:{_BRANCH}\S|- \S+$)")


def is_heading(lines: Sequence[str], i: int) -> bool:
    """Tell whether line ``i`` is an ``ls -R`` directory heading ("./src:" at the start or after a blank)."""
    return lines[i].endswith(":") and (i == 0 or not lines[i - 1].strip())


def anchors(lines: Sequence[str]) -> list[int]:
    """Return, per line, its parent row in a tree, else its ``ls -R`` heading, else -1."""
    out = [-1] * len(lines)
    stack: list[tuple[int, int]] = []  # (depth, line) of the rows above, each deeper than the last
    heading = -1
    for i, line in enumerate(lines):
        if not line.strip():
            heading, stack = -1, []
            continue
        if is_heading(lines, i):
            heading, stack = i, []  # ls -R: a directory's heading opens its section
            continue
        # A tree's rows say how deep they are by their drawing (or bullet); any other row is at the top:
        # git branch's "* master" before "  dev" is no parent of it.
        m = _TREE_INDENT.match(line) if TREE_ROW.match(line) else None
        depth = m.end() if m is not None else 0
        while stack and stack[-1][0] >= depth:
            stack.pop()
        out[i] = stack[-1][1] if stack else heading
        stack.append((depth, i))
    return out


def lift(lines: Sequence[str], scores: list[float], parent: list[int] | None = None) -> None:
    """Raise each anchor to the best score of the rows under it (bottom up: a chain rises whole).

    ``parent``: ``anchors(lines)``, computed when not given.
    """
    parent = anchors(lines) if parent is None else parent
    for i in range(len(lines) - 1, -1, -1):
        a = parent[i]
        if a >= 0 and scores[a] < scores[i]:
            scores[a] = scores[i]
