#!/usr/bin/env python3
"""Logs as JSON lines (``kubectl logs`` of a service logging JSON, docker's json-file driver, a log
tool of an MCP server): the mixed set's log cases, each line re-emitted as the record docker's
json-file driver writes for it, pruned through the Pruner as the proxy runs it, next to the plain-text
log, BM25 and Headroom on the same JSON lines.

usage: json_lines.py [--cases FILE ...] [--no-headroom]

Each log case of ``bench/data/mixed/*.jsonl.gz`` (pytest runs, pip and npm installs) becomes one
``{"log": "<line>\\n", "stream": "stdout", "time": "<RFC 3339>"}`` record per line (a millisecond
apart), so a gold line is the record at the same line number. ``recall`` counts gold records kept
verbatim; ``content recall`` credits any output holding a gold line's text as it is written in its
record (the only measure Headroom's re-encodings allow; it over-credits text repeated elsewhere).
``kept`` is printed characters over the JSON lines'. Rows:

- the plain-text log as ``mixed_quality.py`` prunes it (the reference);
- JSON lines hinted as logs by their command (``kubectl logs``), and with no hint (an MCP tool's
  answer: the text decides its kind);
- JSON lines pruned as code: what kind detection made of them before it knew JSON lines (2026-12-06);
- BM25 at the sidecar's kept share and at 0.3; Headroom 0.42's pipeline and its log compressor.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import statistics
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from harness import load_eval
from mixed_quality import bm25_at_shares, case_files, headroom_rows, prune_as

from sidecar.chat.calls import call_hints
from sidecar.config import Config
from sidecar.pruning.service import Pruner
from sidecar.pruning.types import PruneOptions

Case = dict[str, object]
KUBECTL = "kubectl logs pod/ci-runner"


def json_lines_case(c: Case) -> Case:
    """Return ``c`` with each line of its text as a docker json-file record (same line numbers)."""
    records = [
        json.dumps(
            {"log": line + "\n", "stream": "stdout", "time": f"2026-12-06T10:{k // 60000 % 60:02d}:"
             f"{k // 1000 % 60:02d}.{k % 1000:03d}000000Z"},
            separators=(",", ":"),
        )
        for k, line in enumerate(str(c["text"]).splitlines())
    ]  # fmt: skip
    return {**c, "text": "\n".join(records) + "\n", "tool": KUBECTL, "plain": c["text"]}


async def prune_all(cases: list[Case], hint: str | None, keep: float | None = None) -> dict[str, str]:
    """Prune each case through the Pruner; ``hint``: the command its tool call ran (None: no hint)."""
    pruner = Pruner(Config(), env={})
    await pruner.start()
    out = {}
    try:
        for c in cases:
            declared = call_hints("Bash", {"command": hint})[1] if hint else None
            o = await pruner.prune(
                str(c["text"]), str(c["goal"]), source_type=declared, options=PruneOptions(keep_ratio=keep)
            )
            out[str(c["id"])] = o.pruned_text
    finally:
        await pruner.aclose()
    return out


def content_recall(c: Case, out: str) -> float:
    """Share of gold lines whose text, as its record writes it, is somewhere in ``out``."""
    plain = str(c["plain"]).splitlines()
    gold = [json.dumps(plain[g - 1].rstrip())[1:-1] for g in c["gold_lines"]]
    gold = [g for g in gold if g.strip()]
    return sum(g in out for g in gold) / len(gold) if gold else 1.0


def row(ev: ModuleType, label: str, cases: list[Case], outs: dict[str, str], plain: bool = False) -> str:
    rec, cont, kept = [], [], []
    for c in cases:
        out = outs[str(c["id"])]
        text = str(c["plain"] if plain else c["text"])
        rec.append(ev.recall({**c, "text": text}, out))
        cont.append(rec[-1] if plain else content_recall(c, out))
        kept.append(len(out) / len(text))
    full = sum(r == 1.0 for r in rec) / len(rec)
    return (
        f"| {label} | {statistics.mean(rec):.3f} | {statistics.mean(cont):.3f} | {full:.2f} "
        f"| {statistics.mean(kept):.3f} | {statistics.median(kept):.3f} |"
    )


def report(ev: ModuleType, path: str, with_headroom: bool) -> None:
    with gzip.open(path, "rt") if path.endswith(".gz") else open(path) as fh:
        logs = [c for c in map(json.loads, fh) if c["kind"] == "logs"]
    if not logs:
        return
    cases = [json_lines_case(c) for c in logs]
    plain = {str(c["id"]): str(c["tool"]) for c in logs}
    print(f"\n### {Path(path).name.split('.')[0]}: logs as JSON lines ({len(cases)} cases)\n")
    print("| selector | recall | content recall | all gold kept | kept share (mean) | (median) |")
    print("|---|---|---|---|---|---|")
    ref = {}
    for c in logs:  # the plain log, hinted by its own command as mixed_quality.py runs it
        ref.update(asyncio.run(prune_all([c], plain[str(c["id"])])))
    print(row(ev, "sidecar, the plain-text log (reference)", cases, ref, plain=True))
    hinted = asyncio.run(prune_all(cases, KUBECTL))
    print(row(ev, f"**sidecar, JSON lines, `{KUBECTL}`**", cases, hinted))
    bare = asyncio.run(prune_all(cases, None))
    print(row(ev, "**sidecar, JSON lines, no hint (an MCP tool)**", cases, bare))
    code = {str(c["id"]): prune_as(str(c["text"]), str(c["goal"]), "code") for c in cases}
    print(row(ev, "sidecar, JSON lines read as code (before)", cases, code))
    print(row(ev, "sidecar, JSON lines, no hint, keep 0.3", cases, asyncio.run(prune_all(cases, None, 0.3))))
    print(row(ev, "BM25 at the sidecar's kept share", cases, bm25_at_shares(ev, cases, bare)))
    bm = {str(c["id"]): ev.bm25(c["text"], c["goal"], 0.3) for c in cases}
    print(row(ev, "BM25, keep 0.3", cases, bm))
    if with_headroom:
        print("\n".join(headroom_rows(ev, cases, row, "LogCompressor")))
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="*", help="case files (default: bench/data/mixed/*.jsonl.gz)")
    ap.add_argument("--no-headroom", action="store_true")
    a = ap.parse_args()
    ev = load_eval()
    for f in case_files(a.cases):
        report(ev, f, not a.no_headroom)


if __name__ == "__main__":
    main()
