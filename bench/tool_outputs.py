#!/usr/bin/env python3
"""Tool outputs an agent feeds its model, beyond source files: does the pruner keep the lines that matter?

usage: tool_outputs.py [--keeps 0.3,0.1] [--cases FILE ...] [--only NAME,...] [--show NAME] [--misses]
                       [--headroom]
       tool_outputs.py --base DIR [--keeps ...]     # another checkout side by side, in one run
       tool_outputs.py --json [--src DIR] ...        # one JSON row per case (what --base reads)

The cases (``bench/data/tool_outputs/*.jsonl.gz``; ``tool_output_cases.py`` makes the first file): 53
outputs of ``curl -v``, Kubernetes, terraform, package managers (npm, pip, poetry), ``ps``, ``env``,
``lsof``, ``strace``, ``git``, type checkers, linters, compilers, test runners (pytest, cargo, go,
JUnit XML), logs (journal, nginx, docker build), SQL, CSV, notebooks, config files (YAML, TOML, INI, a
pom, a Makefile), HTML and Markdown, and 4 YAML files of public projects, each with a task and its
gold lines. Each is pruned as the proxy would (the goal is the task plus the command; the command's
hint refined by ``kinds.detect_kind``; the heuristic in-process, rendered with markers) at the default
policy and at each keep ratio, and BM25 over 4-line blocks (``prune_eval.bm25``) at the same kept
shares. ``--headroom`` adds Headroom 0.42 (``mixed_quality.headroom_outputs``: its own venv, offline):
``compress()`` on the exchange, the tool named after the command (Headroom leaves ``read_file`` results
alone), and its compressor for the kind where it has one (JSON, logs, search results, diffs).

Three held-out surveys sit outside the default glob, each built by a helper who ran no sidecar code on
it, to be scored with ``--cases``: ``heldout/`` (20, ``tool_output_cases.py --heldout``), ``heldout2/``
(32, ``tool_output_cases4.py``) and ``heldout3/`` (30, ``tool_output_cases5.py``); BENCHMARKS.md says when
each was scored once and what was tuned on it afterwards (``heldout3/``: nothing yet).

The table: per case, kind, kept share and recall at the default policy, recall at each ratio, BM25's
beside each; then means over the cases. ``--base DIR`` runs the same cases through another checkout's
``sidecar`` (a worktree of an older revision) in a subprocess and prints both, side by side.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "bench" / "data" / "tool_outputs"
Case = dict[str, object]
Row = dict[str, object]
_MARKER = re.compile(r"^\.\.\. \[(?:lines? )?\d+(?:-\d+)? pruned", re.M)


def load_cases(paths: list[str], only: set[str] | None) -> list[Case]:
    files = paths or sorted(str(p) for p in DATA.glob("*.jsonl.gz"))
    cases = [json.loads(line) for f in files for line in gzip.open(f, "rt") if line.strip()]
    return [c for c in cases if not only or c["name"] in only]


def score(
    cases: list[Case],
    keeps: list[float],
    ev: ModuleType,
    show: set[str],
    misses: bool,
    headroom: bool = False,
) -> list[Row]:
    """Prune every case with the ``sidecar`` on ``sys.path``; one row of figures per case."""
    from mixed_quality import headroom_outputs, prune_as

    from sidecar.chat.calls import call_hints
    from sidecar.pruning.backends.heuristic import score_lines
    from sidecar.pruning.engine.kinds import detect_kind

    rows = []
    asks = {}
    for case in cases:
        text, tool = str(case["text"]), str(case["tool"])
        hint, declared = call_hints("Bash", {"command": tool})
        goal = f"{case['task']}\n{hint}" if hint else str(case["task"])
        kind = detect_kind(text, declared)
        asks[str(case["name"])] = {"id": case["name"], "kind": kind, "goal": goal, "tool": tool, "text": text}
        outs = {"default": prune_as(text, goal, kind, None)}
        outs.update({str(k): prune_as(text, goal, kind, k) for k in keeps})
        share = len(outs["default"]) / len(text)
        row: Row = {"name": case["name"], "real": case["real"], "kind": f"{declared} → {kind}"}
        row["share"] = share
        row["markers"] = len(_MARKER.findall(outs["default"]))
        for key, out in outs.items():
            row[f"recall {key}"] = ev.recall(case, out)
            row[f"bm25 {key}"] = ev.recall(
                case, ev.bm25(text, goal, min(share if key == "default" else float(key), 1.0))
            )
        rows.append(row)
        if misses:
            lost = _lost(
                text, [int(g) for g in case["gold_lines"]], outs, score_lines(text.split("\n"), goal, kind)
            )  # type: ignore[attr-defined]
            if lost:
                print(f"{case['name']}: lost gold lines\n" + "\n".join(lost), file=sys.stderr)
        if case["name"] in show:
            for key, out in outs.items():
                print(f"\n===== {case['name']} ({key}) =====\n{out}", file=sys.stderr)
    if headroom:
        hr = headroom_outputs(list(asks.values()))
        for case, row in zip(cases, rows, strict=True):
            got = hr.get(str(case["name"]), {})
            for key in ("pipeline", "direct"):
                out = got.get(key)
                if isinstance(out, str):
                    row[f"hr {key} kept"] = len(out) / len(str(case["text"]))
                    row[f"hr {key} recall"] = ev.recall(case, out)
    return rows


def _lost(text: str, gold: list[int], outs: dict[str, str], scores: list[float]) -> list[str]:
    """Each lost gold line, per policy, with its score and rank among all lines (1 = best)."""
    lines = text.split("\n")
    rank = {i: r + 1 for r, i in enumerate(sorted(range(len(lines)), key=lambda i: -scores[i]))}
    out = []
    for key, pruned in outs.items():
        have = {line.rstrip() for line in pruned.split("\n")}
        for g in gold:
            if lines[g - 1].rstrip() not in have:
                where = f"L{g} score {scores[g - 1]:.2f} rank {rank[g - 1]}/{len(lines)}"
                out.append(f"  {key}: {where}: {lines[g - 1].strip()[:90]}")
    return out


def table(sides: list[tuple[str, list[Row]]], keeps: list[float]) -> None:
    keys = ["default", *map(str, keeps)]
    names = [label for label, _ in sides]
    cols = ["kind", "kept"] + [f"recall {k}" for k in keys]
    head = ["output"] + [f"{c} ({n})" if len(sides) > 1 else c for c in cols for n in names]
    head += [f"BM25 {k}" for k in keys]  # at the last side's kept share (this checkout's)
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    last = sides[-1][1]
    for i, row in enumerate(last):
        cells = [str(row["name"]) + ("" if row["real"] else " (written)")]
        for col in cols:
            for _, rows in sides:
                r = rows[i]
                cells.append(
                    str(r["kind"])
                    if col == "kind"
                    else f"{r['share']:.2f}"
                    if col == "kept"
                    else f"{r[col]:.2f}"
                )
        cells += [f"{row[f'bm25 {k}']:.2f}" for k in keys]
        print("| " + " | ".join(cells) + " |")
    print()
    print("| mean over the cases | " + " | ".join(f"{label}" for label in names) + " | BM25 |")
    print("|---|" + "---|" * (len(names) + 1))
    print(
        "| kept share, default policy | "
        + " | ".join(f"{statistics.mean(r['share'] for r in rows):.3f}" for _, rows in sides)
        + " | (same) |"
    )  # type: ignore[misc]
    for k in keys:
        for what, fmt in (("recall", "{:.3f}"), ("all gold", "{:d}")):
            vals = []
            for _, rows in sides:
                rs = [float(r[f"recall {k}"]) for r in rows]  # type: ignore[arg-type]
                vals.append(
                    fmt.format(statistics.mean(rs) if what == "recall" else sum(x == 1.0 for x in rs))
                )
            bm = [float(r[f"bm25 {k}"]) for r in last]  # type: ignore[arg-type]
            vals.append(fmt.format(statistics.mean(bm) if what == "recall" else sum(x == 1.0 for x in bm)))
            print(
                f"| {what}, {'default policy' if k == 'default' else 'keep ' + k} (of {len(last)}) | "
                + " | ".join(vals)
                + " |"
            )
    if any("hr pipeline kept" in r for r in last):
        _headroom_table(last)


def _headroom_table(rows: list[Row]) -> None:
    """Headroom beside this checkout's default policy: per case, then means."""
    print(
        "\n| output | sidecar default: kept | recall | Headroom compress(): kept | recall "
        "| its compressor: kept | recall |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        direct = (
            f"{r['hr direct kept']:.2f} | {r['hr direct recall']:.2f}" if "hr direct kept" in r else "- | -"
        )
        print(
            f"| {r['name']} | {r['share']:.2f} | {r['recall default']:.2f} "
            f"| {r['hr pipeline kept']:.2f} | {r['hr pipeline recall']:.2f} | {direct} |"
        )
    both = [r for r in rows if "hr direct kept" in r]
    keys = (
        "share",
        "recall default",
        "hr pipeline kept",
        "hr pipeline recall",
        "hr direct kept",
        "hr direct recall",
    )
    for label, group in (("all cases", rows), ("cases Headroom has a compressor for", both)):
        if not group:
            continue
        mean = {k: statistics.mean(float(r[k]) for r in group) for k in keys if all(k in r for r in group)}  # type: ignore[arg-type]
        direct = (
            f"{mean['hr direct kept']:.3f} | {mean['hr direct recall']:.3f}" if group is both else "- | -"
        )
        print(
            f"| **mean, {label} ({len(group)})** | {mean['share']:.3f} | {mean['recall default']:.3f} "
            f"| {mean['hr pipeline kept']:.3f} | {mean['hr pipeline recall']:.3f} | {direct} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="*", default=[], help="case files (default: bench/data/tool_outputs/*)")
    ap.add_argument("--keeps", default="0.3,0.1", help="keep ratios besides the default policy")
    ap.add_argument("--only", default="", help="these cases only (comma-separated names)")
    ap.add_argument("--show", default="", help="print these cases' pruned outputs (stderr)")
    ap.add_argument(
        "--misses", action="store_true", help="print each lost gold line's score and rank (stderr)"
    )
    ap.add_argument("--base", help="another checkout, scored side by side (its sidecar, this script)")
    ap.add_argument("--src", help="import sidecar from this checkout")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON lines")
    ap.add_argument("--headroom", action="store_true", help="score Headroom 0.42 beside (this checkout only)")
    a = ap.parse_args()
    sys.path.insert(0, str(REPO / "bench"))
    sys.path.insert(0, a.src or str(REPO))
    from harness import load_eval

    import sidecar  # from --src, before mixed_quality puts this checkout first on sys.path

    print(f"sidecar from {Path(sidecar.__file__).parent.parent}", file=sys.stderr)

    keeps = [float(k) for k in a.keeps.split(",") if k]
    only = {s for s in a.only.split(",") if s} or None
    cases = load_cases(a.cases, only)
    rows = score(cases, keeps, load_eval(), {s for s in a.show.split(",") if s}, a.misses, a.headroom)
    if a.json:
        print("\n".join(json.dumps(r) for r in rows))
        return
    sides = [("this checkout", rows)]
    if a.base:
        cmd = [
            sys.executable,
            __file__,
            "--json",
            "--src",
            a.base,
            "--keeps",
            a.keeps,
            "--only",
            a.only,
            "--cases",
            *a.cases,
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        sides.insert(0, (Path(a.base).name, [json.loads(line) for line in out.splitlines()]))
    table(sides, keeps)


if __name__ == "__main__":
    main()
