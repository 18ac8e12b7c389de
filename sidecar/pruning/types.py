"""The values that cross the pruning layer: requests, selections, outcomes, stats, recover results.

Every other pruning module imports its types from here; this module imports only the kernel's
``SourceType``, so it can never be part of an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from sidecar.config import SourceType

__all__ = [
    "Annotation",
    "Decision",
    "LineRange",
    "Observer",
    "PruneOptions",
    "PruneOutcome",
    "PruneRequest",
    "PruneStats",
    "PruneTextStats",
    "PruningHealth",
    "RecoverMetadata",
    "RecoverResult",
    "Recorder",
    "RequestRecord",
    "SegmentRecord",
    "SegmentStatus",
    "Selection",
    "SourceType",
]


class PruneOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How much to prune. ``keep_ratio`` wins over ``max_prune_ratio`` when set."""

    keep_ratio: float | None = None  # target share of tokens kept, measured on the output, markers included
    max_prune_ratio: float = 0.9  # at most this share of the lines is pruned
    min_keep_lines: int = 8  # never keep fewer lines than this (or the whole text, when shorter)
    timeout_ms: int = 1500  # a backend slower than this is abandoned (the manager falls back)
    annotate_lines: bool = False  # prefix kept lines with their original line numbers
    include_markers: bool = True  # replace each pruned run with one marker line


class PruneRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One pruning call, as a backend sees it."""

    text: str
    goal: str
    source_type: SourceType
    options: PruneOptions
    prune_id: str  # the id that markers will carry; backends need its length to budget markers


class Selection(msgspec.Struct, frozen=True, kw_only=True):
    """What a backend decided: one flag per line of ``text.split("\\n")``."""

    keep: list[bool]
    backend: str
    reranker_input_tokens: int = 0  # tokens sent to a paid reranker (cost is computed from this)
    warnings: list[str] = msgspec.field(default_factory=list)


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """What the manager decided for one call: the lines to keep, who chose them, and how it went."""

    keep: list[bool]
    backend: str  # the backend whose selection is returned ("heuristic" after a fallback)
    used_fallback: bool
    deepinfra_selected: bool  # the call was meant for DeepInfra (counts in calls_deepinfra)
    deepinfra_called: bool  # an HTTP call to DeepInfra was attempted
    reranker_input_tokens: int
    elapsed_ms: float
    warnings: list[str]


class Annotation(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # always "pruned_block"
    original_start_line: int  # 1-based, inclusive
    original_end_line: int  # 1-based, inclusive
    pruned_line_count: int
    reason: str
    marker: str  # the marker line exactly as it appears in pruned_text


class PruneTextStats(msgspec.Struct, frozen=True, kw_only=True):
    """Figures of one pruning call: backend, lines and tokens before and after, time, fallback, cost."""

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


class PruneStats(PruneTextStats, frozen=True, kw_only=True):
    """Per-call figures: the public ones, plus what the sidecar's own aggregates and spans need."""

    cache_hit: bool = False
    source_type: str = "code"
    deepinfra_selected: bool = False  # the call was meant for DeepInfra (aggregated as calls_deepinfra)


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
    cache_backend: str = "memory"  # "redis" when cache.url selects the shared store
    redis_errors: int = 0  # failed Redis operations (each served by the in-process stores)
    redis_fallback_active: bool = False  # Redis skipped (a failure's grace or an outage): in-process only
    calls_shed: int = 0  # texts kept whole because more than pruning's budget was already queued (overload)


Observer = Callable[[PruneOutcome], None]


SegmentStatus = Literal["pruned", "unchanged", "late", "failed"]


class SegmentRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One segment of a chat request, as the pruning middleware handled it (for the dashboard).

    ``text`` and ``pruned_text`` are references to strings the request already holds, not copies; a
    recorder must drop them unless it was told to keep text (it is tool output: possibly secret).
    """

    tool_name: str | None
    kind: str  # tool_output | user_text
    source_type: str  # code | logs | docs: as pruned (declared by the tool call, or detected)
    status: SegmentStatus  # pruned: rewritten in the body sent upstream; late: not done by the deadline
    tokens_before: int
    tokens_after: int  # == tokens_before unless pruned
    tokens_saved: int  # 0 unless pruned; sums to the middleware's tokens_saved_total
    backend: str
    used_fallback: bool
    cache_hit: bool
    latency_ms: float
    original_lines: int
    cut: list[tuple[int, int]]  # pruned line ranges, 1-based inclusive, original numbering (metadata)
    text: str
    pruned_text: str


class RequestRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One chat request that had prunable segments: what the recorder hook receives, once per request."""

    path: str  # without the query string
    model: str | None  # the body's "model"
    user_agent: str  # the raw header ("" when absent): reduce it before keeping it
    title: str  # the X-Title header some agents send (Cline), raw ("" when absent)
    added_ms: float  # the time pruning added to this request
    segments: list[SegmentRecord]


Recorder = Callable[[RequestRecord], None]
