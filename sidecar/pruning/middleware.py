"""The pruning middleware: bulky tool output in chat requests is pruned on its way upstream.

    POST /v1/chat/completions | /chat/completions | /v1/messages | /v1/messages/count_tokens | /v1/responses
      -> read the body once (sidecar.proxy.read_body); compressed bodies are left alone
      -> sidecar.chat.segments.parse_chat (chat completions, messages, count_tokens: the same rewrite)
         or sidecar.chat.responses.parse_responses (Responses input items): tool outputs of at least
         min_chars_to_prune, each with its goal
         (bodies over 1 MiB are parsed, and later rewritten, on a worker thread; smaller ones take a turn)
      -> Pruner.prune for every segment, 32 at a time (sidecar.pruning.batch), under one deadline
         (pruning.deadline_ms); a numbered file read (sidecar.chat.numbered: Claude Code's Read) is
         pruned bare and numbered again
      -> sidecar.chat.segments.rewrite: only the pruned strings change, every other byte stays
      -> Forward.body and the X-Sidecar-* response headers, for the proxy handler

Fail-open: whatever goes wrong here (a body that is not a chat request, a pruner that raises or
hangs, a bug), the request goes upstream byte-identical and the agent gets the upstream's answer.
A segment not pruned by the deadline goes as it was; its pruning finishes in the background, so the
cache serves it on the next turn. Opt out per request with ``X-Sidecar-Prune: off``, globally with
``[pruning] enabled = false``.

Response headers, on every request to those paths: ``X-Sidecar-Tokens-Saved`` (estimated, 0 when
nothing was pruned), ``X-Sidecar-Backend`` (the backend that chose the kept lines, or that would
have), ``X-Sidecar-Fallback`` (``true`` when DeepInfra was selected but the heuristic served), and
``X-Sidecar-Prune-Ms`` (the time this middleware added).

Recorder hook (the dashboard): when the app holds ``PRUNE_RECORDER``, it is called once per request
that had segments, with a :class:`RequestRecord` (path, model, agent headers, one record per segment);
a recorder that raises is logged by class name and ignored.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter, deque

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from sidecar.chat.numbered import Numbered, split_numbered
from sidecar.chat.responses import parse_responses
from sidecar.chat.segments import ParsedChat, Segment, SegmentError, Style, parse_chat, rewrite
from sidecar.keys import CONFIG, HEALTH_SOURCES, STATS
from sidecar.proxy.forward import BodyUnreadable, forward_of, read_body
from sidecar.proxy.identity import caller_identity
from sidecar.proxy.paths import endpoint
from sidecar.pruning.batch import Job, PruneBatch
from sidecar.pruning.lifecycle import PRUNER
from sidecar.pruning.service import Pruner
from sidecar.pruning.types import PruneOutcome, Recorder, RequestRecord, SegmentRecord
from sidecar.tokens import estimate_tokens
from sidecar.turns import loop_turn

log = logging.getLogger("sidecar.pruning.middleware")

OFF_LOOP_BYTES = 1024 * 1024  # bodies this large are parsed and rewritten on a worker thread
_REWRITE_S_PER_BYTE = 15e-9  # measured: a 30 MB body with 10,000 replaced strings rewrites in 0.2-0.5 s

HEADER_PRUNE = "X-Sidecar-Prune"
HEADER_GOAL = "X-Sidecar-Goal"
_OFF = frozenset({"off", "0", "false", "no", "none"})
_LATENCY_WINDOW = 1024


class MiddlewareHealth(msgspec.Struct, frozen=True, kw_only=True):
    """The pruning middleware's aggregates since start-up (a section of /sidecar/health)."""

    requests_seen: int
    requests_pruned: int
    requests_skipped: dict[str, int]  # disabled, opted_out, compressed, no_segments
    requests_failed_open: dict[str, int]  # not_a_chat_body, or an exception class name
    segments_seen: int
    segments_pruned: int
    segments_late: int  # not pruned by the deadline: forwarded as they were
    tokens_before_total: int  # estimated tokens of the segments seen
    tokens_saved_total: int
    added_ms_p50: float  # over the last 1024 requests that had segments
    added_ms_p99: float


class MiddlewareStats:
    """Counters for the pruning middleware: plain integers on one event loop."""

    def __init__(self) -> None:
        self.seen = self.pruned = self.segments = self.segments_pruned = self.late = 0
        self.before = self.saved = 0
        self.skipped: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.added_ms: deque[float] = deque(maxlen=_LATENCY_WINDOW)

    def snapshot(self) -> MiddlewareHealth:
        ordered = sorted(self.added_ms)

        def pct(q: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3) if ordered else 0.0

        return MiddlewareHealth(
            requests_seen=self.seen,
            requests_pruned=self.pruned,
            requests_skipped=dict(self.skipped),
            requests_failed_open=dict(self.failed),
            segments_seen=self.segments,
            segments_pruned=self.segments_pruned,
            segments_late=self.late,
            tokens_before_total=self.before,
            tokens_saved_total=self.saved,
            added_ms_p50=pct(0.5),
            added_ms_p99=pct(0.99),
        )


MIDDLEWARE_STATS = web.AppKey("sidecar_pruning_middleware_stats", MiddlewareStats)
# Set by a component that wants every pruned request's records (sidecar.dashboard).
PRUNE_RECORDER: web.AppKey[Recorder] = web.AppKey("sidecar_prune_recorder")


class _Report:
    """What one request's pruning amounted to (for the response headers)."""

    __slots__ = ("saved", "backend", "fallback", "rewritten")

    def __init__(self, saved: int, backend: str, fallback: bool, rewritten: bool = False) -> None:
        self.saved, self.backend, self.fallback, self.rewritten = saved, backend, fallback, rewritten


def pruning_middleware() -> Middleware:
    """Prune the tool output of chat requests before the proxy handler forwards them."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        target = endpoint(request.method, request.path)
        app = request.app
        # count_tokens is rewritten exactly as the messages request with the same body, so the count the
        # agent gets is what it will be billed.
        if target is None or PRUNER not in app:
            return await handler(request)
        style = target.style
        stats = app[MIDDLEWARE_STATS]
        pruner = app[PRUNER]
        stats.seen += 1
        started = time.perf_counter()
        fwd = forward_of(request)
        previous = fwd.body
        try:
            report = await _prune_request(request, style, pruner, stats)
            if report is None:
                report = _Report(0, *_idle_backend(pruner))
        except BodyUnreadable:
            return await handler(request)  # read_body remembers the refusal: the proxy answers 413/408
        except Exception as exc:  # noqa: BLE001 - pruning is an optimisation, never a point of failure
            name = "not_a_chat_body" if isinstance(exc, SegmentError) else type(exc).__name__
            stats.failed[name] += 1
            log.warning("pruning skipped, request forwarded unchanged: %s", name)
            fwd.body = previous
            report = _Report(0, app[CONFIG].pruning.backend, False)
        added_ms = (time.perf_counter() - started) * 1000.0
        headers = fwd.response_headers
        headers["X-Sidecar-Tokens-Saved"] = str(report.saved)
        headers["X-Sidecar-Backend"] = report.backend
        headers["X-Sidecar-Fallback"] = "true" if report.fallback else "false"
        headers["X-Sidecar-Prune-Ms"] = f"{added_ms:.2f}"
        return await handler(request)

    return middleware


async def _prune_request(
    request: web.Request, style: Style, pruner: Pruner, stats: MiddlewareStats
) -> _Report | None:
    """Set Forward.body to the pruned body when something was pruned; return the header figures."""
    app = request.app
    config = app[CONFIG].pruning
    if not config.enabled:
        stats.skipped["disabled"] += 1
        return None
    if request.headers.get(HEADER_PRUNE, "").strip().lower() in _OFF:
        stats.skipped["opted_out"] += 1
        return None
    body = await read_body(request, app[CONFIG].server.max_body_bytes)
    if len(body) < config.min_chars_to_prune:
        # A JSON string never has more characters than its encoding has bytes: nothing here is big enough.
        stats.skipped["small_body"] += 1
        return None
    if request.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
        stats.skipped["compressed"] += 1
        return None
    started = time.perf_counter()
    goal = request.headers.get(HEADER_GOAL, "").strip() or None
    min_chars, user_text = config.min_chars_to_prune, config.prune_user_text
    if style == "responses":
        parse = functools.partial(
            parse_responses, body, min_chars=min_chars, goal_override=goal, prune_user_text=user_text
        )
    else:
        parse = functools.partial(
            parse_chat, body, style, min_chars=min_chars, goal_override=goal, prune_user_text=user_text
        )
    # A large body is decoded on a worker thread: the loop keeps serving (tens of ms per MB otherwise).
    if len(body) >= OFF_LOOP_BYTES:
        chat = await asyncio.to_thread(parse)
    else:
        await loop_turn()  # parsing is CPU-bound too: it waits its turn with the pruning steps
        chat = parse()
    if not chat.segments:
        stats.skipped["no_segments"] += 1
        return None
    # A numbered file read (Claude Code's Read) is pruned bare and numbered again by the renderer.
    numbered = [split_numbered(seg.text) if seg.kind == "tool_output" else None for seg in chat.segments]
    annotated = msgspec.structs.replace(pruner.default_options(), annotate_lines=True)
    jobs = [
        Job(seg.text, seg.goal, seg.source_type)
        if num is None
        else Job(num.bare, seg.goal, seg.source_type, annotated)
        for seg, num in zip(chat.segments, numbered, strict=True)
    ]
    batch = PruneBatch(pruner, jobs, caller=caller_identity(request.headers))
    # The deadline covers the rewrite too: about 15 ms per MB of body, kept back from the wait.
    reserve = min(len(body) * _REWRITE_S_PER_BYTE, config.deadline_ms / 3000.0)
    remaining = config.deadline_ms / 1000.0 - (time.perf_counter() - started) - reserve
    outcomes = await batch.wait(remaining)
    report = await _apply(request, chat, numbered, outcomes, pruner, stats)
    added_ms = (time.perf_counter() - started) * 1000.0
    stats.added_ms.append(added_ms)
    recorder = app.get(PRUNE_RECORDER)
    if recorder is not None:
        _record(recorder, request, chat, numbered, outcomes, report.rewritten, added_ms)
    return report


async def _apply(
    request: web.Request,
    chat: ParsedChat,
    numbered: list[Numbered | None],
    outcomes: list[PruneOutcome | None],
    pruner: Pruner,
    stats: MiddlewareStats,
) -> _Report:
    replacements: list[tuple[Segment, str]] = []
    saved = before = 0
    backends: set[str] = set()
    fallback = False
    for seg, num, outcome in zip(chat.segments, numbered, outcomes, strict=True):
        stats.segments += 1
        if outcome is None:
            stats.late += 1
            continue
        before += outcome.stats.tokens_est_before
        text = _final_text(outcome, num)
        if text == seg.text:
            continue
        backends.add(outcome.stats.backend)
        fallback = fallback or outcome.stats.used_fallback
        replacements.append((seg, text))
        saved += outcome.stats.tokens_saved_est
    stats.before += before
    if not replacements:
        return _Report(0, *_idle_backend(pruner))
    if len(chat.body) >= OFF_LOOP_BYTES:
        new_body = await asyncio.to_thread(rewrite, chat, replacements)
    else:
        await loop_turn()
        new_body = rewrite(chat, replacements)
    if len(new_body) >= len(chat.body):
        return _Report(0, *_idle_backend(pruner))
    forward_of(request).body = new_body
    stats.pruned += 1
    stats.segments_pruned += len(replacements)
    stats.saved += saved
    proxy_stats = request.app[STATS]
    proxy_stats.pruned_requests += 1
    proxy_stats.tokens_saved_total += saved
    return _Report(saved, ",".join(sorted(backends)), fallback, rewritten=True)


def _record(
    recorder: Recorder,
    request: web.Request,
    chat: ParsedChat,
    numbered: list[Numbered | None],
    outcomes: list[PruneOutcome | None],
    rewritten: bool,
    added_ms: float,
) -> None:
    """Hand the recorder one record of this request; a recorder that fails never fails the request."""
    try:
        model = chat.doc.get("model")
        recorder(
            RequestRecord(
                path=request.path,
                model=model if isinstance(model, str) else None,
                user_agent=request.headers.get("User-Agent", ""),
                title=request.headers.get("X-Title", ""),
                added_ms=added_ms,
                segments=[
                    _segment_record(seg, num, outcome, rewritten)
                    for seg, num, outcome in zip(chat.segments, numbered, outcomes, strict=True)
                ],
            )
        )
    except Exception as exc:  # noqa: BLE001 - the dashboard must never fail a request
        log.warning("prune recorder failed: %s", type(exc).__name__)


def _final_text(outcome: PruneOutcome, num: Numbered | None) -> str:
    """The text that replaces the segment: a numbered read gets its tail back after renumbering."""
    return outcome.pruned_text if num is None else outcome.pruned_text + num.tail


def _segment_record(
    seg: Segment, num: Numbered | None, outcome: PruneOutcome | None, rewritten: bool
) -> SegmentRecord:
    """Describe one segment as _apply treated it (pruned means: changed in the body sent upstream)."""
    if outcome is None:  # not pruned by the deadline (or failed): forwarded as it was
        tokens = estimate_tokens(seg.text)
        return SegmentRecord(
            tool_name=seg.tool_name,
            kind=seg.kind,
            source_type=seg.source_type or "auto",
            status="late",
            tokens_before=tokens,
            tokens_after=tokens,
            tokens_saved=0,
            backend="",
            used_fallback=False,
            cache_hit=False,
            latency_ms=0.0,
            original_lines=seg.text.count("\n") + 1,
            cut=[],
            text=seg.text,
            pruned_text=seg.text,
        )
    s = outcome.stats
    final = _final_text(outcome, num)
    pruned = rewritten and final != seg.text
    return SegmentRecord(
        tool_name=seg.tool_name,
        kind=seg.kind,
        source_type=s.source_type,
        status="pruned" if pruned else "unchanged",
        tokens_before=s.tokens_est_before,
        tokens_after=s.tokens_est_after if pruned else s.tokens_est_before,
        tokens_saved=s.tokens_saved_est if pruned else 0,
        backend=s.backend,
        used_fallback=s.used_fallback,
        cache_hit=s.cache_hit,
        latency_ms=s.latency_ms,
        original_lines=s.original_lines,
        cut=[(a.original_start_line, a.original_end_line) for a in outcome.annotations] if pruned else [],
        text=seg.text,
        pruned_text=final if pruned else seg.text,
    )


def _idle_backend(pruner: Pruner) -> tuple[str, bool]:
    """Return the backend that would serve a prune now, and whether that is a fallback."""
    manager = pruner.manager
    if manager.name != "deepinfra":
        return manager.name, False
    if manager.deepinfra_usable and not manager.breaker.is_open:
        return "deepinfra", False
    return "heuristic", True


def install_pruning(app: web.Application) -> None:
    """Add the pruning middleware and its /sidecar/health section (after install_pruner)."""
    stats = MiddlewareStats()
    app[MIDDLEWARE_STATS] = stats
    app[HEALTH_SOURCES]["middleware"] = stats.snapshot
    app.middlewares.append(pruning_middleware())
