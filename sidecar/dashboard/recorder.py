"""The dashboard's memory: bounded, in-process history of what the pruning middleware did.

    pruning middleware --RequestRecord (once per request with segments)--> SavingsRecorder.record
        -> totals (the "savings" section of /sidecar/health): tokens saved, money saved raw and cache-aware
        -> series by (path, agent, tool, kind, model, backend): the page's breakdowns, /sidecar/metrics labels
        -> per-minute buckets for the chart (``dashboard.history_minutes`` of them)
        -> the last ``dashboard.recent_segments`` segments: sizes, kept/cut line ranges, timings
        -> a histogram of the time pruning added per request

Bounded whatever the traffic: buckets and recent segments are fixed-size deques, and each label keeps at
most 64 distinct values (later ones are counted as "other") and there are at most 1000 label combinations
(later ones count under "other" everywhere), so a client inventing model or tool names cannot grow memory
or the Prometheus series without bound.

Privacy: the agent is reduced to ``product/version`` from the first User-Agent token (or the X-Title an
agent such as Cline sends), stripped of anything but letters, digits and ``._-/ ``; label values are
truncated and never hold an ``@``. Tool output and pruned text are kept only with ``dashboard.show_text``
(off by default), truncated to ``dashboard.max_text_chars``.

Consistency: the tokens saved recorded here are exactly those the middleware counts in its
``tokens_saved_total`` (segments rewritten in the body sent upstream), so the page, /sidecar/health and
/sidecar/metrics agree.
"""

from __future__ import annotations

import re
import time
from collections import deque

import msgspec

from sidecar.config import DashboardConfig
from sidecar.dashboard.pricing import Estimate, PriceTable
from sidecar.pruning.types import RequestRecord, SegmentRecord
from sidecar.telemetry.metrics import PRUNE_BUCKETS, LocalHistogram

MAX_LABEL_VALUES = 64
MAX_SERIES = 1000  # label combinations; later ones are counted under every label "other"
DIMENSIONS = ("path", "agent", "tool", "kind", "model", "backend")
SeriesKey = tuple[str, str, str, str, str, str]  # in DIMENSIONS order
OTHER = "other"
_UNSAFE = re.compile(r"[^A-Za-z0-9._/ -]+")
_RUNTIMES = frozenset({"python", "mozilla"})


class SavingsHealth(msgspec.Struct, frozen=True, kw_only=True):
    """The "savings" section of /sidecar/health: what the pruned requests saved, in tokens and money."""

    requests: int  # chat requests with segments
    segments: int  # segments done by the deadline (pruned or left as they were)
    segments_pruned: int
    tokens_before: int
    tokens_saved: int  # equals middleware.tokens_saved_total
    tokens_saved_on_repeats: int  # saved on segments pruned before (priced as cached reads, cache-aware)
    tokens_saved_unpriced: int  # saved for models without a price (left out of the money figures)
    usd_saved_raw: float  # every saved token at its model's input price
    usd_saved_cache_aware: float  # repeats at the cached-read price
    text_shown: bool  # dashboard.show_text: the page shows tool output


class Series(msgspec.Struct, kw_only=True):
    """Aggregates of one label combination."""

    segments: int = 0
    segments_pruned: int = 0
    tokens_before: int = 0
    tokens_saved: int = 0
    usd_raw: float = 0.0
    usd_cache_aware: float = 0.0


class Breakdown(msgspec.Struct, frozen=True, kw_only=True):
    """One row of a breakdown table: a label value and its aggregates."""

    name: str
    segments: int
    segments_pruned: int
    tokens_before: int
    tokens_saved: int
    usd_raw: float
    usd_cache_aware: float


class Bucket(msgspec.Struct, kw_only=True, array_like=True):
    """One minute of history, sent as ``[t, saved, before, segments_pruned, usd_raw, usd_cache_aware]``."""

    t: int  # the minute's start, Unix seconds
    tokens_saved: int = 0
    tokens_before: int = 0
    segments_pruned: int = 0
    usd_raw: float = 0.0
    usd_cache_aware: float = 0.0


class RecentSegment(msgspec.Struct, frozen=True, kw_only=True):
    """One recent segment as the page lists it: metadata, and text only when dashboard.show_text is on."""

    t: float  # Unix seconds
    path: str
    agent: str
    model: str
    tool: str
    kind: str
    source_type: str
    status: str  # pruned | unchanged | late | failed
    backend: str
    fallback: bool
    cache_hit: bool
    latency_ms: float
    tokens_before: int
    tokens_after: int
    tokens_saved: int
    usd_raw: float | None  # None: the model has no price
    usd_cache_aware: float | None
    original_lines: int
    cut: list[tuple[int, int]]  # pruned line ranges, 1-based inclusive
    text: str | None = None
    pruned_text: str | None = None
    text_truncated: bool = False


def clean_label(value: str, limit: int = 64) -> str:
    """Return ``value`` as a safe, short label: letters, digits and ``._-/ `` only, no ``@`` part."""
    if "@" in value:
        return OTHER  # an email address (or a user@host URL) has no place in a label
    cleaned = _UNSAFE.sub("", value).strip()[:limit]
    return cleaned or OTHER


def agent_name(user_agent: str, title: str = "") -> str:
    """Reduce an agent's headers to ``product/version``: its X-Title, else the User-Agent's first token."""
    if title.strip():
        return clean_label(title, 32)
    tokens = [t for t in user_agent.split() if "/" in t or t.isalnum()]
    # A runtime named first ("Python/3.11 aiohttp/3.14", "Mozilla/5.0 ...") says less than what follows it.
    while len(tokens) > 1 and tokens[0].split("/", 1)[0].lower() in _RUNTIMES:
        tokens.pop(0)
    first = tokens[0] if tokens else ""
    if not first:
        return "unknown"
    product, _, version = first.partition("/")
    product, version = clean_label(product, 32), _UNSAFE.sub("", version)[:16]
    if product == OTHER:
        return OTHER
    return f"{product}/{version}" if version else product


class _Labels:
    """Per-dimension caps: the first MAX_LABEL_VALUES distinct values are kept, later ones become "other"."""

    def __init__(self) -> None:
        self._seen: list[set[str]] = [set() for _ in DIMENSIONS]

    def key(self, values: tuple[str, str, str, str, str, str]) -> SeriesKey:
        out: list[str] = []
        for seen, value in zip(self._seen, values, strict=True):
            if value not in seen:
                if len(seen) >= MAX_LABEL_VALUES:
                    value = OTHER
                else:
                    seen.add(value)
            out.append(value)
        return (out[0], out[1], out[2], out[3], out[4], out[5])


class SavingsRecorder:
    """Records what the pruning middleware did; read by the page, /sidecar/health and /sidecar/metrics."""

    def __init__(self, config: DashboardConfig, prices: PriceTable) -> None:
        self.config = config
        self.prices = prices
        self.series: dict[SeriesKey, Series] = {}
        self.buckets: deque[Bucket] = deque(maxlen=config.history_minutes)
        self.recent: deque[RecentSegment] = deque(maxlen=config.recent_segments)
        self.added = LocalHistogram(
            "sidecar.prune.added", "s", "Time pruning added to a chat request", PRUNE_BUCKETS
        )
        self._added_series = self.added.series(())
        self._labels = _Labels()
        self.requests = self.segments = self.segments_pruned = 0
        self.tokens_before = self.tokens_saved = self.saved_on_repeats = self.unpriced = 0
        self.usd_raw = self.usd_cache_aware = 0.0

    def record(self, request: RequestRecord) -> None:
        """Count one request's segments (the pruning middleware's recorder hook)."""
        now = time.time()
        self.requests += 1
        self.added.add(self._added_series, request.added_ms / 1000.0)
        agent = agent_name(request.user_agent, request.title)
        # Vertex names a version after "@": the model, not an address.
        model = clean_label(request.model.split("@", 1)[0]) if request.model else "unknown"
        path = clean_label(request.path, 96)
        bucket = self._bucket(now)
        for seg in request.segments:
            pruned = seg.status == "pruned"
            estimate = (
                self.prices.estimate(request.model, seg.tokens_saved, seg.cache_hit) if pruned else None
            )
            self._segment(seg, now, path, agent, model, bucket, estimate)

    def _segment(
        self,
        seg: SegmentRecord,
        now: float,
        path: str,
        agent: str,
        model: str,
        bucket: Bucket,
        estimate: Estimate | None,
    ) -> None:
        done = seg.status in ("pruned", "unchanged")
        pruned = seg.status == "pruned"
        tool = clean_label(seg.tool_name) if seg.tool_name else "-"
        if done:
            key = self._labels.key((path, agent, tool, seg.source_type, model, seg.backend or "-"))
            series = self.series.get(key)
            if series is None:
                if len(self.series) >= MAX_SERIES:
                    key = (OTHER,) * 6
                series = self.series.get(key) or self.series.setdefault(key, Series())
            series.segments += 1
            series.tokens_before += seg.tokens_before
            self.segments += 1
            self.tokens_before += seg.tokens_before
            bucket.tokens_before += seg.tokens_before
            if pruned:
                series.segments_pruned += 1
                series.tokens_saved += seg.tokens_saved
                self.segments_pruned += 1
                self.tokens_saved += seg.tokens_saved
                self.saved_on_repeats += seg.tokens_saved if seg.cache_hit else 0
                bucket.tokens_saved += seg.tokens_saved
                bucket.segments_pruned += 1
                if estimate is None:
                    self.unpriced += seg.tokens_saved
                else:
                    series.usd_raw += estimate.raw_usd
                    series.usd_cache_aware += estimate.cache_aware_usd
                    self.usd_raw += estimate.raw_usd
                    self.usd_cache_aware += estimate.cache_aware_usd
                    bucket.usd_raw += estimate.raw_usd
                    bucket.usd_cache_aware += estimate.cache_aware_usd
        self.recent.append(self._recent(seg, now, path, agent, model, tool, estimate))

    def _recent(
        self,
        seg: SegmentRecord,
        now: float,
        path: str,
        agent: str,
        model: str,
        tool: str,
        estimate: Estimate | None,
    ) -> RecentSegment:
        text = pruned_text = None
        truncated = False
        if self.config.show_text:
            limit = self.config.max_text_chars
            text, pruned_text = seg.text[:limit], seg.pruned_text[:limit]
            truncated = len(seg.text) > limit or len(seg.pruned_text) > limit
        return RecentSegment(
            t=round(now, 3),
            path=path,
            agent=agent,
            model=model,
            tool=tool,
            kind=seg.kind,
            source_type=seg.source_type,
            status=seg.status,
            backend=seg.backend or "-",
            fallback=seg.used_fallback,
            cache_hit=seg.cache_hit,
            latency_ms=round(seg.latency_ms, 3),
            tokens_before=seg.tokens_before,
            tokens_after=seg.tokens_after,
            tokens_saved=seg.tokens_saved,
            usd_raw=None if estimate is None else estimate.raw_usd,
            usd_cache_aware=None if estimate is None else estimate.cache_aware_usd,
            original_lines=seg.original_lines,
            cut=list(seg.cut),
            text=text,
            pruned_text=pruned_text,
            text_truncated=truncated,
        )

    def _bucket(self, now: float) -> Bucket:
        minute = int(now // 60) * 60
        if self.buckets and self.buckets[-1].t >= minute:
            return self.buckets[-1]  # this minute (or a clock that stepped back: the latest bucket)
        bucket = Bucket(t=minute)
        self.buckets.append(bucket)
        return bucket

    def health(self) -> SavingsHealth:
        """Return the totals since start-up."""
        return SavingsHealth(
            requests=self.requests,
            segments=self.segments,
            segments_pruned=self.segments_pruned,
            tokens_before=self.tokens_before,
            tokens_saved=self.tokens_saved,
            tokens_saved_on_repeats=self.saved_on_repeats,
            tokens_saved_unpriced=self.unpriced,
            usd_saved_raw=round(self.usd_raw, 9),
            usd_saved_cache_aware=round(self.usd_cache_aware, 9),
            text_shown=self.config.show_text,
        )

    def breakdown(self, dimension: str) -> list[Breakdown]:
        """Return the aggregates by one dimension, most tokens saved first."""
        index = DIMENSIONS.index(dimension)
        rows: dict[str, Series] = {}
        for key, s in list(self.series.items()):
            row = rows.get(key[index])
            if row is None:
                row = rows[key[index]] = Series()
            row.segments += s.segments
            row.segments_pruned += s.segments_pruned
            row.tokens_before += s.tokens_before
            row.tokens_saved += s.tokens_saved
            row.usd_raw += s.usd_raw
            row.usd_cache_aware += s.usd_cache_aware
        ordered = sorted(rows.items(), key=lambda kv: (-kv[1].tokens_saved, -kv[1].tokens_before, kv[0]))
        return [
            Breakdown(
                name=name,
                segments=s.segments,
                segments_pruned=s.segments_pruned,
                tokens_before=s.tokens_before,
                tokens_saved=s.tokens_saved,
                usd_raw=round(s.usd_raw, 9),
                usd_cache_aware=round(s.usd_cache_aware, 9),
            )
            for name, s in ordered
        ]
