#!/usr/bin/env python3
"""Interleaved A/B of ``prune_speed.py``: an old checkout against this one, alternating runs.

usage: speed_ab.py --base DIR [--rounds 3] [--runs 11] [--keep R] [--kinds code,json]

Each round runs ``DIR/bench/prune_speed.py`` then this checkout's, each in its own process (so each
imports its own ``sidecar``); per row the table shows the median over rounds of each side's p50 wall
and CPU milliseconds. Alternating keeps a shared machine's slow spells from landing on one side only;
the CPU column is the fairer one. Make the old checkout with ``git worktree add --detach DIR REV``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
Row = tuple[str, str]  # (kind, size)


def run(checkout: Path, args: list[str]) -> dict[Row, tuple[float, float]]:
    """Run one checkout's prune_speed.py; return (p50 wall, cpu p50) per (kind, size)."""
    out = subprocess.run(
        [sys.executable, str(checkout / "bench" / "prune_speed.py"), *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows: dict[Row, tuple[float, float]] = {}
    for line in out.splitlines()[1:]:
        f = line.split()
        if len(f) == 7:
            rows[(f[0], f[1])] = (float(f[3]), float(f[5]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="the old checkout (a worktree at the old revision)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--keep", type=float, default=None)
    ap.add_argument("--kinds", default="")
    a = ap.parse_args()
    args = ["--runs", str(a.runs)] + (["--keep", str(a.keep)] if a.keep is not None else [])
    args += ["--kinds", a.kinds] if a.kinds else []
    sides: dict[str, list[dict[Row, tuple[float, float]]]] = {"old": [], "new": []}
    for k in range(a.rounds):
        sides["old"].append(run(Path(a.base).resolve(), args))
        sides["new"].append(run(REPO, args))
        print(f"round {k + 1}/{a.rounds} done", file=sys.stderr)
    policy = "default policy" if a.keep is None else f"keep {a.keep}"
    print(f"prune_speed.py --runs {a.runs} ({policy}), median of {a.rounds} interleaved rounds, ms\n")
    print("| input | size | old p50 wall | new p50 wall | old CPU | new CPU | CPU change |")
    print("|---|---|---|---|---|---|---|")
    for row in sides["new"][0]:
        old_wall, new_wall = (statistics.median(r[row][0] for r in sides[s]) for s in ("old", "new"))
        old_cpu, new_cpu = (statistics.median(r[row][1] for r in sides[s]) for s in ("old", "new"))
        change = 100 * (new_cpu - old_cpu) / old_cpu
        cells = [
            row[0],
            row[1],
            *(f"{x:.1f}" for x in (old_wall, new_wall, old_cpu, new_cpu)),
            f"{change:+.0f}%",
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
