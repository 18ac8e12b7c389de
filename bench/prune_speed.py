#!/usr/bin/env python3
"""Heuristic pruning speed on one core: 10 KB, 100 KB and 1 MB of code, logs, JSON, search results, diffs.

usage: prune_speed.py [--runs N] [--keep R] [--kinds code,logs,json,search,diff]

Code is real Python taken from the installed packages (the venv's site-packages, sorted paths,
so the input is the same on every run); logs are generated deterministically (seeded): service
records with timestamps and levels, repeated health checks, progress bars, ANSI colours, a few
warnings and Python tracebacks; JSON is a generated API answer (an array of similar records), search
results are ``path:line:text`` lines over the code corpus, the diff changes every 40th line of it.
Each timing includes kind detection (the JSON parse, the structure sample), as the service runs it.
Prints wall p50/p90 and CPU p50 in ms per size, and wall ms per 100 KB
(flat = linear). On a shared machine the CPU column is the fairer one-core figure.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sidecar.pruning.backends.heuristic import HeuristicBackend
from sidecar.pruning.engine.kinds import detect_kind
from sidecar.pruning.types import PruneOptions, PruneRequest, SourceType

SIZES = {"10KB": 10_000, "100KB": 100_000, "1MB": 1_000_000}
GOAL = "Fix the retry of requests when the connection pool is closed; keep the timeout handling"


def code_corpus(size: int) -> str:
    """Concatenate real .py files from site-packages until ``size`` characters."""
    site = next(p for p in sys.path if p.endswith("site-packages"))
    parts: list[str] = []
    total = 0
    for path in sorted(Path(site).glob("*/**/*.py")):
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        parts.append(text)
        total += len(text)
        if total >= size:
            break
    return "".join(parts)[:size]


def log_corpus(size: int) -> str:
    """Generate a realistic service log of ``size`` characters (seeded, so always the same)."""
    rnd = random.Random(42)
    services = ["api", "worker", "scheduler", "db-pool", "cache"]
    lines: list[str] = []
    total = 0
    t = 1_700_000_000
    while total < size:
        t += rnd.randint(0, 3)
        ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
        r = rnd.random()
        svc = rnd.choice(services)
        if r < 0.45:
            line = f"{ts} INFO  [{svc}] GET /healthz 200 {rnd.randint(1, 9)}ms"
        elif r < 0.7:
            line = f"{ts} DEBUG [{svc}] request id={rnd.getrandbits(64):016x} user={rnd.randint(1, 999)} ok"
        elif r < 0.8:
            batch = rnd.randint(1, 10**6)
            line = f"\x1b[32m{ts} INFO\x1b[0m  [{svc}] processed batch {batch} in {rnd.random():.3f}s"
        elif r < 0.9:
            pct = rnd.randint(0, 100)
            line = f"Downloading layer {rnd.getrandbits(32):08x}: [{'#' * (pct // 5):<20}] {pct}%"
        elif r < 0.97:
            line = f"{ts} WARN  [{svc}] connection pool nearly full ({rnd.randint(80, 99)}%), retrying"
        else:
            line = "\n".join(
                [
                    f"{ts} ERROR [{svc}] request failed: connection pool closed",
                    "Traceback (most recent call last):",
                    '  File "/srv/app/pool.py", line 211, in acquire',
                    "    conn = self._queue.get(timeout=self.timeout)",
                    '  File "/srv/app/retry.py", line 88, in call',
                    "    return fn(*args)",
                    "ConnectionError: pool is closed",
                ]
            )
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines)[:size]


def json_corpus(size: int) -> str:
    """Generate a pretty-printed API answer of about ``size`` characters: an array of similar records."""
    rnd = random.Random(7)
    items: list[dict[str, object]] = []
    total = 0
    while total < size:
        k = len(items)
        item = {
            "id": k,
            "name": f"pool-{k}",
            "status": "error" if rnd.random() < 0.01 else "ok",
            "retries": rnd.randint(0, 5),
            "timeout_ms": rnd.choice([500, 1000, 2000]),
            "tags": [rnd.choice(["db", "api", "cache"]) for _ in range(3)],
            "owner": {"team": rnd.choice(["core", "infra"]), "email": f"dev{k}@example.com"},
        }
        items.append(item)
        total += len(json.dumps(item, indent=2)) + 4
    return json.dumps({"count": len(items), "items": items}, indent=2)


def search_corpus(size: int) -> str:
    """``rg -n`` output over the code corpus: every line holding ``self``, as path:line:text."""
    out: list[str] = []
    total = 0
    for k, line in enumerate(code_corpus(size * 4).split("\n")):
        if "self" in line:
            entry = f"pkg/mod{k // 400}.py:{k % 400 + 1}:{line}"
            out.append(entry)
            total += len(entry) + 1
            if total >= size:
                break
    return "\n".join(out)


def diff_corpus(size: int) -> str:
    """A unified diff of the code corpus against itself with every 40th line changed."""
    old = code_corpus(size // 2).split("\n")
    new = [line + "  # changed" if k % 40 == 0 else line for k, line in enumerate(old)]
    diff = difflib.unified_diff(old, new, "a/pkg/all.py", "b/pkg/all.py", lineterm="", n=3)
    return "\n".join(["diff --git a/pkg/all.py b/pkg/all.py", *diff])[:size]


def time_one(
    text: str, source_type: SourceType | None, runs: int, keep: float | None
) -> tuple[list[float], list[float]]:
    backend = HeuristicBackend()
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        # As the service does: the tool's hint, refined from the text (JSON parsed, structure sampled).
        kind = detect_kind(text, source_type)
        req = PruneRequest(
            text=text, goal=GOAL, source_type=kind, prune_id="0" * 32, options=PruneOptions(keep_ratio=keep)
        )
        asyncio.run(backend.prune(req))
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--keep", type=float, default=None)
    ap.add_argument("--kinds", default="", help="comma-separated subset of code,logs,json,search,diff")
    a = ap.parse_args()
    head = f"{'input':<6} {'size':>6} {'lines':>7} {'p50 ms':>8} {'p90 ms':>8} {'cpu p50':>8} {'ms/100KB':>9}"
    print(head)
    corpora: dict[SourceType, Callable[[int], str]] = {
        "code": code_corpus,
        "logs": log_corpus,
        "json": json_corpus,
        "search": search_corpus,
        "diff": diff_corpus,
    }
    for kind, make in corpora.items():
        if a.kinds and kind not in a.kinds.split(","):
            continue
        for label, size in SIZES.items():
            text = make(size)
            runs = a.runs if size < 1_000_000 else max(5, a.runs // 2)
            # code and logs are declared as the tool hint would; the structural kinds come from the text
            hint: SourceType | None = kind if kind in ("code", "logs") else None
            wall, cpu = time_one(text, hint, runs, a.keep)
            ts = sorted(wall)
            p50 = statistics.median(ts)
            c50 = statistics.median(cpu)
            p90 = ts[min(len(ts) - 1, int(len(ts) * 0.9))]
            lines = text.count("\n") + 1
            per = p50 * 100_000 / len(text)
            print(f"{kind:<6} {label:>6} {lines:>7} {p50:>8.1f} {p90:>8.1f} {c50:>8.1f} {per:>9.1f}")


if __name__ == "__main__":
    main()
