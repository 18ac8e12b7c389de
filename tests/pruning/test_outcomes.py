"""Outcomes: a decision rendered with its annotations and stats, a text kept whole, and the totals."""

from __future__ import annotations

from sidecar.pruning.outcomes import Totals, build_outcome, unpruned_outcome
from sidecar.pruning.types import Decision, PruneOptions, PruneRequest
from sidecar.tokens import estimate_tokens

PRUNE_ID = "a" * 26
LINES = [f"line {i}: some words that matter or not, padded to cost a few tokens" for i in range(40)]
TEXT = "\n".join(LINES)


def request(text: str = TEXT, **options: object) -> PruneRequest:
    opts = PruneOptions(**options)
    return PruneRequest(text=text, goal="g", source_type="logs", options=opts, prune_id=PRUNE_ID)


def decision(keep: list[bool], **fields: object) -> Decision:
    values: dict[str, object] = {
        "backend": "heuristic",
        "used_fallback": False,
        "deepinfra_selected": False,
        "deepinfra_called": False,
        "reranker_input_tokens": 0,
        "elapsed_ms": 1.23456,
        "warnings": [],
    }
    values.update(fields)
    return Decision(keep=keep, **values)


def test_a_pruned_run_becomes_one_marker_and_one_annotation() -> None:
    keep = [True] * 10 + [False] * 25 + [True] * 5
    outcome = build_outcome(TEXT, request(), decision(keep, warnings=["w"]), price_usd_per_mtok=0.0)
    (note,) = outcome.annotations
    assert (note.original_start_line, note.original_end_line, note.pruned_line_count) == (11, 35, 25)
    assert note.marker in outcome.pruned_text and PRUNE_ID in note.marker
    assert note.reason == "low relevance to the goal (heuristic)"
    s = outcome.stats
    assert (s.original_lines, s.kept_lines, s.pruned_lines, s.pruned_ratio) == (40, 15, 25, 0.625)
    assert s.tokens_est_before == estimate_tokens(TEXT)
    assert s.tokens_est_after == estimate_tokens(outcome.pruned_text) < s.tokens_est_before
    assert s.tokens_saved_est == s.tokens_est_before - s.tokens_est_after
    assert s.elapsed_ms == 1.235 and s.source_type == "logs" and outcome.warnings == ["w"]


def test_markers_dearer_than_the_lines_they_cut_give_the_original_back() -> None:
    text = "a\nb\nc"
    outcome = build_outcome(text, request(text), decision([True, False, True]), price_usd_per_mtok=0.0)
    assert outcome.pruned_text == text and outcome.annotations == []
    assert outcome.stats.kept_lines == 3 and outcome.stats.tokens_saved_est == 0


def test_reranker_tokens_are_priced_per_million() -> None:
    chosen = decision([True] * 40, reranker_input_tokens=2_000_000, deepinfra_selected=True)
    outcome = build_outcome(TEXT, request(), chosen, price_usd_per_mtok=0.01)
    assert outcome.stats.cost_estimated_usd == 0.02 and outcome.stats.deepinfra_selected


def test_an_unpruned_outcome_keeps_the_text_and_says_why() -> None:
    outcome = unpruned_outcome(TEXT, PRUNE_ID, None, "pruning_busy; text kept whole", backend="deepinfra")
    assert outcome.pruned_text == TEXT and outcome.annotations == []
    assert outcome.warnings == ["pruning_busy; text kept whole"]
    s = outcome.stats
    assert (s.backend, s.kept_lines, s.pruned_lines, s.tokens_saved_est) == ("deepinfra", 40, 0, 0)
    assert s.used_fallback and s.source_type == "code"
    assert unpruned_outcome(TEXT, PRUNE_ID, "json", "x", backend="heuristic").stats.source_type == "json"


def test_totals_count_hits_without_backend_work() -> None:
    totals = Totals()
    ran = build_outcome(
        TEXT,
        request(),
        decision([True] * 10 + [False] * 30, deepinfra_selected=True, used_fallback=True),
        price_usd_per_mtok=0.0,
    )
    totals.count(ran, hit=False)
    totals.count(ran, hit=True)
    assert (totals.calls, totals.hits, totals.misses) == (2, 1, 1)
    assert (totals.deepinfra, totals.fallbacks) == (1, 1)  # the hit ran nothing
    assert totals.before == 2 * ran.stats.tokens_est_before and totals.saved == 2 * ran.stats.tokens_saved_est
