"""The top-up against the plain scan it replaced: the same lines kept, for any state and budget."""

from __future__ import annotations

import random

import pytest

from sidecar.pruning.engine.fit import top_up
from sidecar.pruning.engine.keepstate import KeepState


def _top_up_by_scan(state: KeepState, order: list[int], target: int) -> None:
    """The reference: every pruned line in order, added when it fits what is left."""
    for i in order:
        if state.keep[i]:
            continue
        left = target - state.total()
        if left <= 0:
            return
        if state.costs[i] + state.delta_runs(i) * state.mcost <= left:
            state.add(i)


@pytest.mark.parametrize("seed", range(150))
def test_top_up_matches_the_plain_scan(seed: int) -> None:
    rnd = random.Random(seed)
    n = rnd.randint(1, 300)
    # Short lines and dear markers (single-line gaps pay for themselves), or the reverse.
    costs = [rnd.randint(1, rnd.choice([8, 40, 120])) for _ in range(n)]
    vals = [rnd.choice([0.0, 1.0, rnd.random()]) for _ in range(n)]  # ties: line order decides
    order = sorted(range(n), key=vals.__getitem__, reverse=True)
    mcost = rnd.choice([0, 20, 67])
    states = [KeepState(n, costs, mcost) for _ in range(2)]
    density = rnd.choice([0.1, 0.5, 0.9])
    for i in range(n):
        if rnd.random() < density:
            for st in states:
                st.add(i)
    target = states[0].total() + rnd.choice([-50, 0, 3, 30, 100, 1000, 10_000])
    top_up(states[0], order, target, vals)
    _top_up_by_scan(states[1], order, target)
    assert states[0].keep == states[1].keep
    assert (states[0].size, states[0].runs) == (states[1].size, states[1].runs)


@pytest.mark.parametrize("seed", range(200))
def test_kept_size_is_the_rendered_size(seed: int) -> None:
    from sidecar.pruning.engine.fit import kept_size
    from sidecar.pruning.render import marker_cost, rendered_size
    from sidecar.pruning.types import PruneOptions, PruneRequest

    rnd = random.Random(seed)
    lines = [
        rnd.choice(["", "x", "abc\r", "  def f():", "é" * rnd.randint(0, 9)])
        for _ in range(rnd.randint(1, 60))
    ]
    if rnd.random() < 0.5:
        lines.append("")  # a text ending in a newline
    opts = PruneOptions(annotate_lines=rnd.random() < 0.2, include_markers=rnd.random() < 0.8)
    req = PruneRequest(text="\n".join(lines), goal="g", source_type="code", prune_id="p" * 26, options=opts)
    costs = [
        len(line) + 1 + (len(str(i + 1)) + 1 if opts.annotate_lines else 0) for i, line in enumerate(lines)
    ]
    state = KeepState(len(lines), costs, marker_cost(req.prune_id, len(lines)) if opts.include_markers else 0)
    for i in range(len(lines)):
        if rnd.random() < 0.5:
            state.add(i)
    expected = rendered_size(
        lines,
        state.keep,
        req.prune_id,
        annotate_lines=opts.annotate_lines,
        include_markers=opts.include_markers,
    )
    assert kept_size(lines, state, req) == expected
    if opts.include_markers:  # a run counted dearer than its marker: each later marker counts more too
        state.mcost += 42
        assert kept_size(lines, state, req) == expected + 42 * max(state.runs - 1, 0)
