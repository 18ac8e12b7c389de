#!/usr/bin/env python3
"""One sha256 over everything the heuristic engine prints for the benchmark cases: a speed change
that claims "same output" must leave it unchanged.

usage: engine_digest.py [--src DIR] [--keeps none,0.5,0.3,0.2] [--no-speed] [--verbose]

Sets (one digest each, then one over all of them):

- ``dev``: ``../shared/bench/prune_cases_dev.jsonl``, code cases, as ``prune_quality.py`` runs them
  (declared ``code``);
- ``extra``: every ``bench/data/*.jsonl`` (code cases, the same way);
- ``mixed``: every ``bench/data/mixed/*.jsonl.gz`` (JSON, logs, search results, diffs), as
  ``mixed_quality.py`` runs them: the case's command gives the declared kind, ``detect_kind`` refines it;
- ``speed``: ``prune_speed.py``'s generated corpora (code, logs, JSON, search, diff) at 100 KB and 1 MB,
  declared as that script declares them (skip with ``--no-speed``).

Each case is pruned at the default policy (``none``) and at each keep ratio and rendered as the CLI
renders it (markers included). ``--src DIR`` imports ``sidecar`` from another checkout (an old
revision in its own worktree) so both sides are hashed by the same script.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _setup(src: Path) -> None:
    sys.path.insert(0, str(REPO / "bench"))
    sys.path.insert(0, str(src))


PRUNE_ID = "abcdefghijklmnopqrstuvwxyz"
Case = tuple[str, str, str, "str | None"]  # id, text, goal, declared kind (None: detect from the text)


def _jsonl(path: Path) -> list[dict[str, object]]:
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as fh:
        return [json.loads(line) for line in fh if line.strip()]


def case_sets(with_speed: bool) -> Iterator[tuple[str, list[Case]]]:
    """Yield (set name, cases) in a fixed order."""
    from sidecar.chat.calls import call_hints

    dev = REPO.parent / "shared" / "bench" / "prune_cases_dev.jsonl"
    if not dev.exists():
        dev = Path("/work/shared/bench/prune_cases_dev.jsonl")
    yield "dev", [(str(c["id"]), str(c["text"]), str(c["goal"]), "code") for c in _jsonl(dev)]
    extra: list[Case] = []
    for p in sorted((REPO / "bench" / "data").glob("*.jsonl")):
        extra += [(f"{p.name}:{c['id']}", str(c["text"]), str(c["goal"]), "code") for c in _jsonl(p)]
    yield "extra", extra
    mixed: list[Case] = []
    for p in sorted((REPO / "bench" / "data" / "mixed").glob("*.jsonl.gz")):
        for c in _jsonl(p):
            declared = call_hints("Bash", {"command": str(c["tool"])})[1]
            mixed.append((f"{p.name}:{c['id']}", str(c["text"]), str(c["goal"]), declared))
    yield "mixed", mixed
    if with_speed:
        import prune_speed as ps

        speed: list[Case] = []
        makers = {
            "code": ps.code_corpus,
            "logs": ps.log_corpus,
            "json": ps.json_corpus,
            "search": ps.search_corpus,
            "diff": ps.diff_corpus,
        }
        for kind, make in makers.items():
            for size in (100_000, 1_000_000):
                speed.append(
                    (f"{kind}:{size}", make(size), ps.GOAL, kind if kind in ("code", "logs") else None)
                )
        yield "speed", speed


def prune(text: str, goal: str, declared: str | None, keep: float | None) -> str:
    from sidecar.pruning.backends.heuristic import HeuristicBackend
    from sidecar.pruning.engine.kinds import detect_kind
    from sidecar.pruning.render import render
    from sidecar.pruning.types import PruneOptions, PruneRequest

    kind = detect_kind(text, declared)  # type: ignore[arg-type]
    req = PruneRequest(
        text=text, goal=goal, source_type=kind, prune_id=PRUNE_ID, options=PruneOptions(keep_ratio=keep)
    )
    sel = asyncio.run(HeuristicBackend().prune(req))
    out = render(text.split("\n"), sel.keep, PRUNE_ID, annotate_lines=False, include_markers=True).text
    return f"{kind}\n{out}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default=str(REPO), help="checkout to import sidecar from")
    ap.add_argument("--keeps", default="none,0.5,0.3,0.2")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="print one digest per case and keep")
    a = ap.parse_args()
    _setup(Path(a.src).resolve())
    keeps = [None if k == "none" else float(k) for k in a.keeps.split(",")]
    total = hashlib.sha256()
    for name, cases in case_sets(not a.no_speed):
        h = hashlib.sha256()
        t0 = time.process_time()
        for cid, text, goal, declared in cases:
            for keep in keeps:
                out = prune(text, goal, declared, keep).encode("utf-8", "surrogatepass")
                h.update(f"{cid}\x00{keep}\x00{len(out)}\x00".encode())
                h.update(out)
                if a.verbose:
                    print(f"  {hashlib.sha256(out).hexdigest()[:16]} {keep} {cid}")
        total.update(f"{name}:{h.hexdigest()}\n".encode())
        cpu = time.process_time() - t0
        print(f"{name:<6} {len(cases):>4} cases  {h.hexdigest()}  ({cpu:.1f} s CPU)", flush=True)
    import sidecar

    print(f"all                {total.hexdigest()}  (sidecar from {Path(sidecar.__file__).parent.parent})")


if __name__ == "__main__":
    main()
