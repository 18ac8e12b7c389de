#!/usr/bin/env python3
"""How robust is pruning to the way a task is phrased? tool_outputs' cases, each asked four ways.

usage: goal_phrasings.py [--keep 0.3] [--only NAME,...] [--cases] [--explain] [--styles original,terse,...]
       goal_phrasings.py --only NAME --try TASK [--try TASK ...]   # probe other phrasings of one case

``bench/data/tool_outputs/phrasings.json`` holds, per case of ``tool_outputs.py``, three other tasks a
developer might type for the same need (the same gold lines): terse ("502s?"), indirect (the symptom,
naming no term of the output: "the payment page errors out since this morning") and synonyms (other
words or inflections than the output's: "expiration" for "Not After", "crashing" for "panicked"). Each
case is scored with its original task, each phrasing and the command alone (``command``: an empty task;
a ``cat`` has no hint, so that goal is empty) by ``tool_outputs.score``, the goal built as the proxy
would (task, then the command's hint), at the default policy and at ``--keep``, BM25 beside it at the
same kept share.

``--cases`` prints recall per case and style; ``--explain`` prints, for every phrasing that loses a
gold line the original task keeps, its goal terms (``terms.goal_terms``: literal, weight, ``-`` when it
occurs nowhere in the text, ``*`` when it occurs on a gold line) and each lost line's score and rank.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
PHRASINGS = REPO / "bench" / "data" / "tool_outputs" / "phrasings.json"
STYLES = ("original", "terse", "indirect", "synonyms", "command")
Case = dict[str, object]
Row = dict[str, object]


def with_task(cases: list[Case], phrasings: dict[str, list[str]], style: str) -> list[Case]:
    """The cases with their task replaced by the style's phrasing (``original``: unchanged)."""
    if style == "original":
        return cases
    if style == "command":
        return [{**c, "task": ""} for c in cases]
    i = STYLES.index(style) - 1
    return [{**c, "task": phrasings[str(c["name"])][i]} for c in cases]


def summary(rows_by_style: dict[str, list[Row]], keep: str) -> None:
    """One line per style: mean recall, cases with all gold kept, BM25 at the same kept share."""
    n = len(next(iter(rows_by_style.values())))
    print(f"| style ({n} cases) | kept | recall default | all gold | BM25 | BM25 all gold ", end="")
    print(f"| recall keep {keep} | all gold | BM25 | BM25 all gold |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for style, rows in rows_by_style.items():
        cells = [f"{statistics.mean(float(r['share']) for r in rows):.3f}"]  # type: ignore[arg-type]
        for key in ("default", keep):
            for who in ("recall", "bm25"):
                vals = [float(r[f"{who} {key}"]) for r in rows]  # type: ignore[arg-type]
                cells += [f"{statistics.mean(vals):.3f}", str(sum(v == 1.0 for v in vals))]
        print(f"| {style} | " + " | ".join(cells) + " |")


def per_case(rows_by_style: dict[str, list[Row]], keep: str) -> None:
    """Recall per case and style: default policy / keep, BM25 at the default's share in brackets."""
    styles = list(rows_by_style)
    print("\n| case | " + " | ".join(styles) + " |")
    print("|---|" + "---|" * len(styles))
    for i, row in enumerate(rows_by_style[styles[0]]):
        cells = []
        for s in styles:
            r = rows_by_style[s][i]
            cells.append(f"{r['recall default']:.2f} / {r[f'recall {keep}']:.2f} ({r['bm25 default']:.2f})")
        print(f"| {row['name']} | " + " | ".join(cells) + " |")


def explain(case: Case, style: str, task: str, keep: float) -> None:
    """Why a phrasing loses gold lines: its goal terms, where they match, the lost lines' scores."""
    from mixed_quality import prune_as

    from sidecar.chat.calls import call_hints
    from sidecar.pruning.backends.heuristic import score_lines
    from sidecar.pruning.engine.kinds import detect_kind
    from sidecar.pruning.engine.terms import goal_terms, match_lines

    text, tool = str(case["text"]), str(case["tool"])
    hint, declared = call_hints("Bash", {"command": tool})
    goal = f"{task}\n{hint}" if hint else task
    kind = detect_kind(text, declared)
    lines = text.split("\n")
    gold = {int(g) - 1 for g in case["gold_lines"]}  # type: ignore[attr-defined]
    low, offsets, pos = text.lower(), [], 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    shown = []
    for lit, (w, sufs) in goal_terms(goal).items():
        hits = set(match_lines(text, low, offsets, lit, sufs))
        mark = "-" if not hits else "*" if hits & gold else ""
        shown.append(f"{lit}{mark}:{w:.1f}" + (f"({len(hits)})" if hits else ""))
    print(f"\n### {case['name']} [{style}] ({kind}): {task!r}")
    print("  terms: " + " ".join(shown))
    scores = score_lines(lines, goal, kind)
    rank = {i: r + 1 for r, i in enumerate(sorted(range(len(lines)), key=lambda i: -scores[i]))}
    for label, k in (("default", None), (str(keep), keep)):
        have = {x.rstrip() for x in prune_as(text, goal, kind, k).split("\n")}
        for g in sorted(gold):
            if lines[g].rstrip() not in have:
                where = f"L{g + 1} score {scores[g]:.2f} rank {rank[g]}/{len(lines)}"
                print(f"  lost at {label}: {where}: {lines[g].strip()[:90]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", default="0.3", help="the fixed keep ratio besides the default policy")
    ap.add_argument("--only", default="", help="these cases only (comma-separated names)")
    ap.add_argument("--styles", default=",".join(STYLES), help="which phrasings (comma-separated)")
    ap.add_argument("--cases", action="store_true", help="print recall per case and style")
    ap.add_argument("--explain", action="store_true", help="print goal terms and lost gold lines")
    ap.add_argument("--try", dest="tasks", action="append", default=[], help="score this task (with --only)")
    ap.add_argument("--src", help="import sidecar from this checkout (an older revision's worktree)")
    a = ap.parse_args()
    sys.path.insert(0, str(REPO / "bench"))
    sys.path.insert(0, a.src or str(REPO))
    import sidecar  # from --src, before the bench modules put this checkout first on sys.path

    print(f"sidecar from {Path(sidecar.__file__).parent.parent}", file=sys.stderr)
    from harness import load_eval
    from tool_outputs import load_cases, score

    ev: ModuleType = load_eval()
    phrasings: dict[str, list[str]] = json.loads(PHRASINGS.read_text())
    cases = load_cases([], {s for s in a.only.split(",") if s} or None)
    keep = float(a.keep)
    if a.tasks:  # probe: each given task on the --only cases, explained
        for task in a.tasks:
            tried = [{**c, "task": task} for c in cases]
            summary({task[:40]: score(tried, [keep], ev, set(), False)}, str(keep))
            for case in tried:
                explain(case, "try", task, keep)
        return
    styles = [s for s in a.styles.split(",") if s]
    rows = {s: score(with_task(cases, phrasings, s), [keep], ev, set(), False) for s in styles}
    summary(rows, str(keep))
    if a.cases:
        per_case(rows, str(keep))
    if not a.explain:
        return
    base = rows.get("original")
    for s in styles:
        if s == "original":
            continue
        for i, (case, row) in enumerate(zip(with_task(cases, phrasings, s), rows[s], strict=True)):
            ref = base[i] if base else {"recall default": 1.0, f"recall {keep}": 1.0}
            if any(float(row[k]) < float(ref[k]) for k in ("recall default", f"recall {keep}")):  # type: ignore[arg-type]
                explain(case, s, str(case["task"]), keep)


if __name__ == "__main__":
    main()
