#!/usr/bin/env python3
"""Pruning quality: gold-line recall at equal kept share, heuristic vs head+tail vs BM25.

usage: prune_quality.py [--cases FILE ...] [--keeps 0.5,0.3,0.2] [--cmd 'sidecar prune ...'] [--limit N]

Scores exactly as ``../shared/bench/prune_eval.py`` does (its ``recall``, its baselines, kept
share = printed characters / original characters, markers included), but calls the engine
in-process unless ``--cmd`` is given. Cases default to the dev set and every ``bench/data/*.jsonl``;
with more than one file, the last rows pool every case (all gold as a count).
Add a column by passing another backend factory to ``evaluate_backend`` (see ``COLUMNS``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from harness import load_eval

from sidecar.pruning.backends.base import Backend
from sidecar.pruning.backends.heuristic import HeuristicBackend
from sidecar.pruning.render import render
from sidecar.pruning.types import PruneOptions, PruneRequest

PRUNE_ID = "abcdefghijklmnopqrstuvwxyz"  # same length as the sidecar's ids (128 bits, base32: 26 chars)
Case = dict[str, object]
Pruner = Callable[[Case, "float | None"], str]


def backend_pruner(factory: Callable[[], Backend]) -> Pruner:
    """Make a pruner that runs ``factory()``'s backend in-process and renders like the CLI."""

    def run(case: Case, keep: float | None) -> str:
        text, goal = str(case["text"]), str(case["goal"])
        req = PruneRequest(
            text=text, goal=goal, source_type="code", prune_id=PRUNE_ID, options=PruneOptions(keep_ratio=keep)
        )

        async def once() -> str:
            backend = factory()
            try:
                sel = await backend.prune(req)
            finally:
                await backend.aclose()
            return render(
                text.split("\n"), sel.keep, PRUNE_ID, annotate_lines=False, include_markers=True
            ).text

        return asyncio.run(once())

    return run


def cmd_pruner(cmd: str) -> Pruner:
    """Make a pruner that shells out like prune_eval.py's --cmd."""

    def run(case: Case, keep: float | None) -> str:
        with (
            tempfile.NamedTemporaryFile("w", suffix=".txt") as g,
            tempfile.NamedTemporaryFile("w", suffix=".txt") as t,
        ):
            g.write(str(case["goal"]))
            g.flush()
            t.write(str(case["text"]))
            t.flush()
            line = cmd.format(goal=g.name, text=t.name, keep=keep)
            if keep is None:
                line = line.replace("--keep-ratio None", "")
            p = subprocess.run(line, shell=True, capture_output=True, text=True)
            return p.stdout if p.returncode == 0 else ""

    return run


def score(
    ev: ModuleType, cases: Sequence[Case], prune: Pruner, keep: float | None
) -> tuple[float, float, float]:
    """Return mean recall, full-recall share and mean kept share, as prune_eval.py computes them."""
    rs, full, ks = [], 0, []
    for c in cases:
        out = prune(c, keep)
        r = ev.recall(c, out)
        rs.append(r)
        full += r == 1.0
        ks.append(len(out) / max(len(str(c["text"])), 1))
    n = max(len(cases), 1)
    return sum(rs) / n, full / n, sum(ks) / n


def baseline(ev: ModuleType, name: str) -> Pruner:
    fn = getattr(ev, name)
    return lambda c, keep: str(fn(c["text"], c["goal"], keep))


COLUMNS: dict[str, Callable[[], Backend]] = {"heuristic": HeuristicBackend}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="*")
    ap.add_argument("--keeps", default="0.5,0.3,0.2")
    ap.add_argument("--cmd", help="shell out to this command instead of running in-process")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--only", help="comma-separated selectors to run (heuristic,headtail,bm25)")
    a = ap.parse_args()
    ev = load_eval()
    files = a.cases or [
        str(Path(ev.__file__).parent / "prune_cases_dev.jsonl"),
        *sorted(str(p) for p in (REPO / "bench" / "data").glob("*.jsonl")),
    ]
    keeps = [float(k) for k in a.keeps.split(",")]
    selectors: dict[str, Pruner] = {"head+tail": baseline(ev, "headtail"), "bm25": baseline(ev, "bm25")}
    for name, factory in COLUMNS.items():
        selectors[name] = cmd_pruner(a.cmd) if a.cmd else backend_pruner(factory)
    if a.only:
        wanted = set(a.only.split(","))
        selectors = {k: v for k, v in selectors.items() if k in wanted}
    print(f"{'cases':<34} {'selector':<10} {'keep':>5} {'recall':>7} {'full':>6} {'kept':>6}")
    # Over every file: (cases, recall sum, all-gold count, kept sum) per (selector, keep).
    pooled: dict[tuple[str, float | None], list[float]] = {}

    def pool(name: str, keep: float | None, n: int, r: float, full: float, k: float) -> None:
        sums = pooled.setdefault((name, keep), [0, 0.0, 0.0, 0.0])
        for j, v in enumerate((n, r * n, full * n, k * n)):
            sums[j] += v

    for f in files:
        cases: list[Case] = [json.loads(line) for line in open(f)]
        if a.limit:
            cases = cases[: a.limit]
        label = f"{Path(f).stem} ({len(cases)})"
        for keep in keeps:
            for name, prune in selectors.items():
                r, full, k = score(ev, cases, prune, keep)
                pool(name, keep, len(cases), r, full, k)
                print(f"{label:<34} {name:<10} {keep:>5.2f} {r:>7.3f} {full:>6.3f} {k:>6.3f}")
        for name, prune in selectors.items():
            if name in ("head+tail", "bm25"):
                continue
            r, full, k = score(ev, cases, prune, None)
            pool(name, None, len(cases), r, full, k)
            print(f"{label:<34} {name:<10} {'dflt':>5} {r:>7.3f} {full:>6.3f} {k:>6.3f}")
        sys.stdout.flush()
    if len(files) > 1:  # pooled: all gold as a count of cases, recall and kept share over every case
        for (name, keep), (n, r, full, k) in pooled.items():
            shown = "dflt" if keep is None else f"{keep:.2f}"
            label = f"all ({int(n)}): {int(round(full))} all gold"
            print(f"{label:<34} {name:<10} {shown:>5} {r / n:>7.3f} {full / n:>6.3f} {k / n:>6.3f}")


if __name__ == "__main__":
    main()
