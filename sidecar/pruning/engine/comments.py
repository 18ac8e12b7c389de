"""In code, comments give their characters to code lines once the units are chosen.

The selection keeps whole units (a function, a block of statements), so the comments inside kept code
come along with it, and the top-up that spends the rest of the budget takes any line that fits,
comments included: 13% of the kept lines' characters in pruned code were comments. The lines an
agent's edit touches are code lines: an edit quotes the code it changes, and one gold line of the
benchmarks' ~3,500 is a comment (``make_prune_cases.py`` counts a comment edit as trivial). Comments still
help find that code: their goal matches spread to the lines around them before selection.

So, for code, a comment line that does not stand out (scores below the default policy's cut) is:
- pruned, with the rest of its block, when the block of kept comment lines it belongs to costs at
  least ``MIN_MARKERS`` of the marker that replaces it;
- never picked by the top-up (the order returned). A comment the goal names scores above the cut
  and is treated as any other line.

Measured (``bench/prune_quality.py``, 931 held-out cases; with the heuristic's comment factor lowered
from 0.6 to 0.1 in the same change): all gold kept at the default policy 708 -> 742, recall at keep
0.5 / 0.3 / 0.2 0.856 / 0.764 / 0.676 -> 0.877 / 0.783 / 0.701, at the same kept share; on a fresh set
scored once before and after (extra9, 46 cases) all gold 0.826 -> 0.848.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence

from sidecar.pruning.engine.chunking import comment_lines
from sidecar.pruning.engine.keepstate import KeepState

__all__ = ["MIN_MARKERS", "cut_comments"]

MIN_MARKERS = 2  # a kept block is cut when its text costs at least this many of its marker


def cut_comments(
    lines: Sequence[str],
    state: KeepState,
    vals: Sequence[float],
    level: float,
    protected: frozenset[int],
    order: list[int],
    comments: Sequence[bool] | None = None,
) -> list[int]:
    """Prune the kept comment blocks below ``level``; return ``order`` without the comments below it.

    A block is a run of consecutive kept comment lines (the blank lines around it stay: one character
    each). Lines in ``protected`` (orientation) are never cut. ``comments`` flags the comment lines
    when the caller has them (the heuristic does); they are found here otherwise.
    """
    if comments is None:
        comments = comment_lines(list(map(str.lstrip, lines)))
    found = list(itertools.compress(range(len(lines)), comments))  # few lines: the scores of these only
    low = set(itertools.compress(found, map(level.__gt__, map(vals.__getitem__, found))))
    if not low:
        return order
    keep, costs = state.keep, state.costs
    cuttable = sorted(i for i in low if keep[i] and i not in protected)
    minimum = MIN_MARKERS * state.mcost
    for _, group in itertools.groupby(enumerate(cuttable), key=lambda pair: pair[1] - pair[0]):
        block = list(map(operator.itemgetter(1), group))
        if sum(map(costs.__getitem__, block)) >= minimum:
            for i in block:
                state.remove(i)
    return list(itertools.filterfalse(low.__contains__, order))
