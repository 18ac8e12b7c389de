"""JSON documents (API answers, ``npm view --json``, ``pip inspect``, ``kubectl -o json``): score by record.

A pretty-printed JSON document is read as a tree of containers, one line per value; the kept lines
stay verbatim and every cut is a marker, so the result reads as the JSON it was, with holes that
``recover_text`` fills. Scoring, per line:

1. goal terms (and versions or advisory ids the goal names) matching the line, rarity taken over
   records (a term in every record says nothing); a match in a record's name (``name``, ``id``,
   ``filename``...) counts three times for the record;
2. a matching line lifts its whole **record**: the array element holding it (a release file, an
   installed distribution), or else the smallest object around it, when that is at most
   ``RECORD_MAX`` lines; a record gathering several distinct goal terms counts each;
3. errors and outliers lift their record too: a value or key that says error/failure, and a rare
   value of a low-cardinality key (``"yanked": true`` among hundreds of ``false``), much more when
   the goal names the key;
4. the outline: lines at depth 0-1 (the top-level keys and brackets) get a small prior; very long
   values (a package's whole README as one string) are pushed down and lift no record.

Units for selection are records (whole array elements, small objects) and runs of sibling values, so
a cut falls between values. Only called for texts ``kinds.detect_kind`` found to parse as JSON.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence

from sidecar.pruning.engine.chunking import ERROR_WORDS, Chunk, lowered
from sidecar.pruning.engine.terms import weighted_matches

RECORD_MAX = 80  # a container longer than this is a collection, not a record
UNIT_MAX = 40  # selection units: containers up to this many lines stay whole
LEAF_UNIT = 1  # sibling leaf lines stand alone: a version among hundreds is a unit of its own
LIFT = 0.8  # share of its record's value every line of the record gets
COORD = 0.5  # bonus per extra distinct goal term in a record
OUTLINE_W = 0.1
ERROR_W = 0.5
OUTLIER_W = 0.8
OUTLIER_MIN = 10  # a key seen at least this often...
OUTLIER_DISTINCT = 4  # ...with at most this many distinct values...
OUTLIER_SHARE = 0.05  # ...has outliers: values in at most this share of its occurrences
LONG_LINE = 400
NAME_KEYS = frozenset({"name", "id", "_id", "key", "package", "filename", "title", "module"})
NAME_FACTOR = 3.0
LONG_FACTOR = 0.3


class Tree:
    """Pretty-printed JSON as containers: for each line its innermost container and depth."""

    def __init__(self, lines: Sequence[str]) -> None:
        n = len(lines)
        self.inner = [-1] * n  # start line of the innermost container holding the line (-1: none)
        self.depth = [0] * n
        self.parent: dict[int, int] = {}  # container start -> enclosing container start
        self.end: dict[int, int] = {}  # container start -> its closing line
        self.element: set[int] = set()  # containers that are array elements (no key before them)
        stack: list[int] = []
        for i, line in enumerate(lines):
            s = line.strip().rstrip(",")
            if s[:1] in ("}", "]") and stack:
                a = stack.pop()
                self.end[a] = i
                self.inner[i] = a
                self.depth[i] = len(stack)
                continue
            self.depth[i] = len(stack)
            self.inner[i] = stack[-1] if stack else -1
            if s.endswith(("{", "[")):
                self.parent[i] = stack[-1] if stack else -1
                if s in ("{", "["):
                    self.element.add(i)
                stack.append(i)
                self.inner[i] = i
        for a in stack:  # unclosed (truncated output): the container runs to the end
            self.end[a] = n - 1

    def size(self, a: int) -> int:
        return self.end[a] - a + 1

    def record(self, i: int) -> tuple[int, int]:
        """Return the lines (start, end inclusive) of the record holding line ``i``."""
        r = self.inner[i]
        if r < 0 or self.size(r) > RECORD_MAX:
            return i, i
        while r not in self.element:
            p = self.parent.get(r, -1)
            if p < 0 or self.size(p) > RECORD_MAX:
                break
            r = p
        return r, self.end[r]


def _key_value(line: str) -> tuple[str, str] | None:
    """Return (key, scalar value) of a ``"key": value`` line, or None."""
    s = line.strip().rstrip(",")
    if not s.startswith('"'):
        return None
    k = s.find('": ', 1)
    if k < 0:
        return None
    value = s[k + 3 :]
    if value[:1] in ("{", "["):
        return None
    return s[1:k], value


def _outliers(lines: Sequence[str]) -> list[int]:
    """Return lines holding a rare value of a low-cardinality key (``"yanked": true`` among falses)."""
    seen: dict[str, Counter[str]] = {}
    where: dict[tuple[str, str], list[int]] = {}
    for i, line in enumerate(lines):
        kv = _key_value(line)
        if kv is None or len(kv[1]) > 80:
            continue
        seen.setdefault(kv[0], Counter())[kv[1]] += 1
        where.setdefault(kv, []).append(i)
    out: list[int] = []
    for key, counts in seen.items():
        total = sum(counts.values())
        if total < OUTLIER_MIN or len(counts) > OUTLIER_DISTINCT:
            continue
        for value, c in counts.items():
            if c <= OUTLIER_SHARE * total:
                out += where[(key, value)]
    return out


def score_json(lines: Sequence[str], goal: str) -> tuple[list[float], list[Chunk]]:
    """Score each line of a pretty-printed JSON text; return the scores and the selection units."""
    n = len(lines)
    tree = Tree(lines)
    text = "\n".join(lines)
    low = lowered(text)
    offsets = list(itertools.accumulate(map((1).__add__, map(len, lines)), initial=0))
    group_of = [tree.record(i)[0] for i in range(n)]
    matches = weighted_matches(text, low, offsets, goal, group_of, len(set(group_of)), literals=True)
    scores = [0.0] * n
    for i, ts in matches.items():
        scores[i] = sum(ts.values())
    unit = max(max(scores, default=0.0), 1.0)
    # A record's value: each distinct goal term once, more for gathering several.
    records: dict[tuple[int, int], dict[str, float]] = {}
    for i, ts in matches.items():
        if len(lines[i]) > LONG_LINE:
            continue  # a README in one string matches every goal: it names no record
        kv = _key_value(lines[i])
        if kv is not None and kv[0].lower() in NAME_KEYS:
            ts = {t: w * NAME_FACTOR for t, w in ts.items()}  # the record is named by the goal
        record = records.setdefault(tree.record(i), {})
        for t, w in ts.items():
            record[t] = max(record.get(t, 0.0), w)
    lifts = [0.0] * n
    for (a, b), ts in records.items():
        value = LIFT * sum(ts.values()) * (1.0 + COORD * (len(ts) - 1))
        lifts[a : b + 1] = [max(x, value) for x in lifts[a : b + 1]]
    # Errors and outliers: the rows a reader looks for first, whatever the goal says.
    flagged = [(i, ERROR_W) for i, line in enumerate(lines) if _is_error(line)]
    # An outlier of a key the goal names ("yanked" for "which releases were yanked") is the answer.
    flagged += [(i, OUTLIER_W if i in matches else OUTLIER_W / 4) for i in _outliers(lines)]
    for i, w in flagged:
        a, b = tree.record(i)
        value = w * unit
        lifts[a : b + 1] = [max(x, value) for x in lifts[a : b + 1]]
        scores[i] += value
    for i in range(n):
        scores[i] += lifts[i]
        if tree.depth[i] <= 1:
            scores[i] += OUTLINE_W * unit
        if len(lines[i]) > LONG_LINE:
            scores[i] = scores[i] * LONG_FACTOR - 0.3 * unit
    return scores, _units(tree, n)


def _is_error(line: str) -> bool:
    kv = _key_value(line)
    if kv is None:
        return False
    key, value = kv[0].lower(), kv[1].lower()
    if key in ("error", "errors", "err", "exception", "failure", "failures"):
        return value not in ("null", "[]", "{}", '""', "false", "0")
    return value.startswith('"') and any(w in value for w in ERROR_WORDS) and len(value) < 200


def _units(tree: Tree, n: int) -> list[Chunk]:
    """Split the lines into selection units: small containers whole, big ones into their children."""
    out: list[Chunk] = []
    i = 0
    leaf_start = -1
    while i < n:
        a = i if i in tree.end else -1
        if a >= 0 and tree.size(a) > UNIT_MAX:
            a = -1  # a big container: its opening line is a leaf, its children units of their own
        if (
            a < 0
            and leaf_start >= 0
            and (i - leaf_start >= LEAF_UNIT or tree.inner[i] != tree.inner[leaf_start])
        ):
            out.append(Chunk(leaf_start, i, "value"))
            leaf_start = -1
        if a >= 0:
            if leaf_start >= 0:
                out.append(Chunk(leaf_start, i, "value"))
                leaf_start = -1
            out.append(Chunk(a, tree.end[a] + 1, "record"))
            i = tree.end[a] + 1
            continue
        if leaf_start < 0:
            leaf_start = i
        i += 1
    if leaf_start >= 0:
        out.append(Chunk(leaf_start, n, "value"))
    return out
