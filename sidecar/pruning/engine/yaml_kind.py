"""YAML read as code: its tree gives the units and says which block a goal's match stands for.

A YAML file (a workflow, a compose file, a Helm chart's values, ``kubectl get -o yaml``) is read as
code, whose units are paragraphs and definitions: a key and its child block were not one unit, so
a list with no goal word under a key the goal names (``matrix: py: - "3.12" ...``) faded with its
distance from the key and was cut in the middle. Here:

- ``looks_like_yaml``: most lines are ``key: value``, ``key:`` or ``- item``, and a line is indented
  deeper only under a key opening a block or a ``- `` item (a block scalar's text, ``run: |``, is
  skipped). Python (statements), Markdown (prose, ``**bold**:`` bullets) and logs (timestamps) are
  not;
- ``tree``: each line's parent and block end from its indentation (``- `` items under ``key:`` at
  the same indentation, as ``kubectl`` writes them, are its children);
- ``unit_starts``: a key or item whose whole block is short (a list of scalars, a small mapping) is
  one unit; a longer one is its head (with the scalars before its first sub-block), then its
  sub-blocks, each the same way; the comments just above a key open its unit;
- ``lift_blocks``: a key or item whose head line matches the goal (or, for an item of a collection,
  its ``name:`` line: ``metadata.name`` in a ``kubectl`` list, a step's ``- name:``) lifts its block:
  a short block whole, a long one thinly (a pod of 90 lines does not eat the budget) except its
  status and error fields (``reason:``, ``exitCode:``, ``message:``...) and the keys above them,
  lifted first.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import re
from collections.abc import Iterator, Sequence

YAML_SAMPLE = 300  # lines read to tell YAML
YAML_MIN = 5  # at least this many structural lines...
YAML_SHARE = 0.9  # ...this share of them keys or items...
NEST_SHARE = 0.9  # ...and this share of the deeper-indented ones under a block opener
SHORT_BLOCK = 12  # a block of at most this many lines is lifted whole
LIFT_W = 1.0  # share of its head's goal matches every line of a short block gets
STATUS_W = (
    2.0  # ...twice that: the status fields of a long block (what a "why" needs) and the keys above them
)
THIN_W = 0.25  # ...and the other lines of a long block (diluted by its size)
# A short block whose key is a goal word (``matrix:``, ``ports:``): this share of the best score, added.
KEY_HIT = 0.8
KEY_SHARE = 0.25  # ...unless such blocks make more than this share of the lines (the word names no one block)
KEY_SUFFIX = 3  # a key names a goal word when it is the word and at most this many more letters
PATH_W = 0.9  # a key above a line scores at least this share of it
NAME_DEPTH = 2  # an item's name line: a ``name:`` key at most this deep below it

# A mapping key (maybe the first of a sequence item's mapping), then its value or nothing.
_KEY = re.compile(r"""(?:- +)*(?:[\w.$@/-]+|<<|"[^"\n]*"|'[^'\n]*')[ \t]*:(?:[ \t]|$)""")
# What may follow a key that opens a block: an anchor or a tag, a flow collection's opening, a comment.
_OPENS = re.compile(r"[ \t]*(?:[&!]\S+[ \t]*)?(?:[\[{][ \t]*)?(?:#.*)?")
_ITEM = re.compile(r"-(?:[ \t]|$)")
_BLOCK_SCALAR = re.compile(r":[ \t]*[|>][-+0-9]*[ \t]*(?:#.*)?$")
_DOC = ("---", "...", "%YAML", "%TAG")
_NAME = re.compile(r"(?:- +)?name[ \t]*:")
_STATUS = re.compile(
    r"(?:- +)?(?:reason|message|exitCode|exit_code|signal|errors?|\w*[Ee]rror\w*|status|phase|state|"
    r"lastState|terminated|waiting|restartCount|ready|conditions|containerStatuses|health\w*)[ \t]*:"
)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _structural(lines: Sequence[str], stripped: Sequence[str], limit: int) -> list[int]:
    """The lines that make the tree: not blank, not comments, not a block scalar's text."""
    return list(_structural_rows(lines, stripped, limit))


def _structural_rows(lines: Sequence[str], stripped: Sequence[str], limit: int) -> Iterator[int]:
    scalar_at = -1  # the indentation of the key whose block scalar is being read, else -1
    for i in range(min(limit, len(lines))):
        s = stripped[i]
        if not s:
            continue
        if scalar_at >= 0:
            if _indent(lines[i]) > scalar_at:
                continue
            scalar_at = -1
        if s[0] == "#" or s.startswith(_DOC) and not _KEY.match(s):
            continue
        yield i
        if _BLOCK_SCALAR.search(s):
            scalar_at = _indent(lines[i])


def looks_like_yaml(lines: Sequence[str], stripped: Sequence[str] | None = None) -> bool:
    """Tell whether ``lines`` read as YAML: keys and items, nested under block openers only."""
    n = min(len(lines), YAML_SAMPLE)
    strip = list(map(str.strip, lines[:n])) if stripped is None else stripped
    # At most a tenth of the rows may be neither keys nor items, and there are at most n rows: code
    # stops here within its first few dozen lines.
    misses_allowed = (1.0 - YAML_SHARE) * n
    rows: list[int] = []
    shaped = nested = deeper = 0
    prev = -1
    for i in _structural_rows(lines, strip, n):
        rows.append(i)
        s = strip[i]
        if _KEY.match(s) or _ITEM.match(s):
            shaped += 1
        elif len(rows) - shaped > misses_allowed:
            return False
        if prev >= 0 and _indent(lines[i]) > _indent(lines[prev]):
            deeper += 1
            if _opens_block(strip[prev]):
                nested += 1
        prev = i
    if len(rows) < YAML_MIN:
        return False
    return shaped >= YAML_SHARE * len(rows) and nested >= NEST_SHARE * deeper and shaped > deeper > 0


def _opens_block(p: str) -> bool:
    """Tell whether the (stripped) line ``p`` may have deeper lines under it.

    ``key:`` (maybe with an anchor, a tag, a flow opening or a comment after it) and any ``- `` item
    that is a mapping (``- name: x`` then ``  value: y``) or ends in a colon (``- User Guide:``); not
    ``key: value``, nor ``- x`` (``- x`` then ``  - y`` is an agent's tree of files, not YAML).
    """
    m = _KEY.match(p)
    if m:
        return _ITEM.match(p) is not None or _OPENS.fullmatch(p, m.end()) is not None
    return p == "-" or _ITEM.match(p) is not None and p[-1] == ":"


class Tree:
    """The YAML tree of ``lines``: its structural lines, each one's parent, children and block end.

    ``end[i]`` is one past the last structural line of the block ``i`` opens (``i + 1`` for a scalar).
    """

    def __init__(self, lines: Sequence[str], stripped: Sequence[str]) -> None:
        self.rows = _structural(lines, stripped, len(lines))
        n = len(lines)
        self.parent = [-1] * n
        self.end = list(range(1, n + 1))
        self.children: dict[int, list[int]] = {}
        stack: list[tuple[int, int]] = []  # (level, line) of the open blocks
        last = -1
        # A line's depth: twice its indentation, one more for a "- " item (a child of "key:" above it).
        lead = [len(lines[i]) - len(lines[i].lstrip(" ")) for i in self.rows]
        dash = [stripped[i][:1] == "-" and _ITEM.match(stripped[i]) is not None for i in self.rows]
        for i, lv in zip(self.rows, map(operator.add, map((2).__mul__, lead), dash), strict=True):
            while stack and stack[-1][0] >= lv:
                self.end[stack.pop()[1]] = last + 1
            if stack:
                self.parent[i] = stack[-1][1]
                self.children.setdefault(stack[-1][1], []).append(i)
            stack.append((lv, i))
            last = i
        for _, i in stack:
            self.end[i] = last + 1

    def roots(self) -> list[int]:
        return [i for i in self.rows if self.parent[i] < 0]


def _head(stripped: Sequence[str], i: int) -> int:
    """The first line of the unit ``i`` opens: the comments just above it come with it."""
    while i > 0 and stripped[i - 1].startswith("#"):
        i -= 1
    return i


def unit_starts(
    tree: Tree, stripped: Sequence[str], offsets: Sequence[int], limit: int
) -> list[tuple[int, str]]:
    """Where each unit starts (and its kind): a block of at most ``limit`` characters is one unit."""
    starts: list[tuple[int, str]] = []

    def visit(children: list[int], after_block: bool) -> None:
        # Scalars join the unit before them, unless that is a sub-block: then they open one of their own.
        for c in children:
            sub = tree.children.get(c)
            if sub is None:
                if after_block:
                    starts.append((_head(stripped, c), "entry"))
                    after_block = False
                continue
            starts.append((_head(stripped, c), "block"))
            if offsets[tree.end[c]] - offsets[c] > limit:
                visit(sub, False)  # a long block: its head and its first scalars, then its sub-blocks
            after_block = True

    visit(tree.roots(), True)
    out: list[tuple[int, str]] = []
    for start, kind in starts:  # a start inside the previous comment run, or repeated, is merged
        if out and start <= out[-1][0]:
            continue
        out.append((start, kind))
    return out


def _name_line(tree: Tree, stripped: Sequence[str], i: int) -> int:
    """The ``name:`` line of the item ``i`` opens (at most ``NAME_DEPTH`` below it), else -1."""
    frontier = [i]
    for _ in range(NAME_DEPTH):
        frontier = [c for f in frontier for c in tree.children.get(f, ())]
        for c in frontier:
            if c != i and _NAME.match(stripped[c]) and c not in tree.children:
                return c
    return -1


def lift_blocks(
    tree: Tree,
    stripped: Sequence[str],
    scores: list[float],
    line_terms: dict[int, dict[str, float]],
    words: Sequence[str],
) -> None:
    """Lift the blocks the goal names, in place, then the keys above each line.

    ``words``: the goal's own words; a short block whose key is one of them is what the goal asks about
    (``matrix:`` for "which versions does the CI matrix run"): it gets ``KEY_HIT`` of the best score
    (once the items are lifted), unless such blocks make much of the text (the word names no one block).
    """
    for k, lift in enumerate(_item_lifts(tree, stripped, line_terms)):
        if lift:
            scores[k] += lift
    named = [
        i
        for i in tree.children
        if i in line_terms and tree.end[i] - i <= SHORT_BLOCK and _names(stripped[i], words)
    ]
    if named and sum(tree.end[i] - i for i in named) <= KEY_SHARE * len(tree.rows):
        lift = KEY_HIT * max(scores)
        for k in sorted({k for i in named for k in range(i, tree.end[i])}):
            scores[k] += lift
    # The keys above a line say where it is (which service a port is in): each gets near its best child.
    parent = tree.parent
    for k in reversed(tree.rows):
        p = parent[k]
        if p >= 0 and scores[p] < PATH_W * scores[k]:
            scores[p] = PATH_W * scores[k]


def _item_lifts(tree: Tree, stripped: Sequence[str], line_terms: dict[int, dict[str, float]]) -> list[float]:
    """Each line's lift from the blocks whose head (or an item's ``name:`` line) matches the goal.

    A short block is lifted whole by what its head's matches are worth; a long one thinly, except its
    head, its name line and its status fields (a short status block whole), with the keys above them.
    """
    lifts = [0.0] * len(stripped)
    for i in tree.children:
        own = sum(line_terms.get(i, {}).values())
        name = _name_line(tree, stripped, i) if stripped[i][:1] == "-" else -1  # an item of a sequence
        if name >= 0:
            own = max(own, sum(line_terms.get(name, {}).values()))
        if not own:
            continue
        end = tree.end[i]
        size = end - i
        if size <= SHORT_BLOCK:
            lifts[i:end] = map(max, lifts[i:end], itertools.repeat(LIFT_W * own))
            continue
        lifts[i:end] = map(max, lifts[i:end], itertools.repeat(THIN_W * own / (1.0 + size / 25.0) ** 0.5))
        first = [i] + ([name] if name >= 0 else [])
        rows = tree.rows[bisect.bisect_left(tree.rows, i) : bisect.bisect_left(tree.rows, end)]
        status = [k for k in rows if _STATUS.match(stripped[k])]
        value = STATUS_W * own
        for k in first + status:
            if k in tree.children and tree.end[k] - k <= SHORT_BLOCK:
                # A short status block whole (lastState: terminated: ...).
                lifts[k : tree.end[k]] = map(max, lifts[k : tree.end[k]], itertools.repeat(value))
            while k >= i:  # the line and the keys above it, up to the block's head
                lifts[k] = max(lifts[k], value)
                k = tree.parent[k]
    return lifts


def _names(s: str, words: Sequence[str]) -> bool:
    """Tell whether the key of line ``s`` is one of ``words`` (maybe with a short ending: ``ports``)."""
    key = s[: s.find(":")].lstrip("- ").strip("\"'").lower()
    return any(key.startswith(w) and len(key) - len(w) <= KEY_SUFFIX for w in words)
