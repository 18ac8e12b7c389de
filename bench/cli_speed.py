#!/usr/bin/env python3
"""Issue 15's speed measurement: ``sidecar prune --json``'s ``elapsed_ms`` on held-out code.

usage: cli_speed.py [--keep 0.3] [--runs 7] [--base DIR]

The input is the texts of ``extra_cases.jsonl``, ``extra_cases3.jsonl`` and ``extra_cases4.jsonl``
concatenated, cut to 100 KB and 1 MB (repeated as needed); the goal is the first case's. Each run is
one ``sidecar prune --json --keep-ratio R --goal-file G FILE`` process; the table shows the median of
the ``elapsed_ms`` it reports (the engine's time, without the process start). With ``--base DIR`` (an
older checkout, e.g. ``git worktree add --detach DIR REV``) the two alternate run by run, each with its
own ``sidecar`` package, so a shared machine's slow spells land on both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SETS = ("extra_cases.jsonl", "extra_cases3.jsonl", "extra_cases4.jsonl")
SIZES = (("100 KB", 100_000), ("1 MB", 1_000_000))


def inputs(tmp: Path) -> tuple[Path, list[tuple[str, Path]]]:
    """Write the goal file and one text file per size; return their paths."""
    cases = [json.loads(line) for name in SETS for line in (REPO / "bench" / "data" / name).open()]
    goal = tmp / "goal.txt"
    goal.write_text(cases[0]["goal"])
    text = "\n".join(c["text"] for c in cases)
    files = []
    for label, size in SIZES:
        body = (text * (size // len(text) + 1))[:size]
        path = tmp / f"{size}.txt"
        path.write_text(body[: body.rfind("\n") + 1])
        files.append((label, path))
    return goal, files


def elapsed(checkout: Path, goal: Path, text: Path, keep: float) -> float:
    """Run one ``sidecar prune --json`` in ``checkout``; return its elapsed_ms."""
    code = "import sys; from sidecar.cli import main; sys.exit(main())"
    args = ["prune", "--json", "--keep-ratio", str(keep), "--goal-file", str(goal), str(text)]
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=checkout, capture_output=True, text=True, check=True
    )
    return float(json.loads(proc.stdout)["stats"]["elapsed_ms"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", type=float, default=0.3)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--base", type=Path, default=None)
    a = ap.parse_args()
    sides = [("this checkout", REPO)] + ([("base", a.base.resolve())] if a.base else [])
    with tempfile.TemporaryDirectory() as tmp:
        goal, files = inputs(Path(tmp))
        times: dict[tuple[str, str], list[float]] = {}
        for run in range(a.runs):
            for label, path in files:
                for side, checkout in sides if run % 2 == 0 else list(reversed(sides)):
                    times.setdefault((side, label), []).append(elapsed(checkout, goal, path, a.keep))
            print(f"run {run + 1}/{a.runs} done", file=sys.stderr)
    print(f"sidecar prune --json --keep-ratio {a.keep}: median elapsed_ms of {a.runs} runs\n")
    print("| input | " + " | ".join(side for side, _ in sides) + " |")
    print("|---|" + "---|" * len(sides))
    for label, _ in files:
        row = " | ".join(f"{statistics.median(times[(side, label)]):.1f}" for side, _ in sides)
        print(f"| {label} | {row} |")


if __name__ == "__main__":
    main()
