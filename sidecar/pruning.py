"""The pruning service: the one entry point the middleware, MCP server and CLI call.

    Pruner.prune(text, goal, ...)
      -> cache (SHA-256 of text, goal, source type, options, backend; concurrent identical calls share one run)
      -> PruningBackendManager (heuristic | deepinfra, fallback to heuristic in the same call)
      -> render (kept lines verbatim, one marker line per pruned run)
      -> recover store (original text by prune id)
      -> per-call stats and aggregates

Never raises on pruning failure: the worst case is an outcome that keeps everything,
with a warning. Only ``recover`` raises (PruneIdNotFound, InvalidRange).
"""

from __future__ import annotations

import msgspec

from .backends.base import PruneOptions, SourceType


class Annotation(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # always "pruned_block"
    original_start_line: int  # 1-based, inclusive
    original_end_line: int  # 1-based, inclusive
    pruned_line_count: int
    reason: str
    marker: str  # the marker line exactly as it appears in pruned_text


class PruneStats(msgspec.Struct, frozen=True, kw_only=True):
    backend: str
    original_lines: int
    kept_lines: int
    pruned_lines: int
    pruned_ratio: float
    tokens_est_before: int
    tokens_est_after: int
    tokens_saved_est: int
    elapsed_ms: float  # time spent in the backend(s)
    latency_ms: float  # end to end, cache included
    used_fallback: bool
    cost_estimated_usd: float
    cache_hit: bool = False
    source_type: str = "code"


class PruneOutcome(msgspec.Struct, frozen=True, kw_only=True):
    prune_id: str
    pruned_text: str
    annotations: list[Annotation]
    warnings: list[str]
    stats: PruneStats


class LineRange(msgspec.Struct, frozen=True, kw_only=True):
    start_line: int  # 1-based, inclusive, original numbering
    end_line: int


class RecoverMetadata(msgspec.Struct, frozen=True, kw_only=True):
    prune_id: str
    ranges: list[LineRange]
    line_numbering: str = "original"


class RecoverResult(msgspec.Struct, frozen=True, kw_only=True):
    raw_text: str
    metadata: RecoverMetadata


class PruningHealth(msgspec.Struct, frozen=True, kw_only=True):
    """Aggregates since start-up, as /sidecar/health and the MCP health tool report them."""

    backend: str
    calls_total: int
    calls_deepinfra: int
    fallbacks_deepinfra: int
    cost_estimated_total_usd: float
    tokens_before_total: int
    tokens_saved_total: int
    cache_hits: int
    cache_misses: int
    recover_store_entries: int
    recover_store_bytes: int
    deepinfra_circuit_open: bool


__all__ = [
    "Annotation",
    "LineRange",
    "PruneOptions",
    "PruneOutcome",
    "PruneStats",
    "PruningHealth",
    "RecoverMetadata",
    "RecoverResult",
    "SourceType",
]
