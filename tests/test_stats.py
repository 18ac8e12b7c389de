"""Proxy counters and their /sidecar/health snapshot."""

from __future__ import annotations

import time

from sidecar.stats import ProxyStats


def test_a_fresh_process_is_not_ready_and_counts_nothing():
    snap = ProxyStats().snapshot()
    assert (snap.ready, snap.draining, snap.requests_total, snap.requests_in_flight) == (False, False, 0, 0)
    assert snap.upstream_errors == snap.upstream_status == snap.requests_rejected == {}
    assert snap.uptime_s >= 0


def test_ready_only_while_not_draining():
    stats = ProxyStats()
    stats.ready = True
    assert stats.snapshot().ready is True
    stats.draining = True
    snap = stats.snapshot()
    assert snap.ready is False and snap.draining is True


def test_status_classes_and_counters():
    stats = ProxyStats()
    for status in (200, 201, 204, 301, 404, 429, 500, 503):
        stats.record_status(status)
    stats.upstream_errors["connect"] += 2
    stats.rejected["too_large"] += 1
    stats.requests_total, stats.in_flight, stats.upstream_requests = 9, 1, 8
    stats.pruned_requests, stats.tokens_saved_total = 3, 1200
    snap = stats.snapshot()
    assert snap.upstream_status == {"2xx": 3, "3xx": 1, "4xx": 2, "5xx": 2}
    assert snap.upstream_errors == {"connect": 2} and snap.requests_rejected == {"too_large": 1}
    assert (snap.requests_total, snap.requests_in_flight, snap.upstream_requests) == (9, 1, 8)
    assert (snap.pruned_requests, snap.tokens_saved_total) == (3, 1200)


def test_a_snapshot_is_a_copy_and_uptime_grows():
    stats = ProxyStats()
    stats.record_status(200)
    snap = stats.snapshot()
    stats.record_status(200)
    stats.upstream_errors["timeout"] += 1
    assert snap.upstream_status == {"2xx": 1} and snap.upstream_errors == {}
    stats.started -= 2.5  # as if started earlier
    later = stats.snapshot()
    assert later.uptime_s >= 2.5 and later.uptime_s == round(later.uptime_s, 3)
    assert later.uptime_s <= time.monotonic() - stats.started + 0.001
