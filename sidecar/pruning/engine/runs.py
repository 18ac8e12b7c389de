"""Long homogeneous runs in code: tables, enum or match arms, lists of entries, registrations.

A run is ``RUN_MIN`` or more consecutive entry lines of one shape (same indentation, same kind of
first character, same last character among ``,;)]}``: ``'json': ['json', 'map'],`` line after
line; imports and comments are not entries). Scored as plain code, a run is
all alike: its units weigh the same, and the one entry the goal is about is cut with the rest when
its unit's mean is diluted by its neighbours. ``lift_runs`` fixes that, in place:

- an entry the goal names (one of a few lines of the run matching goal terms) is lifted to at least
  ``HIT_W`` of the best score, and its neighbours (one line each side) to ``NEIGHBOUR_W``: what it
  sits between is its context; when the goal's words match much of the run, nothing is lifted;
- in a **sorted** run (its first words in order) that the goal names no entry of, a goal word
  lifts the two entries where it would be inserted: a task adding ``avif`` to a table of image
  types needs the lines around ``avi``/``bmp``, which the goal never names.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Sequence

from sidecar.pruning.engine.chunking import COMMENT_PREFIXES, IMPORT_PREFIXES

RUN_MIN = 10
ENTRY_ENDS = ",;)]}"
HIT_W = 0.6
NEIGHBOUR_W = 0.35
INSERT_W = 0.35
MAX_NAMED = 2  # a goal names an entry when it matches at most this many of the run's lines...
NAMED_SHARE = 0.1  # ...or this share of them
SORTED_SHARE = 0.9  # share of adjacent pairs in order for a run to count as sorted

_KEY = re.compile(r"[A-Za-z_][\w-]*")


def _shape(line: str) -> tuple[int, str, str] | None:
    """Return (indent, first, last character class) of an entry-like line, else None."""
    s = line.strip()
    # Entries end like items of a table, a list or a call sequence; imports and comments are no table.
    if not s or s[-1] not in ENTRY_ENDS or s.startswith(IMPORT_PREFIXES + COMMENT_PREFIXES):
        return None
    first = "a" if s[0].isalnum() or s[0] == "_" else s[0]
    return len(line) - len(line.lstrip(" \t")), first, s[-1]


def find_runs(lines: Sequence[str], stripped: Sequence[str] | None = None) -> list[tuple[int, int]]:
    """Return (start, end) of each run of ``RUN_MIN`` or more same-shape lines (end exclusive).

    Shapes are compared only inside stretches of ``RUN_MIN`` or more consecutive entry-like lines,
    found by C-level maps and one regex over their flags (most code has few such stretches).
    """
    out: list[tuple[int, int]] = []
    stripped = list(map(str.strip, lines)) if stripped is None else stripped
    ends = list(map(str.endswith, stripped, itertools.repeat(_ENDS)))
    flags = bytearray(ends)  # ends like an entry...
    ending = list(itertools.compress(range(len(ends)), ends))
    not_entries = map(str.startswith, map(stripped.__getitem__, ending), itertools.repeat(_NOT_ENTRIES))
    for i in itertools.compress(ending, not_entries):
        flags[i] = 0  # ...and is no import or comment
    for stretch in _STRETCH.finditer(flags):
        a, b = stretch.span()
        shapes = [_shape(lines[k]) for k in range(a, b)]
        i = 0
        while i < b - a:
            j = i + 1
            while j < b - a and shapes[j] == shapes[i]:
                j += 1
            if j - i >= RUN_MIN:
                out.append((a + i, a + j))
            i = j
    return out


_ENDS = tuple(ENTRY_ENDS)
_NOT_ENTRIES = IMPORT_PREFIXES + COMMENT_PREFIXES
_STRETCH = re.compile(b"\x01{%d,}" % RUN_MIN)


def lift_runs(
    lines: Sequence[str],
    scores: list[float],
    hits: dict[int, dict[str, float]],
    words: Sequence[str],
    *,
    stripped: Sequence[str] | None = None,
) -> None:
    """Lift goal-matching entries of runs, their neighbours, and where goal words would be inserted.

    ``hits`` maps lines to the goal terms matching there; ``words`` are the goal's plain words
    (lowercased), candidates for insertion into sorted runs.
    """
    runs = find_runs(lines, stripped)
    if not runs:
        return
    unit = max(max(scores), 1.0)
    for a, b in runs:
        named = [i for i in range(a, b) if i in hits]
        if len(named) > max(MAX_NAMED, NAMED_SHARE * (b - a)):
            continue  # the goal's words run through the whole table: it names no entry in particular
        for i in named:
            scores[i] = max(scores[i], HIT_W * unit)
            for k in (i - 1, i + 1):
                if a <= k < b:
                    scores[k] = max(scores[k], NEIGHBOUR_W * unit)
        if named:
            continue
        keys = [m.group(0).lower() if (m := _KEY.search(lines[i])) else "" for i in range(a, b)]
        in_order = sum(x <= y for x, y in zip(keys, keys[1:], strict=False))
        if in_order < SORTED_SHARE * (len(keys) - 1):
            continue
        present = set(keys)
        for w in words:
            if w in present or any(w in k for k in keys):
                continue
            at = bisect.bisect_left(keys, w)
            if 0 < at < len(keys):  # only between two entries: before the first or after the last is a guess
                for k in (a + at - 1, a + at):
                    scores[k] = max(scores[k], INSERT_W * unit)
