"""Budgeted line selection shared by every backend.

Given one relevance score per line (any real numbers, higher means keep), choose the lines
to keep so that the rendered output fits the budget:

- with ``keep_ratio``: the rendered text (kept lines plus marker lines) lands at or just
  under ``keep_ratio`` of the original's estimated tokens;
- without it: the pruner keeps what clearly scores above the rest plus some context (about
  half of a code file, little of a noisy log), never pruning more than ``max_prune_ratio``
  of the lines; when the best line alone is longer than that budget (a minified page after its
  response head), the text stays whole.

Both honour ``min_keep_lines`` and keep order. Steps, each counting the marker a pruned run
costs (a marker is dearer than one or two short lines); steps 1-4 count it dearer still
(``RUN_WEIGHT_EXTRA``: fewer, longer runs keep more of what matters than scattered lines), and
for code step 5 spends what that over-count left on the best lines at the real price:
1. whole structural units (``sidecar.pruning.engine.chunking``) while they fit: by mean score under tight
   budgets, by score mass above the median per character under generous ones;
2. orientation: definition lines above kept bodies, the first line, error lines in logs;
3. gaps that cost no more than their marker are filled;
4. consolidation: a gap between kept runs is filled when dropping low-value islands pays for
   it (fewer, longer runs: fewer markers, more context);
5. trim against the exact rendered size, then top up with the best lines that still fit
   (``sidecar.pruning.engine.fit``); in code, the comments that do not stand out are cut from
   the kept units first and never picked by the top-up (``sidecar.pruning.engine.comments``).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import operator
import re
from collections.abc import Sequence

from sidecar.pruning.engine.chunking import Chunk, chunk_lines
from sidecar.pruning.engine.comments import cut_comments
from sidecar.pruning.engine.fit import pruned_in, top_up, trim
from sidecar.pruning.engine.keepstate import KeepState, kept_runs
from sidecar.pruning.engine.orient import orient
from sidecar.pruning.render import first_marker_extra, marker_cost, marker_line
from sidecar.pruning.types import PruneRequest
from sidecar.tokens import CHARS_PER_TOKEN, estimate_tokens

# Without a keep ratio: keep what scores well above the typical line (at least DEFAULT_THRESHOLD of the
# way from the median to the best), plus a base share for reading context (large for code and docs,
# read around what is kept; small for logs and the structural kinds, whose kept lines stand alone).
DEFAULT_THRESHOLD = 0.35
# Structural kinds: a record, match or hunk the goal names can sit well below the single best line
# (a commit subject naming every goal word), so what stands above the rest starts lower.
KIND_THRESHOLD = {"json": 0.2, "search": 0.25, "diff": 0.2}
DEFAULT_BASE = {
    "code": 0.42, "docs": 0.42, "logs": 0.05, "json": 0.03, "search": 0.15, "diff": 0.05, "listing": 0.05,
}  # fmt: skip
DEFAULT_MIN_SHARE = {
    "code": 0.45, "docs": 0.45, "logs": 0.05, "json": 0.05, "search": 0.1, "diff": 0.08, "listing": 0.05,
}  # fmt: skip
DEFAULT_MAX_SHARE = 0.6
UNIT_TOKENS = 64  # selection unit size: whole units keep markers few
CONSOLIDATE_ROUNDS = 50
CONSOLIDATE_TRIES = 4  # gaps tried per round, best first
TRADE_FACTOR = 3.0  # a trade may lose at most this multiple of what it gains (contiguity is worth it)
# While lines are chosen (steps 1-4), a pruned run counts as if its marker still repeated the prune id
# (`` recover_text prune_id=ID`` in place of `` pruned``), as every marker did while this module's
# constants were measured: contiguity keeps its price. Code then spends what the real, shorter
# markers leave on the best lines (all gold kept at the default policy: 332 -> 344 of 451 held-out
# cases; counting runs at their real price from the start scattered the selection instead: recall at
# keep 0.2 0.675 there against 0.664). Logs, JSON, search results and diffs under the default policy
# keep exactly the lines they kept before and print less.
RUN_WEIGHT_EXTRA = len(" recover_text prune_id=") - len(" pruned")
SPEND_SAVED_KINDS = ("code", "docs")
MASS_MIN_RATIO = 0.25  # from here up, units rank by score mass above the median per character (measured)


def _finite(scores: Sequence[float]) -> list[float]:
    """Map NaN to the lowest finite score and infinities just past the finite range."""
    if math.isfinite(sum(scores)):
        return list(scores)  # the common case, told by one C-speed sum: a NaN or an infinity spoils it
    finite = [s for s in scores if math.isfinite(s)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
    return [s if math.isfinite(s) else (hi + 1.0 if s > 0 else lo - 1.0) for s in scores]


def _fill_small_gaps(state: KeepState) -> None:
    """Keep every pruned run whose text costs no more than the marker that would replace it."""
    for m in _PRUNED_RUN.finditer(bytes(state.keep)):
        if sum(state.costs[m.start() : m.end()]) <= state.mcost:
            for k in range(*m.span()):
                state.add(k)


def _tidy_markers(lines: Sequence[str], state: KeepState, prune_id: str) -> None:
    """Spend no marker where it buys nothing; the text only gets shorter and loses nothing.

    Trimming and topping up choose line by line, so a blank line may be left alone between two
    pruned runs (two markers around nothing: SSE's separators between pruned events), or left out
    between two kept lines (a marker dearer than the line it hides: an INI file's blank lines).
    Both are short: the byte scans find the candidates, Python reads only those.
    """
    for m in _SHORT_KEPT.finditer(bytes(state.keep)):
        start, end = m.span()
        if not any(map(str.strip, lines[start:end])):
            for k in range(start, end):
                state.remove(k)
    # A line costs at least its newline: a run longer than the longest marker costs more than its own.
    longest = marker_cost(prune_id, state.n) + len(str(state.n)) + 1  # "a-b" spans a second number
    for m in _PRUNED_RUN.finditer(bytes(state.keep)):  # one pattern: one built per call compiles per call
        start, end = m.span()
        if end - start > longest:
            continue
        if sum(state.costs[start:end]) <= len(marker_line(prune_id, start + 1, end, first=False)) + 1:
            for k in range(start, end):
                state.add(k)


def _default_share(scores: list[float], source_type: str, costs: list[int], ordered: list[float]) -> float:
    """Pick how much to keep when the caller set no ratio: what stands clearly above the rest.

    ``ordered`` is ``scores`` sorted.
    """
    n = len(ordered)
    top = ordered[-1]
    mid = ordered[n // 2]
    if top <= mid:
        return 1.0
    cut = _cut(ordered, source_type)
    above = (n - bisect.bisect_left(ordered, cut)) / n
    if source_type not in ("code", "docs"):
        # Logs, JSON, search results: what stands out may be longer than the rest (a failure's
        # message among "PASSED" lines), so the budget covers its characters too.
        heavy = sum(itertools.compress(costs, map(operator.ge, scores, itertools.repeat(cut))))
        above = max(above, heavy / max(sum(costs), 1))
    share = DEFAULT_BASE.get(source_type, 0.35) + above
    return min(DEFAULT_MAX_SHARE, max(DEFAULT_MIN_SHARE.get(source_type, 0.4), share))


def _cut(ordered: list[float], source_type: str) -> float:
    """Return the score from which a line stands clearly above the rest (``ordered``: the scores sorted)."""
    top, mid = ordered[-1], ordered[len(ordered) // 2]
    return mid + KIND_THRESHOLD.get(source_type, DEFAULT_THRESHOLD) * (top - mid)


def select_lines(
    lines: Sequence[str],
    scores: Sequence[float],
    request: PruneRequest,
    *,
    chunks: Sequence[Chunk] | None = None,
    offsets: list[int] | None = None,
    comments: Sequence[bool] | None = None,
) -> list[bool]:
    """Choose the lines to keep for ``request``'s budget, given one score per line.

    ``offsets`` (each line's start in the joined text, then its end), when the caller has them, are
    the running sums of the lines' costs; ``comments``, which lines of code are comments.
    """
    n = len(lines)
    if len(scores) != n:
        raise ValueError("one score per line is required")
    opts = request.options
    if n <= max(opts.min_keep_lines, 1):
        return [True] * n
    vals = _finite(scores)
    costs = list(map((1).__add__, map(len, lines)))
    if opts.annotate_lines:
        costs = [c + len(str(i + 1)) + 1 for i, c in enumerate(costs)]
    total_chars = sum(costs) - 1
    mcost = marker_cost(request.prune_id, n) if opts.include_markers else 0
    order = sorted(range(n), key=vals.__getitem__, reverse=True)  # stable: ties stay in text order
    ordered = list(map(vals.__getitem__, reversed(order)))  # the scores ascending, as sorted(vals)
    if opts.keep_ratio is not None:
        target = int(max(0.0, opts.keep_ratio) * estimate_tokens(request.text) * CHARS_PER_TOKEN)
        if target >= total_chars:
            return [True] * n
    else:
        share = _default_share(vals, request.source_type, costs, ordered)
        if share >= 1.0:
            return [True] * n
        target = int(share * total_chars)
        if costs[order[0]] > target:
            # The line that matters most is longer than the budget (a minified page after its
            # response head): lines leave nothing to choose among, and cutting it would leave nothing.
            return [True] * n
    # Never prune more than max_prune_ratio of the lines, nor keep fewer than min_keep_lines.
    floor_lines = max(opts.min_keep_lines, math.ceil((1.0 - opts.max_prune_ratio) * n - 1e-9))
    if opts.keep_ratio is not None:
        floor_lines = min(floor_lines, opts.min_keep_lines) if opts.keep_ratio < 1 else n

    exact = target
    # The first marker spells out recovery: what it costs beyond a run's count is budgeted once.
    first_extra = first_marker_extra(request.prune_id, n) if mcost else 0
    run_weight = mcost + len(request.prune_id) + RUN_WEIGHT_EXTRA if mcost else 0
    real_target = target - first_extra
    target -= max(0, mcost + first_extra - run_weight)
    state = KeepState(n, costs, run_weight)
    if lines[-1] == "":
        state.add(n - 1)  # the trailing newline is always rendered
    units = chunks if chunks is not None else chunk_lines(lines, request.source_type, UNIT_TOKENS)
    ratio = opts.keep_ratio
    sums = _Sums(vals, costs, ordered, None if opts.annotate_lines else offsets)
    _greedy_units(state, units, vals, target, by_mass=ratio is None or ratio >= MASS_MIN_RATIO, sums=sums)
    protected = orient(lines, state, request, target, vals)
    _fill_small_gaps(state)
    if mcost:
        _consolidate(state, vals, target, protected, sums=sums)
    if request.source_type in SPEND_SAVED_KINDS or ratio is not None:
        # From here on a run costs what its marker costs: code, and any kind held to a ratio the
        # caller chose, spend the difference on more lines; the other kinds' own choice prints less.
        state.mcost, target = mcost, real_target
    fill_order = order
    if request.source_type == "code" and mcost:
        level = _cut(ordered, "code")
        fill_order = cut_comments(lines, state, vals, level, protected, order, comments)
    trim(lines, state, order, exact, request, protected)
    top_up(state, fill_order, target if state.runs else exact, vals)
    trim(lines, state, order, exact, request, protected)
    if mcost:
        _tidy_markers(lines, state, request.prune_id)
        if ratio is None:
            top_up(state, fill_order, target if state.runs else exact, vals)
            trim(lines, state, order, exact, request, protected)
            _tidy_markers(lines, state, request.prune_id)
    keep = state.keep
    missing = floor_lines - keep.count(True)
    if missing > 0:
        # The best lines not kept yet, in score order, until the floor is met (the state is done with).
        for i in itertools.islice(pruned_in(order, keep), missing):
            keep[i] = True
    return keep


class _Sums:
    """Prefix sums over the lines that the greedy pass and consolidation share (computed once, lazily).

    ``csum``: costs; ``mass``: score above the median (0 below it); ``plain``: scores.
    """

    def __init__(
        self, vals: list[float], costs: list[int], ordered: list[float], csum: list[int] | None = None
    ) -> None:
        self.vals = vals
        self.costs = costs
        self.floor = ordered[len(ordered) // 2]
        self._csum = csum
        self._mass: list[float] | None = None

    @property
    def csum(self) -> list[int]:
        if self._csum is None:
            self._csum = list(itertools.accumulate(self.costs, initial=0))
        return self._csum

    @property
    def mass(self) -> list[float]:
        if self._mass is None:
            floor = self.floor
            above = (v - floor if v > floor else 0.0 for v in self.vals)
            self._mass = list(itertools.accumulate(above, initial=0.0))
        return self._mass


def _greedy_units(
    state: KeepState,
    units: Sequence[Chunk],
    vals: list[float],
    target: int,
    *,
    by_mass: bool,
    sums: _Sums | None = None,
) -> None:
    """Add whole structural units, best first, while they fit (whole units make few markers).

    Best is the highest mean score, or with ``by_mass`` the most score above the median per
    character (units with none are left to the line-level top-up).
    """
    keep, n, costs, mcost = state.keep, state.n, state.costs, state.mcost
    sums = sums or _Sums(vals, costs, sorted(vals))
    csum = sums.csum
    starts = list(map(_START, units))
    ends = list(map(_END, units))
    # Keys computed by C-level maps, the same float operations as -(vsum[e] - vsum[s]) / size.
    if by_mass:
        vsum = sums.mass
        size = map(max, map(operator.sub, map(csum.__getitem__, ends), map(csum.__getitem__, starts)), _ONES)
    else:
        vsum = list(itertools.accumulate(vals, initial=0.0))
        size = map(operator.sub, ends, starts)
    value = map(operator.sub, map(vsum.__getitem__, ends), map(vsum.__getitem__, starts))
    keys = list(map(operator.truediv, map(operator.neg, value), size))
    if all(map(operator.lt, starts, itertools.islice(starts, 1, None))):
        # Units in line order: their indices sorted by key alone tie by start, as (key, start, end) do.
        ranked = sorted(range(len(keys)), key=keys.__getitem__)
    else:
        triples = sorted(zip(keys, starts, ends, strict=True))
        keys, starts, ends = (
            [k for k, _, _ in triples],
            [a for _, a, _ in triples],
            [b for _, _, b in triples],
        )
        ranked = list(range(len(keys)))
    total, runs = state.size, state.runs
    for u in ranked:
        key, a, b = keys[u], starts[u], ends[u]
        if by_mass and key >= 0:
            break
        size_ab = csum[b] - csum[a]
        if b == n and keep[n - 1]:
            size_ab -= costs[n - 1]  # the trailing newline, already kept
        if not size_ab:
            continue
        left = a == 0 or keep[a - 1]
        right = b == n or keep[b]
        delta = -1 if left and right else 0 if left or right else 1  # KeepState.delta_runs(a, b)
        if total + size_ab + (runs + delta) * mcost > target:
            continue
        keep[a:b] = [True] * (b - a)
        total += size_ab
        runs += delta
    state.size, state.runs = total, runs


_START = operator.attrgetter("start")
_END = operator.attrgetter("end")
_ONES = itertools.repeat(1)
_PRUNED_RUN = re.compile(rb"\x00+")
_SHORT_KEPT = re.compile(rb"(?<=\x00)\x01{1,3}(?=\x00)")  # a few kept lines between two pruned runs


def _consolidate(
    state: KeepState,
    vals: list[float],
    target: int,
    protected: frozenset[int],
    *,
    sums: _Sums | None = None,
) -> None:
    """Trade low-value kept islands for the gaps between kept runs: each gap filled saves a marker.

    Gaps sit in a heap (stale ones dropped when met) and islands in a sorted list, both updated
    per trade, so a round costs O(log runs) plus list moves, not a pass over every run.
    """
    sums = sums or _Sums(vals, state.costs, sorted(vals))
    csum, vsum = sums.csum, sums.mass
    mcost = state.mcost
    marks = sorted(protected)

    def gap(a: int, b: int) -> tuple[float, int, int]:
        return -(vsum[b] - vsum[a]) / max(csum[b] - csum[a] - mcost, 1), a, b

    def island(s: int, e: int) -> tuple[float, int, int]:
        return (vsum[e] - vsum[s]) / (csum[e] - csum[s] + mcost), s, e

    runs = kept_runs(state.keep)
    starts = [s for s, _ in runs]
    end_of = dict(runs)
    gaps = [gap(a, b) for (_, a), (b, _) in itertools.pairwise(runs)]
    heapq.heapify(gaps)
    islands = sorted(island(s, e) for s, e in runs if not (marks and _holds(marks, (s, e))))
    for _ in range(CONSOLIDATE_ROUNDS):
        if len(starts) < 2:
            return
        tries: list[tuple[float, int, int]] = []
        while gaps and len(tries) < CONSOLIDATE_TRIES:
            g = heapq.heappop(gaps)
            k = bisect.bisect_left(starts, g[2])
            if 0 < k < len(starts) and starts[k] == g[2] and end_of[starts[k - 1]] == g[1]:
                tries.append(g)  # still a gap between two runs; stale ones are dropped for good
        for g in tries:
            heapq.heappush(gaps, g)
        for neg_ratio, a, b in tries:
            drop = _islands_to_drop(islands, a, b, -neg_ratio, csum, vsum, mcost, target - state.total())
            if drop is not None:
                break
        else:
            return
        for s, e in drop:
            for k in range(s, e):
                state.remove(k)
        for k in range(a, b):
            state.add(k)
        # The runs around the gap merge; each dropped island joins the gaps on its two sides.
        x = starts[bisect.bisect_left(starts, b) - 1]
        y = end_of[b]
        for s, e in sorted(drop) + [(x, a), (b, y)]:
            k = bisect.bisect_left(islands, island(s, e))
            if k < len(islands) and islands[k] == island(s, e):
                del islands[k]
        for s, _ in sorted(drop) + [(b, y)]:
            del starts[bisect.bisect_left(starts, s)]
            del end_of[s]
        end_of[x] = y
        if not (marks and _holds(marks, (x, y))):
            bisect.insort(islands, island(x, y))
        joined = {
            (starts[k - 1], starts[k])
            for k in (bisect.bisect_left(starts, s) for s, _ in drop)
            if 0 < k < len(starts)
        }
        for left, right in sorted(joined):
            heapq.heappush(gaps, gap(end_of[left], right))


def _holds(marks: list[int], run: tuple[int, int]) -> bool:
    """Tell whether the run start..end holds one of the sorted ``marks``."""
    k = bisect.bisect_left(marks, run[0])
    return k < len(marks) and marks[k] < run[1]


def _islands_to_drop(
    islands: list[tuple[float, int, int]],
    a: int,
    b: int,
    ratio: float,
    csum: list[int],
    vsum: list[float],
    mcost: int,
    freed: int,
) -> set[tuple[int, int]] | None:
    """Return the cheapest islands whose removal pays for filling gap a..b, or None if not worth it.

    ``islands`` are (value per char, start, end), cheapest first; the two runs around the gap stay.
    """
    cost = csum[b] - csum[a] - mcost
    drop: set[tuple[int, int]] = set()
    lost = 0.0
    for r, s, e in islands:
        if freed >= cost or r >= ratio:
            break
        if e == a or s == b:
            continue
        drop.add((s, e))
        freed += csum[e] - csum[s] + mcost
        lost += vsum[e] - vsum[s]
    # A trade may lose at most TRADE_FACTOR times what the gap holds.
    if freed < cost or lost >= TRADE_FACTOR * (vsum[b] - vsum[a]):
        return None
    return drop
