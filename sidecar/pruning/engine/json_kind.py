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

Units for selection are records (whole array elements, small objects) and single values (a version
among hundreds is a unit of its own), so a cut falls between values. Only called for texts
``kinds.detect_kind`` found to parse as JSON.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Sequence

from sidecar.pruning.engine.chunking import ERROR_WORDS, Chunk, keyword_lines, lowered
from sidecar.pruning.engine.terms import weighted_matches

RECORD_MAX = 80  # a container longer than this is a collection, not a record
UNIT_MAX = 40  # selection units: containers up to this many lines stay whole
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


# A line closing a container ("}," "]"), and one opening a container ("key": {, or a bare "{" or "["
# of an array element): each pattern is cheap to try at every position of the text.
_CLOSING = re.compile(r"^[ \t]*[}\]]", re.M)
_OPENING = re.compile(r"[{\[][ \t]*$", re.M)


def _bracket_lines(lines: Sequence[str], text: str, offsets: list[int]) -> list[tuple[int, bool, bool]]:
    """Return (line, closes, is a bare bracket) for each line that closes or opens a container."""
    at = bisect.bisect_right
    events = {at(offsets, m.start()) - 1: (True, False) for m in _CLOSING.finditer(text)}
    for m in _OPENING.finditer(text):
        i = at(offsets, m.start()) - 1
        if i not in events:
            events[i] = (False, lines[i].strip() in ("{", "["))
    return [(i, c, b) for i, (c, b) in sorted(events.items())]


_KEY_VALUE = re.compile(r'^[ \t]*"((?:[^"\\\n]|\\.)*)": (?![{\[])(.*?),?[ \t]*$', re.M)


class Tree:
    """Pretty-printed JSON as containers: for each line its innermost container and depth."""

    def __init__(self, lines: Sequence[str], text: str, offsets: list[int]) -> None:
        n = len(lines)
        self.inner = [-1] * n  # start line of the innermost container holding the line (-1: none)
        self.depth = [0] * n
        self.parent: dict[int, int] = {}  # container start -> enclosing container start
        self.end: dict[int, int] = {}  # container start -> its closing line
        self.element: set[int] = set()  # containers that are array elements (no key before them)
        stack: list[int] = []
        done = 0  # lines before this one have their inner and depth set
        # Only the lines that open or close a container are visited (one C-speed scan finds them);
        # the lines between two of them share the innermost container and depth, set by slices.
        for i, closing, bare in _bracket_lines(lines, text, offsets):
            top = stack[-1] if stack else -1
            self.inner[done:i] = [top] * (i - done)
            self.depth[done:i] = [len(stack)] * (i - done)
            if closing:
                a = stack.pop() if stack else -1
                if a >= 0:
                    self.end[a] = i
                self.inner[i] = a
                self.depth[i] = len(stack)
            else:  # an opening line: a bare bracket opens an array element
                self.depth[i] = len(stack)
                self.parent[i] = top
                if bare:
                    self.element.add(i)
                stack.append(i)
                self.inner[i] = i
            done = i + 1
        top = stack[-1] if stack else -1
        self.inner[done:n] = [top] * (n - done)
        self.depth[done:n] = [len(stack)] * (n - done)
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


def _outliers(kvs: Sequence[tuple[str, str] | None]) -> list[int]:
    """Return lines holding a rare value of a low-cardinality key (``"yanked": true`` among falses)."""
    seen: dict[str, dict[str, list[int]]] = {}  # key -> value -> lines
    for i, kv in enumerate(kvs):
        if kv is not None and len(kv[1]) <= 80:
            seen.setdefault(kv[0], {}).setdefault(kv[1], []).append(i)
    out: list[int] = []
    for values in seen.values():
        if len(values) > OUTLIER_DISTINCT:
            continue
        total = sum(map(len, values.values()))
        if total < OUTLIER_MIN:
            continue
        for where in values.values():
            if len(where) <= OUTLIER_SHARE * total:
                out += where
    return out


def score_json(lines: Sequence[str], goal: str) -> tuple[list[float], list[Chunk]]:
    """Score each line of a pretty-printed JSON text; return the scores and the selection units."""
    n = len(lines)
    text = "\n".join(lines)
    low = lowered(text)
    offsets = list(itertools.accumulate(map((1).__add__, map(len, lines)), initial=0))
    tree = Tree(lines, text, offsets)
    kvs: list[tuple[str, str] | None] = [None] * n
    for m in _KEY_VALUE.finditer(text):
        kvs[bisect.bisect_right(offsets, m.start()) - 1] = (m.group(1), m.group(2))
    # Every line of a container has the same record (unless the container is too big to be one).
    record_of: dict[int, int] = {}
    group_of = [
        i
        if (c := tree.inner[i]) < 0 or tree.size(c) > RECORD_MAX
        else record_of.get(c) or record_of.setdefault(c, tree.record(i)[0])
        for i in range(n)
    ]
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
        kv = kvs[i]
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
    candidates = keyword_lines(low, offsets, ERROR_WORDS + ("err",))  # one C-speed scan per word
    flagged = [(i, ERROR_W) for i in sorted(candidates) if _is_error(kvs[i])]
    # An outlier of a key the goal names ("yanked" for "which releases were yanked") is the answer.
    flagged += [(i, OUTLIER_W if i in matches else OUTLIER_W / 4) for i in _outliers(kvs)]
    for i, w in flagged:
        a, b = tree.record(i)
        value = w * unit
        lifts[a : b + 1] = [max(x, value) for x in lifts[a : b + 1]]
        scores[i] += value
    outline = OUTLINE_W * unit
    scores = [s + x + (outline if d <= 1 else 0.0) for s, x, d in zip(scores, lifts, tree.depth, strict=True)]
    for i, size in enumerate(map(len, lines)):
        if size > LONG_LINE:
            scores[i] = scores[i] * LONG_FACTOR - 0.3 * unit
    return scores, _units(tree, n)


def _is_error(kv: tuple[str, str] | None) -> bool:
    if kv is None:
        return False
    key, value = kv[0].lower(), kv[1].lower()
    if key in ("error", "errors", "err", "exception", "failure", "failures"):
        return value not in ("null", "[]", "{}", '""', "false", "0")
    return value.startswith('"') and any(w in value for w in ERROR_WORDS) and len(value) < 200


def _units(tree: Tree, n: int) -> list[Chunk]:
    """Split the lines into selection units: small containers whole, every other line alone."""
    out: list[Chunk] = []
    ends = tree.end
    i = 0
    while i < n:
        e = ends.get(i)
        if e is not None and e - i < UNIT_MAX:
            out.append(Chunk(i, e + 1, "record"))
            i = e + 1
        else:
            out.append(Chunk(i, i + 1, "value"))  # a big container's bracket line, or a value
            i += 1
    return out
