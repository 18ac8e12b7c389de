#!/usr/bin/env python3
"""Why code cases miss gold lines at the default policy: a breakdown, per case set.

For every case where the heuristic (default policy, rendered like the CLI) drops at least one gold
line, the missed lines are put in one class:

- ``edge``: every missed line is within EDGE lines of a kept line (a hunk cut at a kept run's edge);
- ``named``: the goal's words occur in the definition enclosing a missed line (the function or
  class around it, by indentation; a window of WINDOW lines either side for top-level code), so a
  scorer of the goal's words could find it;
- ``unnamed``: neither: nothing near the missed lines says what the goal says (a commit titled
  "small rearrangement", a CVE number alone). Only reading the code's meaning finds these.

Sets: the shared dev set, ``bench/data/*_cases*.jsonl`` and ``bench/data/heldout/*.jsonl`` (a fresh set
kept out of ``bench/data``'s top level so the benchmarks that glob it, agents.py and engine_digest.py,
pick the same inputs as before). The last column, ``bound``, is a rough ceiling for a selector that
ranks by the goal's words: the share of cases not ``unnamed``. usage: prune_misses.py [--cases FILE ...] [-v]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness import load_eval  # noqa: E402

from sidecar.pruning.backends.heuristic import HeuristicBackend  # noqa: E402
from sidecar.pruning.engine.chunking import definition_lines, lowered  # noqa: E402
from sidecar.pruning.engine.terms import goal_terms, match_lines  # noqa: E402
from sidecar.pruning.types import PruneOptions, PruneRequest  # noqa: E402

PRUNE_ID = "abcdefghijklmnopqrstuvwxyz"  # as prune_quality.py: the sidecar's id length
EDGE = 3
WINDOW = 10
MIN_TERM_WEIGHT = 0.5  # goal terms at least this weight count as the goal naming something


def keep_of(text: str, goal: str) -> list[bool]:
    """Return the heuristic's kept flags at the default policy (what the proxy uses)."""
    req = PruneRequest(text=text, goal=goal, source_type="code", prune_id=PRUNE_ID, options=PruneOptions())

    async def once() -> list[bool]:
        backend = HeuristicBackend()
        try:
            return list((await backend.prune(req)).keep)
        finally:
            await backend.aclose()

    return asyncio.run(once())


def indent(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip())


def enclosing(lines: Sequence[str], stripped: Sequence[str], defs: Sequence[bool], i: int) -> range:
    """Return the lines of the definition around line ``i`` (0-based), or a window for top-level code."""
    level = indent(lines[i])
    d = i
    while d >= 0 and not (defs[d] and (d == i or indent(lines[d]) < level)):
        d -= 1
    if d < 0 or (d == i and level == 0 and not defs[i]):
        return range(max(0, i - WINDOW), min(len(lines), i + WINDOW + 1))
    base, end = indent(lines[d]), d + 1
    while end < len(lines) and (not stripped[end] or indent(lines[end]) > base):
        end += 1
    return range(d, end)


def classify(case: dict[str, object], keep: list[bool]) -> str | None:
    """Return None when every gold line is kept, else the class of the miss (see the module doc)."""
    text, goal = str(case["text"]), str(case["goal"])
    lines = text.split("\n")
    gold = [int(g) - 1 for g in case["gold_lines"]]  # type: ignore[attr-defined]
    missed = [g for g in gold if not keep[g]]
    if not missed:
        return None
    kept = [i for i, k in enumerate(keep) if k]
    if all(min(abs(g - k) for k in kept) <= EDGE for g in missed):
        return "edge"
    offsets = list(itertools.accumulate(map((1).__add__, map(len, lines)), initial=0))
    low = lowered(text)
    named: set[int] = set()
    for literal, (weight, suffixes) in goal_terms(goal).items():
        if weight >= MIN_TERM_WEIGHT:
            named.update(match_lines(text, low, offsets, literal, suffixes))
    stripped = [line.strip() for line in lines]
    defs = definition_lines(stripped)
    if any(named.intersection(enclosing(lines, stripped, defs, g)) for g in missed):
        return "named"
    return "unnamed"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="*")
    ap.add_argument("-v", action="store_true", help="list each missed case")
    a = ap.parse_args()
    ev = load_eval()
    files = a.cases or [
        str(Path(ev.__file__).parent / "prune_cases_dev.jsonl"),
        *sorted(str(p) for p in (REPO / "bench" / "data").glob("*_cases*.jsonl")),
        *sorted(str(p) for p in (REPO / "bench" / "data" / "heldout").glob("*.jsonl")),
    ]
    print(f"{'cases':<26} {'n':>4} {'all gold':>9} {'edge':>5} {'named':>6} {'unnamed':>8} {'bound':>6}")
    total: Counter[str] = Counter()
    for f in files:
        cases = [json.loads(line) for line in open(f)]
        counts: Counter[str] = Counter()
        for c in cases:
            keep = keep_of(str(c["text"]), str(c["goal"]))
            cls = classify(c, keep)  # by line number; prune_quality.py's text match gives the same counts
            counts[cls or "all"] += 1
            if cls and a.v:
                print(f"  {cls:<8} {c['id'][:90]}  goal={str(c['goal'])[:60]!r}")
        n = len(cases)
        total.update(counts)
        total["n"] += n
        bound = (n - counts["unnamed"]) / max(n, 1)
        print(
            f"{Path(f).stem:<26} {n:>4} {counts['all'] / n:>9.3f} {counts['edge']:>5} {counts['named']:>6} "
            f"{counts['unnamed']:>8} {bound:>6.3f}"
        )
    n = total["n"]
    print(
        f"{'all':<26} {n:>4} {total['all'] / n:>9.3f} {total['edge']:>5} {total['named']:>6} "
        f"{total['unnamed']:>8} {(n - total['unnamed']) / n:>6.3f}"
    )


if __name__ == "__main__":
    main()
