"""Fitting a selection to its budget line by line, once whole units are chosen (``selection``).

``trim`` drops the lowest-scoring kept lines while the exact rendered size is over the budget;
``top_up`` spends what is left on the best lines that still fit. Both count the marker a pruned run
costs, through ``KeepState``.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import operator
import re
from collections.abc import Iterator, Sequence

from sidecar.pruning.engine.keepstate import KeepState, kept_runs
from sidecar.pruning.render import marker_cost, marker_line, rendered_size
from sidecar.pruning.types import PruneRequest


def pruned_in(order: list[int], keep: list[bool]) -> Iterator[int]:
    """Yield the lines of ``order`` not kept, read lazily (C-speed filtering)."""
    return itertools.compress(order, map(operator.not_, map(keep.__getitem__, order)))


def top_up(state: KeepState, order: list[int], target: int, vals: list[float]) -> None:
    """Spend what is left of the budget on the best lines that fit, in ``order`` (best first).

    A line costs at least its own size less one marker (when it joins two kept runs), so the lines
    over ``left + mcost`` are skipped at C speed; that bound is renewed when ``left`` halves or grows.
    Once less than a marker is left, only a line next to a kept one can fit: ``_top_up_edges``.
    """
    keep, costs, mcost, last = state.keep, state.costs, state.mcost, state.n - 1
    left = target - state.total()
    pruned = list(pruned_in(order, keep))
    size, runs = state.size, state.runs
    pos, end = 0, len(pruned)
    edges: set[int] | None = None  # the lines next to a kept one, once _top_up_edges needed them
    added: list[int] = []  # lines the scan kept since (their neighbours join ``edges``)
    while pos < end and left > 0:  # every line costs at least its newline
        if left < mcost:
            state.size, state.runs = size, runs
            edges = _edges(keep, last) if edges is None else _grown(edges, added)
            added.clear()
            pos, left = _top_up_edges(state, vals, pruned, pos, left, edges)
            size, runs = state.size, state.runs
            continue
        limit = left + mcost
        ahead = range(pos, end)
        fits = map(limit.__ge__, map(costs.__getitem__, map(pruned.__getitem__, ahead)))
        pos = end
        for p in itertools.compress(ahead, fits):
            i = pruned[p]
            before = i == 0 or keep[i - 1]
            after = i == last or keep[i + 1]
            delta = -1 if before and after else 0 if before or after else 1  # KeepState.delta_runs(i)
            cost = costs[i] + delta * mcost
            if cost <= left:
                keep[i] = True
                added.append(i)
                size += costs[i]
                runs += delta
                left -= cost
                if left < mcost or left + mcost > limit or 2 * (left + mcost) < limit:
                    pos = p + 1  # renew the bound
                    break
    state.size, state.runs = size, runs


def _edges(keep: list[bool], last: int) -> set[int]:
    """Return the lines next to a kept run (some kept themselves, filtered by the caller) and both ends."""
    edges = {0, last}
    for s, e in kept_runs(keep):
        edges.update((s - 1, e))
    return edges


def _grown(edges: set[int], added: list[int]) -> set[int]:
    """Add the neighbours of the lines kept since ``edges`` was made (kept lines are never dropped here)."""
    for i in added:
        edges.update((i - 1, i + 1))
    return edges


def _top_up_edges(
    state: KeepState, vals: list[float], pruned: list[int], pos: int, left: int, edges: set[int]
) -> tuple[int, int]:
    """Go on with the top-up from ``pruned[pos]`` while less than a marker is left; return (pos, left).

    A line with no kept neighbour would open a marker it cannot pay for, so only the lines next to a
    kept run (or at an end of the text) are candidates, taken in the same order (score, then line)
    from a heap: adding one makes its neighbours candidates. When ``left`` grows back to a marker
    (joining two runs saves one), the scan resumes after the last line taken.
    """
    keep, costs, mcost, last = state.keep, state.costs, state.mcost, state.n - 1
    first = (-vals[pruned[pos]], pruned[pos])  # where ``order`` stands: earlier lines were passed
    heap = [k for i in edges if 0 <= i <= last and not keep[i] and (k := (-vals[i], i)) >= first]
    heapq.heapify(heap)
    queued = {i for _, i in heap}
    while heap:
        rank = heapq.heappop(heap)
        i = rank[1]
        before = i == 0 or keep[i - 1]
        after = i == last or keep[i + 1]
        delta = -1 if before and after else 0 if before or after else 1  # KeepState.delta_runs(i)
        cost = costs[i] + delta * mcost
        if cost > left:
            continue  # passed, as the scan in order would pass it
        keep[i] = True
        edges.update((i - 1, i + 1))
        state.size += costs[i]
        state.runs += delta
        left -= cost
        if left <= 0:
            break
        for j in (i - 1, i + 1):
            if 0 <= j <= last and not keep[j] and j not in queued and (k := (-vals[j], j)) > rank:
                heapq.heappush(heap, k)
                queued.add(j)
        if left >= mcost:
            return bisect.bisect_right(pruned, rank, lo=pos, key=lambda j: (-vals[j], j)), left
    return len(pruned), left


def trim(
    lines: Sequence[str],
    state: KeepState,
    order: list[int],
    target: int,
    request: PruneRequest,
    protected: frozenset[int] = frozenset(),
) -> None:
    """Drop the lowest-scoring kept lines while the exact rendered size is over the target.

    Edges of kept runs go first (dropping an inner line would open a marker); orientation lines
    go only when nothing else is left to drop.
    """
    n = state.n
    for _ in range(4):
        rendered = kept_size(lines, state, request)
        if rendered <= target:
            return
        for spare, edge_only in ((protected, True), (protected, False), (frozenset(), False)):
            for i in reversed(order):
                if rendered <= target:
                    break
                if not state.keep[i] or i in spare or (i == n - 1 and lines[i] == ""):
                    continue
                if edge_only and state.delta_runs(i) == -1:
                    continue
                before = state.total()
                state.remove(i)
                rendered -= before - state.total()


def kept_size(lines: Sequence[str], state: KeepState, request: PruneRequest) -> int:
    """Return ``render.rendered_size`` of the kept lines, their length taken from ``state.size``.

    Each kept line costs its length and a newline there (line numbers aside, which ``rendered_size``
    counts itself), so only the markers are counted here. While the state counts a run dearer than
    a later marker really costs (``selection.RUN_WEIGHT_EXTRA``), each later marker counts that much
    more here too.
    """
    opts = request.options
    extra = 0
    if opts.include_markers:
        extra = (state.mcost - marker_cost(request.prune_id, state.n)) * max(state.runs - 1, 0)
    if opts.annotate_lines:
        return extra + rendered_size(
            lines, state.keep, request.prune_id, annotate_lines=True, include_markers=opts.include_markers
        )
    keep, n = state.keep, state.n
    if n == 0:
        return 0
    total = state.size - keep.count(True)  # the kept lines' characters, without their newlines
    flags = bytearray(keep)
    if n > 1 and lines[-1] == "":
        flags[-1] = 1  # the trailing newline is always rendered
    pieces = flags.count(1)
    if opts.include_markers:
        for k, m in enumerate(_PRUNED_RUN.finditer(flags)):
            start, end = m.span()
            total += len(marker_line(request.prune_id, start + 1, end, first=not k))
            total += 1 if lines[end - 1].endswith("\r") else 0
            pieces += 1
    return extra + total + max(0, pieces - 1)


_PRUNED_RUN = re.compile(rb"\x00+")
