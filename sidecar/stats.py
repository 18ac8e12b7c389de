"""Process-wide counters for the proxy path, reported by /sidecar/health."""

from __future__ import annotations

import time
from collections import Counter

import msgspec


class ProxyHealth(msgspec.Struct, frozen=True, kw_only=True):
    uptime_s: float
    ready: bool
    draining: bool
    requests_total: int
    requests_in_flight: int
    upstream_requests: int
    upstream_errors: dict[str, int]
    upstream_status: dict[str, int]
    requests_rejected: dict[str, int]
    pruned_requests: int
    tokens_saved_total: int


class ProxyStats:
    """Counters touched on the hot path: plain integers, no locks (one event loop)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.ready = False
        self.draining = False
        self.requests_total = 0
        self.in_flight = 0
        self.upstream_requests = 0
        # error class -> count: connect, timeout, disconnect_mid_stream, client_disconnect; stale_connection
        # is a reused connection the upstream had closed, the request resent once (its failure counts too)
        self.upstream_errors: Counter[str] = Counter()
        # status class -> count: 2xx, 3xx, 4xx, 5xx
        self.upstream_status: Counter[str] = Counter()
        # reason -> count: too_large, ...
        self.rejected: Counter[str] = Counter()
        self.pruned_requests = 0
        self.tokens_saved_total = 0

    def record_status(self, status: int) -> None:
        self.upstream_status[f"{status // 100}xx"] += 1

    def snapshot(self) -> ProxyHealth:
        return ProxyHealth(
            uptime_s=round(time.monotonic() - self.started, 3),
            ready=self.ready and not self.draining,
            draining=self.draining,
            requests_total=self.requests_total,
            requests_in_flight=self.in_flight,
            upstream_requests=self.upstream_requests,
            upstream_errors=dict(self.upstream_errors),
            upstream_status=dict(self.upstream_status),
            requests_rejected=dict(self.rejected),
            pruned_requests=self.pruned_requests,
            tokens_saved_total=self.tokens_saved_total,
        )
