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
   the goal names the key; the pairs inside a small container written whole on its line (as
   ``engine.layout`` keeps short records) count too;
4. the outline: lines at depth 0-1 (the top-level keys and brackets) get a small prior; very long
   values (a package's whole README as one string) are pushed down and lift no record; what comes
   before the document (an HTTP response head, warnings: ``layout.body_start``) is kept with the
   best lines.

Units for selection are records (whole array elements, small objects) and single values (a version
among hundreds is a unit of its own), so a cut falls between values. Only called for texts
``kinds.detect_kind`` found to parse as JSON.
"""

from __future__ import annotations

import collections
import itertools
import operator
import re
from collections.abc import Callable, Sequence

from sidecar.pruning.engine.chunking import ERROR_WORDS, Chunk, keyword_lines, lowered
from sidecar.pruning.engine.layout import body_start
from sidecar.pruning.engine.terms import asks_about_failure, weighted_matches

RECORD_MAX = 80  # a container longer than this is a collection, not a record
UNIT_MAX = 40  # selection units: containers up to this many lines stay whole
LIFT = 0.8  # share of its record's value every line of the record gets
COORD = 0.5  # bonus per extra distinct goal term in a record
OUTLINE_W = 0.1
ERROR_W = 0.5
FAILURE_GOAL_W = 3.0  # errors weigh this many times more when the goal asks why something fails
OUTLIER_W = 0.8
OUTLIER_MIN = 10  # a key seen at least this often...
OUTLIER_DISTINCT = 4  # ...with at most this many distinct values...
OUTLIER_SHARE = 0.05  # ...has outliers: values in at most this share of its occurrences
LONG_LINE = 400
NAME_KEYS = frozenset({"name", "id", "_id", "key", "package", "filename", "title", "module"})
NAME_FACTOR = 3.0
LONG_FACTOR = 0.3


# A line closes a container when its first character past the indentation (spaces and tabs) is "}" or
# "]", opens one when its last before trailing spaces and tabs is "{" or "[", and holds a "key": value
# pair when it matches ``_KEY_VALUE`` past the indentation: C-level maps over the distinct lines.
_CLOSERS = ("}", "]")
_OPENERS = ("{", "[")
_BARE = frozenset(_OPENERS)
# The whitespace str.strip() removes besides " ", "\t" and "\n" in ASCII: without it (and without
# non-ASCII), str.lstrip() and str.rstrip() strip exactly the spaces and tabs the patterns skip.
_OTHER_SPACE = "\r\x0b\x0c\x1c\x1d\x1e\x1f"
_LSTRIP_TABS = operator.methodcaller("lstrip", " \t")
_RSTRIP_TABS = operator.methodcaller("rstrip", " \t")
# A key (escapes allowed; possessive: a key has one parse), ": " (or ":" as compact JSON laid out by
# ``engine.layout`` has it), a scalar value without the trailing comma and spaces (the value runs to a
# comma followed by nothing but spaces, or to its last non-space).
_KEY_VALUE = re.compile(r'"((?:[^"\\\n]++|\\.)*+)": ?+(?![{\[])(.*(?=,[ \t]*$)|(?:.*[^ \t\n])?)')
_PAIR = operator.methodcaller("group", 1, 2)
# The scalar pairs inside a small container written whole on its line (``{"id":7,"state":"open"}``,
# as ``engine.layout`` keeps containers under its width): a key, then a string, number or literal
# followed by the container's next comma or its end.
_INLINE_PAIR = re.compile(r'"((?:[^"\\\n]++|\\.)*+)": ?+("(?:[^"\\\n]++|\\.)*+"|[-+.\w]++)(?= ?[,}\]])')


class Lines:
    """Which lines close or open a container, and the key/value pairs of the others."""

    def __init__(self, lines: Sequence[str], text: str) -> None:
        n = len(lines)
        rstrip: Callable[[str], str]
        if text.isascii() and not any(c in text for c in _OTHER_SPACE):
            rstrip = str.rstrip
            body = list(map(str.lstrip, lines))
        else:
            rstrip = _RSTRIP_TABS
            indented = dict.fromkeys(lines)
            body = list(map(dict(zip(indented, map(_LSTRIP_TABS, indented), strict=True)).__getitem__, lines))
        # What a line is depends only on its text past the indentation: each distinct one is read once
        # (API answers repeat "status": "ok", "},", "{" thousands of times).
        distinct = list(dict.fromkeys(body))
        closes = list(map(str.startswith, distinct, itertools.repeat(_CLOSERS)))
        opens = map(str.endswith, map(rstrip, distinct), itertools.repeat(_OPENERS))
        kind = map(
            operator.add, closes, map(operator.mul, map(operator.gt, opens, closes), itertools.repeat(2))
        )
        # Per line: 1 when it closes a container, 2 when it opens one, 0 when neither.
        kind_of = dict(zip(distinct, kind, strict=True))
        self.kinds: list[int] = list(map(kind_of.__getitem__, body))
        self.events = list(itertools.compress(range(n), self.kinds))
        # Two lazy readers share one stream of matches, each match freed as soon as both have read it.
        kv_found, kv_read = itertools.tee(map(_KEY_VALUE.match, distinct))
        parsed = dict(
            zip(itertools.compress(distinct, kv_found), map(_PAIR, filter(None, kv_read)), strict=True)
        )
        found = list(map(parsed.get, body))  # each line's pair, or None
        self.kv_lines = list(itertools.compress(range(n), found))
        self.pairs: list[tuple[str, str]] = list(filter(None, found))
        self.kv = dict(zip(self.kv_lines, self.pairs, strict=True))
        # A line holding small containers whole: their scalar pairs, for outliers and error values.
        held: dict[str, list[tuple[str, str]]] = {}
        for s in distinct:
            if not kind_of[s] and "{" in s and s not in parsed:
                pairs: list[tuple[str, str]] = _INLINE_PAIR.findall(s)
                if pairs:
                    held[s] = pairs
        self.inline: dict[int, list[tuple[str, str]]] = {}
        if held:
            got = list(map(held.get, body))
            self.inline = {
                i: inner for i in itertools.compress(range(n), got) if (inner := got[i]) is not None
            }


class Tree:
    """Pretty-printed JSON as containers: for each line its innermost container and depth."""

    def __init__(
        self, lines: Sequence[str], text: str, offsets: list[int], scan: Lines | None = None
    ) -> None:
        n = len(lines)
        scan = scan or Lines(lines, text)
        kinds = scan.kinds
        self.parent: dict[int, int] = {}  # container start -> enclosing container start
        self.end: dict[int, int] = {}  # container start -> its closing line
        self.element: set[int] = set()  # containers that are array elements (no key before them)
        self.shallow: list[int] = []  # the lines at depth 0 or 1 (the outline)
        parent, end, element, shallow = self.parent, self.end, self.element, self.shallow
        # The innermost container of each line, as runs: (container, how many lines) in line order.
        tops: list[int] = []
        runs: list[int] = []
        stack: list[int] = []
        top = -1
        done = 0  # lines before this one are in ``runs``
        # Only the lines that open or close a container are visited (one C-speed scan finds them);
        # the lines between two of them share the innermost container and depth.
        for i in scan.events:
            if i > done:
                tops.append(top)
                runs.append(i - done)
                if len(stack) <= 1:
                    shallow.extend(range(done, i))
            if kinds[i] == 1:  # a closing line
                a = stack.pop() if stack else -1
                if a >= 0:
                    end[a] = i
                top = stack[-1] if stack else -1
                tops.append(a)
            else:  # an opening line: a bare bracket opens an array element
                parent[i] = top
                if lines[i].strip() in _BARE:
                    element.add(i)
                tops.append(i)
                top = i
            runs.append(1)
            if len(stack) <= 1:
                shallow.append(i)
            if top == i:
                stack.append(i)
            done = i + 1
        if n > done:
            tops.append(top)
            runs.append(n - done)
            if len(stack) <= 1:
                shallow.extend(range(done, n))
        # start line of the innermost container holding each line (-1: none)
        self.inner = list(itertools.chain.from_iterable(map(itertools.repeat, tops, runs)))
        for a in stack:  # unclosed (truncated output): the container runs to the end
            end[a] = n - 1
        self.record_of = self._records()  # container start -> its record's start (small ones only)

    def size(self, a: int) -> int:
        return self.end[a] - a + 1

    def record(self, i: int) -> tuple[int, int]:
        """Return the lines (start, end inclusive) of the record holding line ``i``."""
        r = self.record_of.get(self.inner[i])
        return (i, i) if r is None else (r, self.end[r])

    def groups(self) -> list[int]:
        """Return, for each line, its record's start, or the line itself when it is in no record."""
        return list(map(self.record_of.get, self.inner, range(len(self.inner))))

    def _records(self) -> dict[int, int]:
        """Map each container of at most ``RECORD_MAX`` lines to its record's start.

        A record is the array element holding the container, or else the largest enclosing container
        still small enough; containers come in text order, so a parent is mapped before its children.
        """
        out: dict[int, int] = {}
        end = self.end
        for c, p in self.parent.items():
            if end[c] - c + 1 > RECORD_MAX:
                continue
            out[c] = c if c in self.element or p < 0 or end[p] - p + 1 > RECORD_MAX else out[p]
        return out


def _outliers(scan: Lines) -> list[int]:
    """Return lines holding a rare value of a low-cardinality key (``"yanked": true`` among falses)."""
    counts = collections.Counter(scan.pairs)  # (key, value) -> lines holding it, counted in C
    counts.update(itertools.chain.from_iterable(scan.inline.values()))
    short = [kv for kv in counts if len(kv[1]) <= 80]
    distinct = collections.Counter(map(_KEY, short))  # key -> how many short values it takes
    few = {k for k, d in distinct.items() if d <= OUTLIER_DISTINCT}
    values: dict[str, list[tuple[str, str]]] = {}
    for kv in itertools.compress(short, map(few.__contains__, map(_KEY, short))):
        values.setdefault(kv[0], []).append(kv)
    rare: set[tuple[str, str]] = set()
    for kvs in values.values():
        total = sum(map(counts.__getitem__, kvs))
        if total >= OUTLIER_MIN:
            rare.update(kv for kv in kvs if counts[kv] <= OUTLIER_SHARE * total)
    if not rare:
        return []
    found = list(itertools.compress(scan.kv_lines, map(rare.__contains__, scan.pairs)))
    found += [i for i, ps in scan.inline.items() if not rare.isdisjoint(ps)]
    return found


_KEY = operator.itemgetter(0)


def score_json(
    lines: Sequence[str], goal: str, offsets: list[int] | None = None
) -> tuple[list[float], list[Chunk]]:
    """Score each line of a pretty-printed JSON text; return the scores and the selection units.

    ``offsets``: each line's start in the joined text, then its end (computed when not given).
    """
    n = len(lines)
    text = "\n".join(lines)
    low = lowered(text)
    if offsets is None:
        offsets = list(itertools.accumulate(map((1).__add__, map(len, lines)), initial=0))
    scan = Lines(lines, text)
    tree = Tree(lines, text, offsets, scan)
    kvs = scan.kv
    # Every line of a container has the same record (unless the container is too big to be one).
    group_of = tree.groups()
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
        kv = kvs.get(i)
        if kv is not None and kv[0].lower() in NAME_KEYS:
            ts = {t: w * NAME_FACTOR for t, w in ts.items()}  # the record is named by the goal
        record = records.setdefault(tree.record(i), {})
        for t, w in ts.items():
            record[t] = max(record.get(t, 0.0), w)
    lifted: list[tuple[float, int, int]] = []  # (value, first line, last line) of each lifted record
    for (a, b), ts in records.items():
        lifted.append((LIFT * sum(ts.values()) * (1.0 + COORD * (len(ts) - 1)), a, b))
    # Errors and outliers: the rows a reader looks for first, whatever the goal says.
    candidates = keyword_lines(low, offsets, ERROR_WORDS + ("err",))  # one C-speed scan per word
    error_w = ERROR_W * (FAILURE_GOAL_W if asks_about_failure(goal) else 1.0)
    flagged = [
        (i, error_w)
        for i in sorted(candidates)
        if _is_error(kvs.get(i)) or any(map(_is_error, scan.inline.get(i, ())))
    ]
    # An outlier of a key the goal names ("yanked" for "which releases were yanked") is the answer.
    flagged += [(i, OUTLIER_W if i in matches else OUTLIER_W / 4) for i in _outliers(scan)]
    for i, w in flagged:
        a, b = tree.record(i)
        value = w * unit
        lifted.append((value, a, b))
        scores[i] += value
    # Each line gets the largest value of the records around it: written smallest first, the largest
    # is written last (whole slices, not a max per line of nested records).
    lifts = [0.0] * n
    for value, a, b in sorted(lifted, key=_KEY):
        if value > 0.0:
            lifts[a : b + 1] = [value] * (b + 1 - a)
    # Scores and lifts are sums of positive weights (never -0.0): adding 0.0 elsewhere changed nothing.
    scores = list(map(operator.add, scores, lifts))
    outline = OUTLINE_W * unit
    for i in tree.shallow:
        scores[i] += outline
    # What comes before the document (curl -i's response head, a warning): it says how the call went.
    if head := text.count("\n", 0, body_start(text)):
        scores[:head] = [max(scores)] * head
    if max(map(len, lines)) > LONG_LINE:
        for i in itertools.compress(range(n), map(LONG_LINE.__lt__, map(len, lines))):
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
