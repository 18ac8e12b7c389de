#!/usr/bin/env python3
"""Listings (``find``, ``git ls-files``, ``ls -l``, ``dpkg -l``, a CSV file): real outputs of commands run
here, each with a goal naming what the agent looks for, pruned through the Pruner as the proxy runs it,
next to the kind detection of before, BM25 and Headroom.

usage: listings.py [--no-headroom]

A listing is a row per line; with no hint from its command it used to be read as a document or as code
(a context share of 0.45 at least: 580 KB of a 1.3 MB ``find``). ``kinds.detect_kind`` now reads it as a
``listing`` (the goal's rows, the column header, in ``ls -R`` each kept row's directory heading). Gold
lines, by rule: the rows holding the case's needle (the file, package or value the goal names), for a
table or a CSV its column header, for ``ls -R`` the heading of the row's directory, for ``tree`` its
parent directories (``tree`` is Debian's package of that name). The outputs are
made at run time (``CASES``: they depend on this machine's files and packages, so the script prints
each case's size); nothing is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from harness import load_eval
from mixed_quality import bm25_at_shares, headroom_rows, prune_as

from sidecar.chat.calls import call_hints
from sidecar.config import Config
from sidecar.pruning.engine.chunking import detect_source_type
from sidecar.pruning.service import Pruner
from sidecar.pruning.types import PruneOptions, SourceType

Case = dict[str, object]
PY = "/root/.pyenv/versions/3.11.7/lib/python3.11"
NUMPY_DATA = f"{PY}/site-packages/numpy/_core/tests/data"
MIRROR = (
    "/work/.mirror"  # upstream histories fetched for bench/data/heldout/extra_cases13 (skipped if absent)
)
# (command, goal, needle, header: the column header row's text when the gold includes it)
LS_TREE = "ls-tree -r --name-only HEAD"
DIR = "<dir>"  # ls -R: the gold also holds the heading of each gold row's directory
TREE = "<tree>"  # tree: the gold also holds each gold row's parent directories
CASES = [
    (f"find {PY}/asyncio {PY}/json {PY}/email",
     "where is asyncio's base_events module?", "asyncio/base_events.py", None),
    (f"find {PY} -not -path '*/site-packages/*'",
     "where is the TOML parser of the standard library?", "tomllib/_parser.py", None),
    ("find /usr/share/doc -maxdepth 1",
     "is there documentation for curl installed?", "/usr/share/doc/curl", None),
    ("git -C /work/main ls-files", "where are the JSON layout module and its tests?", "layout.py", None),
    (f"git --git-dir={MIRROR}/Textualize+rich/repo {LS_TREE}",
     "where are the tests for the progress bar?", "test_progress", None),
    (f"git --git-dir={MIRROR}/encode+httpx/repo {LS_TREE}",
     "which file implements the HTTP/2 transport?", "http2", None),
    ("dpkg -l", "which version of openssl is installed?", "ii  openssl ", "||/ Name"),
    ("dpkg -l", "is redis-server installed, and which version?", "ii  redis-server ", "||/ Name"),
    ("ls -la /usr/bin", "is python3 a symlink, and to what?", " python3 -> ", None),
    ("ls -la /usr/lib/x86_64-linux-gnu", "which libssl version is there?", "libssl.so", None),
    (f"cat {NUMPY_DATA}/umath-validation-set-log2.csv",
     "which rows test the input 0x7f800000?", "0x7f800000", "dtype,"),
    (f"cat {NUMPY_DATA}/umath-validation-set-arcsinh.csv",
     "what does arcsinh give for 0x3f800000?", "0x3f800000", "dtype,"),
    (f"ls -R {PY}", "where is the zoneinfo module that finds the tz path?", "_tzpath.py", DIR),
    ("ls -lR /work/main/sidecar", "where is the JSON layout module?", " layout.py", DIR),
    (f"ls -R {PY}/email {PY}/json {PY}/asyncio",
     "which file has asyncio's subprocess support?", "subprocess.py", DIR),
    (f"tree {PY}", "where is the zoneinfo module that finds the tz path?", "_tzpath.py", TREE),
    ("tree /work/main/sidecar", "where is the JSON layout module?", "── layout.py", TREE),
    ("npm ls -g --all", "which version of the tar package does npm bundle?", " tar@", TREE),
]  # fmt: skip


def build() -> list[Case]:
    cases: list[Case] = []
    for k, (cmd, goal, needle, header) in enumerate(CASES):
        text = subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout
        lines = text.splitlines()
        gold = [i + 1 for i, line in enumerate(lines) if needle in line]
        if header == TREE:
            gold = sorted({*gold, *(p + 1 for g in gold for p in tree_parents(lines, g - 1))})
        elif header == DIR:
            heads = [i for i, line in enumerate(lines) if line.endswith(":") and (i == 0 or not lines[i - 1])]
            gold = sorted({*gold, *(max(h + 1 for h in heads if h + 1 < g) for g in gold)})
        elif header is not None:
            gold = sorted({*gold, *(i + 1 for i, line in enumerate(lines[:10]) if line.startswith(header))})
        if not gold or len(text) < 2000:
            print(f"skipped (nothing to find here): {cmd}", file=sys.stderr)
            continue
        cases.append(
            {
                "id": f"listing/{k}",
                "kind": "logs",
                "tool": cmd,
                "goal": goal,
                "text": text,
                "gold_lines": gold,
            }
        )
    return cases


def tree_parents(lines: list[str], i: int) -> list[int]:
    """The lines of row ``i``'s parent directories in ``tree``'s drawing: the nearest shallower rows."""

    def column(line: str) -> int:  # where the name starts, past the drawing
        return next((k for k, ch in enumerate(line) if ch.isalnum() or ch in "._/~"), len(line))

    out, depth = [], column(lines[i])
    for j in range(i - 1, -1, -1):
        if lines[j].strip() and column(lines[j]) < depth:
            out.append(j)
            depth = column(lines[j])
    return out


async def prune_all(cases: list[Case]) -> dict[str, str]:
    """Prune each case through the Pruner, hinted by its own command as the proxy would."""
    pruner = Pruner(Config(), env={})
    await pruner.start()
    out = {}
    try:
        for c in cases:
            declared = call_hints("Bash", {"command": str(c["tool"])})[1]
            o = await pruner.prune(
                str(c["text"]), str(c["goal"]), source_type=declared, options=PruneOptions()
            )
            out[str(c["id"])] = o.pruned_text
    finally:
        await pruner.aclose()
    return out


def prune_before(cases: list[Case]) -> dict[str, str]:
    """Prune each case with the heuristic as it was read before: by its text alone (docs or code), but
    ``npm ls``, which its command hinted as logs (``npm``)."""
    out = {}
    for c in cases:
        text = str(c["text"])
        kind: SourceType = "logs" if str(c["tool"]).startswith("npm ") else detect_source_type(text)
        out[str(c["id"])] = prune_as(text, str(c["goal"]), kind)
    return out


def row(ev: ModuleType, label: str, cases: list[Case], outs: dict[str, str]) -> str:
    rec = [ev.recall(c, outs[str(c["id"])]) for c in cases]
    kept = [len(outs[str(c["id"])]) / len(str(c["text"])) for c in cases]
    full = sum(r == 1.0 for r in rec) / len(rec)
    return (
        f"| {label} | {statistics.mean(rec):.3f} | {full:.2f} "
        f"| {statistics.mean(kept):.3f} | {statistics.median(kept):.3f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-headroom", action="store_true")
    a = ap.parse_args()
    ev = load_eval()
    cases = build()
    print(f"\n### listings ({len(cases)} cases)\n")
    for c in cases:
        print(f"- `{c['tool']}`: {len(str(c['text'])):,} chars, {len(c['gold_lines'])} gold lines")  # type: ignore[arg-type]
    print("\n| selector | recall | all gold kept | kept share (mean) | (median) |")
    print("|---|---|---|---|---|")
    now = asyncio.run(prune_all(cases))
    print(row(ev, "**sidecar, default policy** (read as rows)", cases, now))
    print(row(ev, "before: read as a document or code (npm ls: as logs)", cases, prune_before(cases)))
    print(row(ev, "BM25 at the sidecar's kept share", cases, bm25_at_shares(ev, cases, now)))
    if not a.no_headroom:
        print("\n".join(headroom_rows(ev, cases, row, "LogCompressor")))


if __name__ == "__main__":
    main()
