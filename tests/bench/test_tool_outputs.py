"""bench/tool_outputs.py: every stored case's gold lines exist, and a case is scored as the proxy would."""

from __future__ import annotations

import pytest

from tests.bench.scripts import BENCH, load

to = load("tool_outputs")


@pytest.mark.parametrize("where", ["", "heldout", "heldout2", "heldout3"])
def test_the_stored_cases_have_gold_lines_inside_their_text(where: str) -> None:
    # The default glob, then the three held-out surveys (outside it: scored with --cases).
    files = [str(p) for p in sorted((to.DATA / where).glob("*.jsonl.gz"))] if where else []
    cases = to.load_cases(files, None)
    assert len(cases) >= 20
    assert len({c["name"] for c in cases}) == len(cases)
    for case in cases:
        n = len(str(case["text"]).split("\n"))
        assert case["task"] and case["tool"], case["name"]
        assert case["gold_lines"] and all(1 <= g <= n for g in case["gold_lines"]), case["name"]
        assert len(case["gold_lines"]) <= max(10, n // 5), case["name"]  # a few lines that matter


def test_a_case_is_scored_at_the_default_policy_and_each_ratio_beside_bm25(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(BENCH))  # its imports at run time (harness, mixed_quality)
    from harness import load_eval

    try:
        ev = load_eval()
    except SystemExit:
        pytest.skip("the shared scorer (../shared/bench/prune_eval.py) is not beside this checkout")
    cases = to.load_cases([], {"pip show -f"})
    (row,) = to.score(cases, [0.3], ev, set(), False)
    assert row["kind"] == "logs → logs"
    assert 0.0 < float(row["share"]) < 0.5
    assert {"recall default", "bm25 default", "recall 0.3", "bm25 0.3"} <= row.keys()
    assert row["recall default"] == 1.0
