from __future__ import annotations

import json
import math
import random
import time

import pytest

from sidecar.pruning.engine.selection import select_lines
from sidecar.pruning.render import marker_line, render
from sidecar.pruning.types import PruneOptions, PruneRequest
from sidecar.tokens import estimate_tokens
from tests.pruning.engine.samples import prune

PID = "0123456789abcdef0123456789abcdef"


def _text(n: int = 400, seed: int = 1) -> str:
    rnd = random.Random(seed)
    rows = [
        f"    value_{i} = compute({rnd.randint(0, 10**6)}, '{'x' * rnd.randint(0, 40)}')" for i in range(n)
    ]
    return "\n".join(rows)


def _req(text: str, **opts) -> PruneRequest:
    return PruneRequest(text=text, goal="g", source_type="code", prune_id=PID, options=PruneOptions(**opts))


def _rendered_ratio(text: str, keep: list[bool]) -> float:
    out = render(text.split("\n"), keep, PID, annotate_lines=False, include_markers=True).text
    return estimate_tokens(out) / estimate_tokens(text)


@pytest.mark.parametrize("ratio", [0.5, 0.3, 0.2, 0.1])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_keep_ratio_is_met_on_the_rendered_text(ratio: float, seed: int) -> None:
    text = _text(seed=seed)
    lines = text.split("\n")
    rnd = random.Random(seed)
    scores = [rnd.random() for _ in lines]  # a scattered score source: worst case for markers
    keep = select_lines(lines, scores, _req(text, keep_ratio=ratio))
    got = _rendered_ratio(text, keep)
    assert ratio - 0.05 <= got <= ratio + 1e-9


def test_high_scores_are_kept_first_in_one_block() -> None:
    text = _text()
    lines = text.split("\n")
    scores = [1.0 if 200 <= i < 240 else 0.0 for i in range(len(lines))]
    keep = select_lines(lines, scores, _req(text, keep_ratio=0.2))
    assert all(keep[200:240])


def test_any_score_source_works_even_nan_and_inf() -> None:
    text = _text(50)
    lines = text.split("\n")
    scores = [math.nan, math.inf, -math.inf, -5.0, 1e300] * 10
    keep = select_lines(lines, scores, _req(text, keep_ratio=0.5))
    assert len(keep) == len(lines)
    assert 0.45 <= _rendered_ratio(text, keep) <= 0.5
    ranked = select_lines(lines, [math.nan] * 25 + [math.inf] * 25, _req(text, keep_ratio=0.3))
    assert sum(ranked[25:]) >= 10 and sum(ranked[:25]) <= 2  # +inf ranks above NaN


@pytest.mark.parametrize("kind", ["code", "logs", "json"])
def test_scattered_picks_spend_what_the_short_markers_save_up_to_the_ratio(kind: str) -> None:
    # Runs count at the id-repeating marker's price while lines are chosen; held to a ratio, every
    # kind then spends the difference (many runs: many markers' worth), landing at the ratio.
    text = _text(400)
    lines = text.split("\n")
    rnd = random.Random(5)
    scores = [rnd.random() for _ in lines]
    req = PruneRequest(
        text=text, goal="g", source_type=kind, prune_id=PID, options=PruneOptions(keep_ratio=0.3)
    )
    assert 0.29 <= _rendered_ratio(text, select_lines(lines, scores, req)) <= 0.3


def test_tiny_gaps_are_filled_because_a_marker_costs_more() -> None:
    text = _text(100)
    lines = text.split("\n")
    scores = [0.0 if i % 3 == 0 else 1.0 for i in range(len(lines))]
    keep = select_lines(lines, scores, _req(text, keep_ratio=0.9))
    r = render(lines, keep, PID, annotate_lines=False, include_markers=True)
    # (The first marker's recovery hint is paid once, whichever run it lands on.)
    later = [len(marker_line(PID, b.start_line, b.end_line, first=False)) for b in r.blocks]
    assert all(
        b.count > 1 or len(lines[b.start_line - 1]) + 1 > m for b, m in zip(r.blocks, later, strict=True)
    )
    assert len(r.blocks) <= 20  # of the 34 zero-score lines, only what the budget needs is cut


def test_min_keep_lines_and_short_texts() -> None:
    text = "a\nb\nc"
    assert select_lines(text.split("\n"), [0.0, 0.0, 0.0], _req(text, keep_ratio=0.01)) == [True] * 3
    big = _text(200)
    keep = select_lines(big.split("\n"), [0.0] * 200, _req(big, keep_ratio=0.001, min_keep_lines=12))
    assert sum(keep) >= 12


def test_default_policy_respects_max_prune_ratio() -> None:
    text = _text(300)
    lines = text.split("\n")
    scores = [10.0 if i < 5 else 0.0 for i in range(len(lines))]
    keep = select_lines(lines, scores, _req(text, max_prune_ratio=0.5))
    assert sum(keep) >= 150
    keep = select_lines(lines, scores, _req(text, max_prune_ratio=0.95))
    assert sum(keep) < 300 * 0.8


def test_default_policy_keeps_everything_when_scores_are_flat() -> None:
    text = _text(100)
    keep = select_lines(text.split("\n"), [1.0] * 100, _req(text))
    assert all(keep)


def test_trailing_newline_survives() -> None:
    text = _text(100) + "\n"
    lines = text.split("\n")
    keep = select_lines(lines, [float(i % 7) for i in range(len(lines))], _req(text, keep_ratio=0.3))
    assert keep[-1]
    assert render(lines, keep, PID, annotate_lines=False, include_markers=True).text.endswith("\n")


def test_annotated_output_also_meets_the_ratio() -> None:
    text = _text(300)
    lines = text.split("\n")
    scores = [random.Random(5).random() for _ in lines]
    keep = select_lines(lines, scores, _req(text, keep_ratio=0.3, annotate_lines=True))
    out = render(lines, keep, PID, annotate_lines=True, include_markers=True).text
    assert estimate_tokens(out) <= 0.3 * estimate_tokens(text) + 1


def test_selection_is_deterministic() -> None:
    text = _text(500)
    lines = text.split("\n")
    scores = [float((i * 7919) % 101) for i in range(len(lines))]
    req = _req(text, keep_ratio=0.25)
    assert select_lines(lines, scores, req) == select_lines(lines, list(scores), req)


def test_score_count_must_match() -> None:
    with pytest.raises(ValueError):
        select_lines(["a", "b"], [1.0], _req("a\nb"))


def test_orientation_keeps_signature_first_line_and_log_errors() -> None:
    body = [f"        total += step_{i}(value)" for i in range(40)]
    code = ["import os", "", "class Ledger:", "    def settle(self, value):", *body, "        return total"]
    code += [f"def other_{i}():\n    return {i}\n" for i in range(40)]
    text = "\n".join(code)
    lines = text.split("\n")
    n = len(lines)
    scores = [5.0 if 20 <= i < 30 else i / n for i in range(n)]  # otherwise the tail is preferred
    keep = select_lines(lines, scores, _req(text, keep_ratio=0.5))
    assert keep[0] and keep[2] and keep[3]  # first line, class line, def line above the kept body

    log = [f"2024-01-01 10:00:{i % 60:02d} INFO tick {i}" for i in range(300)]
    log[77] = "2024-01-01 10:01:17 ERROR disk full"
    text = "\n".join(log)
    opts = PruneOptions(keep_ratio=0.5)
    logs_req = PruneRequest(text=text, goal="g", source_type="logs", prune_id=PID, options=opts)
    keep = select_lines(text.split("\n"), [i / 300 for i in range(300)], logs_req)  # blind to errors
    assert keep[77]


def test_gaps_cheaper_than_their_marker_are_filled() -> None:
    from sidecar.pruning.engine.keepstate import KeepState as _State
    from sidecar.pruning.engine.selection import _fill_small_gaps

    costs = [30, 5, 5, 30, 200, 30]
    state = _State(len(costs), costs, mcost=60)
    for i in (0, 3, 5):
        state.add(i)
    _fill_small_gaps(state)
    assert state.keep == [True, True, True, True, False, True]  # 10 chars < marker; 200 chars > marker
    assert state.total() == 30 + 10 + 30 + 30 + 60


def test_no_marker_is_spent_where_it_buys_nothing() -> None:
    from sidecar.pruning.engine.keepstate import KeepState as _State
    from sidecar.pruning.engine.selection import _tidy_markers

    event = "data: " + "x" * 40
    lines = [event, "", event, "", event, "", "[x]", "", "[y]", ""]
    state = _State(len(lines), [len(s) + 1 for s in lines], mcost=60)
    for i in (0, 3, 5, 6, 8, 9):
        state.add(i)
    _tidy_markers(lines, state, PID)
    # Line 3, a blank between two pruned runs, goes (one marker, not two); line 7, a blank shorter
    # than the marker that would hide it, is kept; the events stay cut; the trailing "" stays.
    assert state.keep == [True, False, False, False, False, True, True, True, True, True]


def test_sse_events_do_not_leave_blank_lines_between_markers() -> None:
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [{"delta": {"content": ""}}]}
    events = []
    for word in ("Here", " is", " the", " change", " you", " asked", " for", ".") * 4:
        chunk["choices"][0]["delta"]["content"] = word
        events.append(json.dumps(chunk, separators=(",", ":")))
    events.append('{"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":4,"total_tokens":66}}')
    text = "\n\n".join(f"data: {e}" for e in [*events, "[DONE]"]) + "\n"
    for keep in (None, 0.3):
        _, out = prune(text, "does the stream end with a usage chunk?", "code", keep)
        rows = out.split("\n")
        assert "data: [DONE]" in rows and any('"usage"' in r for r in rows)
        for before, row, after in zip(rows, rows[1:], rows[2:], strict=False):
            assert not (before.startswith("... [") and not row.strip() and after.startswith("... ["))


def test_consolidation_trades_a_weak_island_for_a_valuable_gap() -> None:
    from sidecar.pruning.engine.keepstate import KeepState as _State
    from sidecar.pruning.engine.selection import _consolidate

    n = 30
    costs = [40] * n
    vals = [0.0] * n
    for i in (0, 1, 4, 5):
        vals[i] = 10.0
    vals[2] = vals[3] = 6.0  # the gap between two kept runs is worth keeping
    vals[20] = 1.0  # a weak island far away
    state = _State(n, costs, mcost=50)
    for i in (0, 1, 4, 5, 20):
        state.add(i)
    target = state.total()  # the budget is spent: filling the gap must be paid for
    _consolidate(state, vals, target, frozenset())
    assert state.keep[:6] == [True] * 6 and not state.keep[20]
    assert state.total() <= target
    protected = _State(n, costs, mcost=50)
    for i in (0, 1, 4, 5, 20):
        protected.add(i)
    _consolidate(protected, vals, target, frozenset({20}))
    assert protected.keep[20] and not protected.keep[2]  # an orientation line is never traded away


@pytest.mark.parametrize("by_mass", [True, False])
def test_generous_budgets_rank_units_by_mass_per_character(by_mass: bool) -> None:
    from sidecar.pruning.engine.chunking import Chunk
    from sidecar.pruning.engine.keepstate import KeepState as _State
    from sidecar.pruning.engine.selection import _greedy_units

    # One long line scoring 10 against ten short lines scoring 5; the budget holds one of the two.
    lines = ["x" * 200] + ["y" * 20] * 10 + ["z" * 30] * 30
    vals = [10.0] + [5.0] * 10 + [0.0] * 30
    units = [Chunk(0, 1, "code"), Chunk(1, 11, "code"), *(Chunk(k, k + 1, "code") for k in range(11, 41))]
    state = _State(len(lines), [len(line) + 1 for line in lines], 40)
    _greedy_units(state, units, vals, 300, by_mass=by_mass)
    long_kept, short_kept = state.keep[0], all(state.keep[1:11])
    assert (long_kept, short_kept) == ((False, True) if by_mass else (True, False))
    if by_mass:
        assert not any(state.keep[11:])  # nothing above the median is left: that is the top-up's job


def _consolidate_by_full_passes(state, vals, target, protected) -> None:
    """The plain version: every round recomputes every gap and island (the reference)."""
    import heapq
    import itertools

    from sidecar.pruning.engine.keepstate import kept_runs as _runs
    from sidecar.pruning.engine.selection import (
        CONSOLIDATE_ROUNDS,
        CONSOLIDATE_TRIES,
        _holds,
        _islands_to_drop,
    )

    floor = sorted(vals)[len(vals) // 2]
    csum = list(itertools.accumulate(state.costs, initial=0))
    vsum = list(itertools.accumulate((v - floor if v > floor else 0.0 for v in vals), initial=0.0))
    marks, mcost = sorted(protected), state.mcost
    for _ in range(CONSOLIDATE_ROUNDS):
        runs = _runs(state.keep)
        if len(runs) < 2:
            return
        keyed = [
            (-(vsum[b] - vsum[a]) / max(csum[b] - csum[a] - mcost, 1), a, b)
            for (_, a), (b, _) in itertools.pairwise(runs)
        ]
        gaps = heapq.nsmallest(CONSOLIDATE_TRIES, keyed)
        islands = sorted(
            ((vsum[e] - vsum[s]) / (csum[e] - csum[s] + mcost), s, e)
            for s, e in runs
            if not (marks and _holds(marks, (s, e)))
        )
        for neg_ratio, a, b in gaps:
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


@pytest.mark.parametrize("seed", range(80))
def test_incremental_consolidation_matches_full_passes(seed: int) -> None:
    from sidecar.pruning.engine.keepstate import KeepState as _State
    from sidecar.pruning.engine.selection import _consolidate

    rnd = random.Random(seed)
    n = rnd.randint(20, 400)
    costs = [rnd.randint(1, 80) for _ in range(n)]
    vals = [rnd.random() * (5 if rnd.random() < 0.2 else 1) for _ in range(n)]
    vals[: rnd.randint(0, 30)] = [0.0] * 30  # cheap islands at the start: dropping the first run
    vals = vals[:n]
    mcost = rnd.choice([20, 60])
    states = [_State(n, costs, mcost) for _ in range(2)]
    keep = [rnd.random() < rnd.choice([0.2, 0.5, 0.8]) for _ in range(n)]
    protected = frozenset(i for i in range(n) if keep[i] and rnd.random() < 0.05)
    for st in states:
        for i in range(n):
            if keep[i]:
                st.add(i)
    target = states[0].total() + rnd.randint(-200, 400)
    _consolidate(states[0], vals, target, protected)
    _consolidate_by_full_passes(states[1], vals, target, protected)
    assert states[0].keep == states[1].keep


@pytest.mark.parametrize("seed", range(40))
def test_greedy_units_do_not_depend_on_the_order_units_come_in(seed: int) -> None:
    from sidecar.pruning.engine.chunking import Chunk
    from sidecar.pruning.engine.keepstate import KeepState as _State
    from sidecar.pruning.engine.selection import _greedy_units

    rnd = random.Random(seed)
    n = rnd.randint(5, 200)
    vals = [rnd.choice([0.0, 1.0, rnd.random()]) for _ in range(n)]  # ties between units
    costs = [rnd.randint(1, 60) for _ in range(n)]
    cuts = sorted(set(rnd.sample(range(1, n), rnd.randint(1, n - 1)) + [n]))
    units = [Chunk(a, b, "code") for a, b in zip([0, *cuts[:-1]], cuts, strict=True)]
    shuffled = rnd.sample(units, len(units))
    target = rnd.randint(0, sum(costs))
    for by_mass in (True, False):
        states = [_State(n, costs, 30) for _ in range(2)]
        _greedy_units(states[0], units, vals, target, by_mass=by_mass)
        _greedy_units(states[1], shuffled, vals, target, by_mass=by_mass)
        assert states[0].keep == states[1].keep


def test_the_line_that_matters_most_is_not_cut_for_being_longer_than_the_budget() -> None:
    head = (
        "HTTP/2 200 \r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: 99999\r\n"
        "date: Sun, 06 Dec 2026 01:59:09 GMT\r\nserver: nginx\r\nvary: Accept-Encoding\r\n"
        "cache-control: max-age=600\r\n\r\n"
    )
    page = "<html><body>" + "".join(f"<h2>Version 1.{k}.0</h2><p>Fixed bug {k}.</p>" for k in range(800))
    text = head + page + "</body></html>\n"  # curl -i of a minified page: one line is the page
    keep, out = prune(text, "what changed in version 1.437.0?", "docs")
    assert all(keep) and out == text
    blob = "2026-12-06 10:00:00 INFO upload chunk " + "QUJD" * 20_000  # a long line nobody asked about
    log = "\n".join(
        [f"2026-12-06 10:00:{k:02d} INFO step {k} ok" for k in range(40)] + [blob, "ERROR upload failed"]
    )
    keep, out = prune(log, "why did the upload fail?", "logs")
    assert not keep[40] and "ERROR upload failed" in out  # still cut: it is not what matters


def test_the_default_policy_tops_up_once_more_after_the_marker_pass() -> None:
    # A held-out case (glance's CVE-2024-32498 fix): after the last trim and the marker pass, what the
    # budget has left (the trim's leftover, the markers saved) tops the selection up once more; its last
    # missed gold line comes back.
    from pathlib import Path

    cases = Path(__file__).resolve().parents[3] / "bench" / "data" / "heldout" / "extra56_py_rest.jsonl"
    case = next(
        c
        for c in map(json.loads, cases.read_text().splitlines())
        if c["id"].endswith(
            "CVE-2024-32498_3_4_glance-stable-2023.1.patch:glance/async_/flows/plugins/image_conversion.py"
        )
    )
    _, out = prune(case["text"], case["goal"], "code")
    lines, kept = case["text"].split("\n"), out.split("\n")
    assert all(lines[g - 1] in kept for g in case["gold_lines"])
    assert len(out) < 0.65 * len(case["text"])


def test_the_scorer_reads_the_start_of_a_huge_goal() -> None:
    # A 1 MB goal (a log pasted as the goal): the first GOAL_MAX_CHARS are read, in well under a second.
    text = "\n".join(f"def handler_{k}(request):\n    return respond(request, {k})\n" for k in range(2000))
    goal = "handler_1234 " + " ".join(f"word{k}" for k in range(150_000)) + " handler_1567"
    started = time.perf_counter()
    _, out = prune(text, goal, "code", 0.1)
    assert time.perf_counter() - started < 2.0
    kept = out.split("\n")
    assert "def handler_1234(request):" in kept and "def handler_1567(request):" not in kept
