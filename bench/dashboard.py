"""What the dashboard costs: the recorder hook per chat request, and rendering its page data and /metrics.

Usage: .venv/bin/python bench/dashboard.py [--n 20000]

In process, CPU time (steadier than wall time on a shared machine). The recorder runs once per chat
request that had prunable segments (requests without any never reach it); rendering runs once per page
refresh (2 s) or scrape. The render rows fill the recorder to 10, 200 and 1000
label combinations (1000 is the cap), with 1440 per-minute buckets and 50 recent segments.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec

from sidecar.app import build_app
from sidecar.config import DashboardConfig, PricingConfig, load_config
from sidecar.dashboard.metrics import Snapshot, encode
from sidecar.dashboard.pricing import PriceTable
from sidecar.dashboard.recorder import MAX_LABEL_VALUES, MAX_SERIES, Bucket, SavingsRecorder
from sidecar.dashboard.routes import Dashboard, DashboardAccess
from sidecar.keys import HEALTH_SOURCES
from sidecar.pruning.types import RequestRecord, SegmentRecord


def segment(i: int = 0) -> SegmentRecord:
    return SegmentRecord(
        tool_name=f"tool_{i % MAX_LABEL_VALUES}", kind="tool_output", source_type="code", status="pruned",
        tokens_before=6000, tokens_after=2000, tokens_saved=4000, backend="heuristic", used_fallback=False,
        cache_hit=i % 2 == 0, latency_ms=0.2, original_lines=400, cut=[(10, 100), (120, 390)],
        text="x" * 24000, pruned_text="y" * 8000,
    )  # fmt: skip


def request(segments: int, i: int = 0) -> RequestRecord:
    return RequestRecord(
        path="/v1/chat/completions",
        model=f"claude-sonnet-4-5-{(i // MAX_LABEL_VALUES) % MAX_LABEL_VALUES}",
        user_agent="claude-cli/2.1.4 (external, cli)",
        title="",
        added_ms=1.0,
        segments=[segment(i + k) for k in range(segments)],
    )


def per_call_us(fn, n: int) -> float:
    """Median over 5 rounds of the CPU microseconds of one call."""
    rounds = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(n):
            fn()
        rounds.append((time.process_time() - started) / n * 1e6)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="recorder calls per round")
    args = parser.parse_args()

    print("| recorder.record (per chat request) | CPU µs |")
    print("|---|---|")
    for segments in (1, 3, 10):
        rec = SavingsRecorder(DashboardConfig(), PriceTable(PricingConfig()))
        req = request(segments)
        cost = per_call_us(lambda rec=rec, req=req: rec.record(req), args.n)
        print(f"| {segments} segment{'s' if segments > 1 else ''} | {cost:.1f} |")

    print()
    print(
        "| render, CPU ms | dashboard.json | /metrics: snapshot (loop) | encode (thread) | /metrics bytes |"
    )
    print("|---|---|---|---|---|")
    for combos in (10, 200, MAX_SERIES):
        app = build_app(load_config(env={}), installers=[])
        rec = SavingsRecorder(DashboardConfig(), PriceTable(PricingConfig()))
        for i in range(combos):
            rec.record(request(1, i))
        now = int(time.time() // 60) * 60
        rec.buckets.clear()
        rec.buckets.extend(Bucket(t=now - 60 * k, tokens_saved=k) for k in range(1440, 0, -1))
        app[HEALTH_SOURCES]["savings"] = rec.health
        dashboard = Dashboard(app, rec, DashboardAccess.for_config(load_config(env={}), None))
        view = per_call_us(lambda d=dashboard: msgspec.json.encode(d.view()), 20) / 1000
        snap = per_call_us(lambda a=app, r=rec: Snapshot(a, r), 20) / 1000
        snapshot = Snapshot(app, rec)
        enc = per_call_us(lambda s=snapshot: encode(s, ""), 5) / 1000
        size = len(encode(snapshot, "")[0])
        print(f"| {len(rec.series)} label combinations | {view:.2f} | {snap:.2f} | {enc:.1f} | {size:,} |")


if __name__ == "__main__":
    main()
