"""Budgeted line selection shared by every backend.

Given one relevance score per line (any real numbers, higher means keep), choose the lines
to keep so that the rendered output fits the budget:

- with ``keep_ratio``: the rendered text (kept lines plus marker lines) lands at or just
  under ``keep_ratio`` of the original's estimated tokens;
- without it: the pruner keeps what clearly scores above the rest, never pruning more than
  ``max_prune_ratio`` of the lines.

Both honour ``min_keep_lines`` and keep order. Greedy by score, with the marker cost of
each pruned run counted as it opens or closes, then gaps that cost more as a marker than
as text are filled, and the result is trimmed against the exact rendered size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .backends.base import PruneRequest
from .render import marker_cost, render
from .tokens import CHARS_PER_TOKEN, estimate_tokens

# Without a keep ratio, keep lines scoring at least this share of the way from the typical line
# to the best one, and at least DEFAULT_MIN_SHARE of the text.
DEFAULT_THRESHOLD = 0.35
DEFAULT_MIN_SHARE = 0.25
DEFAULT_MAX_SHARE = 0.7


def _finite(scores: Sequence[float]) -> list[float]:
    return [s if math.isfinite(s) else (1e9 if s > 0 else -1e9) for s in scores]


class _State:
    """Kept flags, the kept size and the count of pruned runs, updated in O(1) per line."""

    def __init__(self, n: int, costs: list[int], mcost: int) -> None:
        self.n = n
        self.keep = [False] * n
        self.costs = costs
        self.mcost = mcost
        self.size = 0
        self.runs = 1 if n else 0

    def total(self) -> int:
        return self.size + self.runs * self.mcost

    def delta_runs(self, i: int) -> int:
        left = i == 0 or self.keep[i - 1]
        right = i == self.n - 1 or self.keep[i + 1]
        if left and right:
            return -1
        if left or right:
            return 0
        return 1

    def add(self, i: int) -> None:
        if not self.keep[i]:
            self.runs += self.delta_runs(i)
            self.keep[i] = True
            self.size += self.costs[i]

    def remove(self, i: int) -> None:
        if self.keep[i]:
            self.keep[i] = False
            self.size -= self.costs[i]
            self.runs -= self.delta_runs(i)


def _fill_small_gaps(state: _State) -> None:
    """Keep every pruned run whose text costs no more than the marker that would replace it."""
    keep, n = state.keep, state.n
    i = 0
    while i < n:
        if keep[i]:
            i += 1
            continue
        j = i
        size = 0
        while j < n and not keep[j]:
            size += state.costs[j]
            j += 1
        if size <= state.mcost:
            for k in range(i, j):
                state.add(k)
        i = j


def _target_chars(lines: Sequence[str], request: PruneRequest) -> int:
    ratio = request.options.keep_ratio
    assert ratio is not None
    before = estimate_tokens(request.text)
    return int(max(0.0, ratio) * before * CHARS_PER_TOKEN)


def _default_share(scores: list[float]) -> float:
    """Pick how much to keep when the caller set no ratio: what stands clearly above the rest."""
    ordered = sorted(scores)
    n = len(ordered)
    top = ordered[max(0, n - 1 - n // 50)]  # ignore the very top 2% so one outlier cannot set the scale
    mid = ordered[n // 2]
    if top <= mid:
        return 1.0
    cut = mid + DEFAULT_THRESHOLD * (top - mid)
    above = sum(1 for s in scores if s >= cut) / n
    return min(DEFAULT_MAX_SHARE, max(DEFAULT_MIN_SHARE, above * 1.2))


def select_lines(lines: Sequence[str], scores: Sequence[float], request: PruneRequest) -> list[bool]:
    """Choose the lines to keep for ``request``'s budget, given one score per line."""
    n = len(lines)
    if len(scores) != n:
        raise ValueError("one score per line is required")
    opts = request.options
    if n <= max(opts.min_keep_lines, 1):
        return [True] * n
    vals = _finite(scores)
    costs = [len(line) + 1 for line in lines]
    total_chars = sum(costs) - 1
    mcost = marker_cost(request.prune_id, n) if opts.include_markers else 0
    if opts.keep_ratio is not None:
        target = _target_chars(lines, request)
        if target >= total_chars:
            return [True] * n
    else:
        share = _default_share(vals)
        if share >= 1.0:
            return [True] * n
        target = int(share * total_chars)
    # Never prune more than max_prune_ratio of the lines, nor keep fewer than min_keep_lines.
    floor_lines = max(opts.min_keep_lines, math.ceil((1.0 - opts.max_prune_ratio) * n - 1e-9))
    if opts.keep_ratio is not None:
        floor_lines = min(floor_lines, opts.min_keep_lines) if opts.keep_ratio < 1 else n

    order = sorted(range(n), key=lambda i: (-vals[i], i))
    state = _State(n, costs, mcost)
    if lines[-1] == "":
        state.add(n - 1)  # the trailing newline is always rendered
    for i in order:
        if state.keep[i]:
            continue
        extra = costs[i] + state.delta_runs(i) * mcost
        if state.total() + extra > target and state.size > 0:
            continue
        state.add(i)
    _fill_small_gaps(state)
    # Trim the lowest-scoring kept lines while the exact rendered size is over the target.
    for _ in range(4):
        rendered = _rendered_chars(lines, state.keep, request)
        if rendered <= target:
            break
        for i in reversed(order):
            if rendered <= target:
                break
            if not state.keep[i] or (i == n - 1 and lines[i] == ""):
                continue
            before = state.total()
            state.remove(i)
            rendered -= before - state.total()
    kept = sum(state.keep)
    if kept < floor_lines:
        for i in order:
            if kept >= floor_lines:
                break
            if not state.keep[i]:
                state.add(i)
                kept += 1
    return state.keep


def _rendered_chars(lines: Sequence[str], keep: list[bool], request: PruneRequest) -> int:
    opts = request.options
    out = render(lines, keep, request.prune_id, annotate_lines=opts.annotate_lines,
                 include_markers=opts.include_markers)
    return len(out.text)
