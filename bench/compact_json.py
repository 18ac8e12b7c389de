#!/usr/bin/env python3
"""One-line JSON (API answers as ``curl``, ``gh api`` into a pipe or an MCP tool return them): the mixed
set's JSON cases minified, pruned through the Pruner as the proxy runs it, next to the same documents
pretty-printed and to Headroom on the one-line form.

usage: compact_json.py [--cases FILE ...] [--no-headroom]

Each JSON case of ``bench/data/mixed/*.jsonl.gz`` is minified (whitespace outside strings removed: the
value and every string's characters unchanged) and its command loses the pretty-printer it was piped
into (``| python -m json.tool``). Gold lines are lines of the pretty text; as every layout of one
document minifies to the same string, a gold line is a span of that string, and it counts as kept when
the lines the sidecar kept cover its span (``recall``: exact). ``content`` credits any output holding
the gold line's minified text (trailing comma aside), the only measure Headroom's re-encodings allow;
it over-credits values repeated elsewhere (``"yanked":false``). ``kept`` is printed characters over
the one-line text's. Before ``engine.layout``, a one-line document was kept whole (recall 1, kept 1).

Two more forms put the response head an API answer comes with before the document (``HEAD``, as this
machine's PyPI answered ``curl -si https://pypi.org/pypi/requests/json``): the one-line document after
it (``curl -i``) and the pretty-printed one after it (HTTPie's default output, which indents by four
like the cases' ``json.tool``); and the pretty-printed one after a warning line (stderr merged, as
``kubectl … 2>&1`` prints it). ``head kept`` is the share of cases whose head lines are all kept.
Before ``layout.body_start``, both were kept whole (neither parsed as JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gzip
import json
import re
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from mixed_quality import case_files, headroom_outputs

from sidecar.chat.calls import call_hints
from sidecar.config import Config
from sidecar.pruning.service import Pruner, pruned_source
from sidecar.pruning.types import PruneOptions

_STRING = re.compile(r'("[^"\\]*(?:\\.[^"\\]*)*")')
_PRETTY_PIPE = re.compile(r"\s*\|\s*(?:python3? -m json\.tool|jq\b[^|]*)\s*$")
Case = dict[str, object]
WARNING = "Warning: resource pods/web-0 is missing the last-applied-configuration annotation\n"
HEAD = (
    "HTTP/2 200 \r\ncontent-type: application/json\r\ncontent-length: 202459\r\naccept-ranges: bytes\r\n"
    "x-cache-status: BYPASS\r\nx-cache-status: BYPASS\r\ndate: Sun, 06 Dec 2026 01:59:09 GMT\r\n\r\n"
)


def minify(text: str) -> str:
    """Return ``text`` without whitespace outside strings (a JSON string never spans lines)."""
    return "".join(p if p.startswith('"') else re.sub(r"\s+", "", p) for p in _STRING.split(text))


def spans(lines: list[str]) -> list[tuple[int, int]]:
    """Return each line's span in the minified document."""
    out, pos = [], 0
    for line in lines:
        n = len(minify(line))
        out.append((pos, pos + n))
        pos += n
    return out


def kept_laid_lines(n: int, annotations: list[tuple[int, int]]) -> list[bool]:
    keep = [True] * n
    for start, end in annotations:
        keep[start - 1 : end] = [False] * (end - start + 1)
    return keep


async def prune_all(
    cases: list[Case], keep: float | None = None
) -> dict[str, tuple[str, list[tuple[int, int]], str, float]]:
    """Return per case id: the output, the pruned line ranges, the text pruned (laid out or not), ms."""
    pruner = Pruner(Config(), env={})
    await pruner.start()
    out = {}
    try:
        for c in cases:
            text, tool = str(c["text"]), str(c["tool"])
            declared = call_hints("Bash", {"command": tool})[1]
            opts = PruneOptions(keep_ratio=keep)
            o = await pruner.prune(text, str(c["goal"]), source_type=declared, options=opts)
            ranges = [(a.original_start_line, a.original_end_line) for a in o.annotations]
            out[str(c["id"])] = (o.pruned_text, ranges, pruned_source(text, o), o.stats.latency_ms)
    finally:
        await pruner.aclose()
    return out


def compact_case(c: Case) -> Case:
    return {**c, "text": minify(str(c["text"])), "tool": _PRETTY_PIPE.sub("", str(c["tool"]))}


def headed_case(c: Case, tool: str) -> Case:
    """``c`` after an HTTP response head, as ``tool`` (``curl -si``, HTTPie's ``http``) prints it."""
    return {**c, "text": HEAD + str(c["text"]), "tool": tool}


def gold_minified(c: Case) -> list[tuple[int, int, str]]:
    """The gold lines of a pretty case as (start, end, minified text) in the minified document."""
    lines = str(c["text"]).split("\n")
    where = spans(lines)
    gold = []
    for g in c["gold_lines"]:  # type: ignore[attr-defined]
        s = minify(lines[g - 1]).rstrip(",")
        if re.search(r'[\w"]', s):  # a bracket-only line says nothing
            gold.append((where[g - 1][0], where[g - 1][0] + len(s), s))
    return gold


def exact_recall(
    gold: list[tuple[int, int, str]], pruned_from: str, ranges: list[tuple[int, int]], skip: int = 0
) -> float:
    """Share of gold spans the kept lines cover; ``skip``: lines before the document (a response head)."""
    lines = pruned_from.split("\n")
    keep = kept_laid_lines(len(lines), ranges)[skip:]
    lines = lines[skip:]
    covered = [span for span, k in zip(spans(lines), keep, strict=True) if k]
    starts = [a for a, _ in covered]

    def inside(a: int, b: int) -> bool:
        # Every character of [a, b) in kept lines: walk the kept spans from the one holding a.
        i = bisect.bisect_right(starts, a) - 1
        if i < 0:
            return False  # nothing kept at or before its start
        pos = a
        while i < len(covered) and pos < b:
            s, e = covered[i]
            if s > pos:
                return False
            pos = max(pos, e)
            i += 1
        return pos >= b

    return sum(inside(a, b) for a, b, _ in gold) / len(gold) if gold else 1.0


def content_recall(gold: list[tuple[int, int, str]], out: str) -> float:
    flat = minify(out)
    return sum(s in flat for _, _, s in gold) / len(gold) if gold else 1.0


def report(path: str, with_headroom: bool) -> None:
    with gzip.open(path, "rt") if path.endswith(".gz") else open(path) as fh:
        pretty = [c for c in map(json.loads, fh) if c["kind"] == "json"]
    if not pretty:
        return
    compact = [compact_case(c) for c in pretty]
    gold = {str(c["id"]): gold_minified(c) for c in pretty}
    rows = []
    curl_i = [headed_case(c, "curl -si https://pypi.org/pypi/NAME/json") for c in compact]
    httpie = [headed_case(c, "http GET https://pypi.org/pypi/NAME/json") for c in pretty]
    warned = [
        {**c, "text": WARNING + str(c["text"]), "tool": "kubectl get pods -o json 2>&1"} for c in pretty
    ]
    runs = (
        ("pretty-printed (as in mixed_quality.py)", pretty, None),
        ("**one line**", compact, None),
        ("one line, keep 0.3", compact, 0.3),
        ("**one line after a response head** (`curl -i`)", curl_i, None),
        ("**pretty-printed after a response head** (HTTPie)", httpie, None),
        ("**pretty-printed after a warning** (stderr)", warned, None),
    )
    for label, cases, keep in runs:
        done = asyncio.run(prune_all(cases, keep))
        headed = cases is curl_i or cases is httpie or cases is warned
        head = WARNING if cases is warned else HEAD
        skip = head.count("\n")
        if headed:
            whole = [
                all(a > skip for a, _ in done[str(c["id"])][1]) and done[str(c["id"])][0].startswith(head)
                for c in cases
            ]
            label += f" (head kept {sum(whole) / len(whole):.2f})"
        rec, cont, kept = [], [], []
        ms = statistics.median(
            v[3] / len(str(c["text"])) * 2**20 for c in cases for v in [done[str(c["id"])]]
        )
        label += f" ({ms:.0f} ms per MB, median)"
        for c in cases:
            out, ranges, pruned_from, _ = done[str(c["id"])]
            g = gold[str(c["id"])]
            rec.append(exact_recall(g, pruned_from, ranges, skip if headed else 0))
            cont.append(content_recall(g, out[len(head) :] if headed and out.startswith(head) else out))
            kept.append(len(out) / len(str(c["text"])))
        rows.append((f"sidecar, {label}", rec, cont, kept))
    for form, forms in ((compact, "one line"), (curl_i, "one line after a response head")):
        if not with_headroom:
            break
        hr = headroom_outputs(form)
        have = [c for c in form if str(c["id"]) in hr]
        for mode, label in (("pipeline", "`compress()`"), ("direct", "SmartCrusher")):
            outs = {str(c["id"]): str(hr[str(c["id"])][mode]) for c in have}
            cont = [content_recall(gold[i], o) for i, o in outs.items()]
            kept = [len(outs[str(c["id"])]) / len(str(c["text"])) for c in have]
            rows.append((f"Headroom 0.42 {label}, {forms}", None, cont, kept))
    print(f"\n### {Path(path).name.split('.')[0]}: JSON ({len(pretty)} cases)\n")
    print("| selector | recall (exact) | all gold kept | content recall | kept share (mean) | (median) |")
    print("|---|---|---|---|---|---|")
    for label, rec, cont, kept in rows:
        exact = f"{statistics.mean(rec):.3f}" if rec else "-"
        full = f"{sum(r == 1.0 for r in rec) / len(rec):.2f}" if rec else "-"
        print(
            f"| {label} | {exact} | {full} | {statistics.mean(cont):.3f} "
            f"| {statistics.mean(kept):.3f} | {statistics.median(kept):.3f} |"
        )
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="*", help="case files (default: bench/data/mixed/*.jsonl.gz)")
    ap.add_argument("--no-headroom", action="store_true")
    a = ap.parse_args()
    for f in case_files(a.cases):
        report(f, not a.no_headroom)


if __name__ == "__main__":
    main()
