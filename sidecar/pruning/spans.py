"""The ``prune`` span: one per pruning call, child of the request's span, metadata attributes only.

OpenTelemetry is looked up lazily: spans are no-ops until telemetry sets a provider, and not importing
the API at all keeps the CLI's start-up ~30 ms shorter (it runs once per case in the quality benchmark).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from sidecar.pruning.types import PruneOutcome

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

_tracer: Tracer | None = None


def get_tracer() -> Tracer | None:
    """Return the tracer once OpenTelemetry is loaded (sidecar.telemetry imports it), else None."""
    global _tracer
    if _tracer is None and "opentelemetry.trace" in sys.modules:
        from opentelemetry import trace

        _tracer = trace.get_tracer("sidecar")
    return _tracer


def span_attributes(outcome: PruneOutcome) -> dict[str, str | bool | int | float]:
    """Return the ``prune`` span's attributes for an outcome (README: span attributes)."""
    s = outcome.stats
    return {
        "sidecar.prune.id": outcome.prune_id,
        "sidecar.prune.backend": s.backend,
        "sidecar.prune.used_fallback": s.used_fallback,
        "sidecar.prune.tokens_before": s.tokens_est_before,
        "sidecar.prune.tokens_after": s.tokens_est_after,
        "sidecar.prune.tokens_saved": s.tokens_saved_est,
        "sidecar.prune.pruned_lines": s.pruned_lines,
        "sidecar.prune.latency_ms": s.latency_ms,
        "sidecar.prune.cost_usd": s.cost_estimated_usd,
        "sidecar.prune.cache_hit": s.cache_hit,
        "sidecar.prune.source_type": s.source_type,
        "sidecar.prune.warning_count": len(outcome.warnings),
    }
