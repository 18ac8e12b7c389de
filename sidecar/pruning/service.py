"""The pruning service: the one entry point the middleware, MCP server and CLI call.

    Pruner.prune(text, goal, ...)
      -> cache (SHA-256 of text, goal, source type, options, backend; identical concurrent calls share a run)
      -> kind detection; a one-line JSON document laid out over lines first (engine.layout)
      -> PruningBackendManager (heuristic | deepinfra, fallback to heuristic in the same call)
      -> render (kept lines verbatim, one marker line per pruned run; pruning.outcomes)
      -> recover store (original text by prune id; a JSON document as laid out, the lines markers count)
      -> per-call stats and aggregates

Event loop: every call takes a turn (sidecar.turns) before its CPU-bound steps (hashing, detection, a
small text's heuristic pruning, rendering), so a request with thousands of tool outputs prunes one step
per loop iteration and health probes and other requests are answered in between.

Never raises on pruning failure: the worst case is an outcome that keeps everything,
with a warning. Only ``recover`` raises (PruneIdNotFound, InvalidRange).

Prune ids are HMAC-SHA256(secret, cache key), 128 bits in lower-case base32 (26 characters):
unguessable without the text, yet the same text, goal, options and backend always get the same
id (and, the heuristic being deterministic, the same pruned text), even after the cache entry
expired. The proxy relies on that to rewrite a segment byte-identically on every turn, which keeps
the provider's prompt cache warm. The secret is ``SIDECAR_PRUNE_ID_SECRET``, else the one shared
through Redis when ``cache.url`` selects it (pruning.stores.redis_store: the first replica's wins), else
random per process.

Outcomes are cached whether or not they fell back (not failures that kept the text whole): a
segment is then rewritten the same way on every turn while its entry lives, which is worth more
than upgrading it to a DeepInfra selection mid-conversation.

Counting: ``calls_total`` counts every prune call, cache hits included; ``calls_deepinfra`` the
calls that ran a backend with DeepInfra selected (hits and calls sharing another's run excluded);
``fallbacks_deepinfra`` those of them served by the heuristic (failure, open circuit, no key).
A call that joined a concurrent identical call counts as a cache hit.

Telemetry hook: ``Pruner.add_observer(fn)`` registers ``fn(outcome: PruneOutcome) -> None``, called
after every prune (hits included) with the outcome and its stats; an observer that raises is
logged by class name and ignored.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import msgspec

from sidecar.config import Config
from sidecar.errors import RedisUnavailable
from sidecar.pruning.engine.kinds import detect_kind
from sidecar.pruning.engine.layout import spread_json
from sidecar.pruning.ids import PROCESS_SECRET, PRUNE_ID_SECRET_ENV, make_prune_id
from sidecar.pruning.manager import PruningBackendManager
from sidecar.pruning.outcomes import Totals, build_outcome, unpruned_outcome
from sidecar.pruning.spans import get_tracer, span_attributes
from sidecar.pruning.stores.build import build_stores
from sidecar.pruning.stores.cache import ResultCache, cache_key
from sidecar.pruning.stores.recover import RecoverStore, recover_text
from sidecar.pruning.stores.singleflight import SingleFlight
from sidecar.pruning.types import (
    LineRange,
    Observer,
    PruneOptions,
    PruneOutcome,
    PruneRequest,
    PruningHealth,
    RecoverResult,
    SourceType,
)
from sidecar.turns import loop_turn

if TYPE_CHECKING:
    import httpx

    from sidecar.pruning.stores.redis_store import RedisLink

log = logging.getLogger("sidecar.pruning.service")


# Characters of text being pruned at once (queued for a turn, on the loop, on a thread). Past it, a new text
# is kept whole at once (load shedding): it would wait behind more than a deadline's worth of work
# (~8 MB/s of pruning), and an overloaded sidecar would otherwise queue ever more texts in memory.
PENDING_MAX_CHARS = 8 * 1024 * 1024


class Pruner:
    """The pruning service: cache, backend manager with fallback, rendering, recover store, stats."""

    def __init__(
        self,
        config: Config,
        *,
        env: Mapping[str, str] | None = None,
        deepinfra_transport: httpx.AsyncBaseTransport | None = None,
        cache: ResultCache | None = None,
        recover_store: RecoverStore | None = None,
        manager: PruningBackendManager | None = None,
        redis: RedisLink | None = None,
        pending_max_chars: int = PENDING_MAX_CHARS,
    ) -> None:
        env = os.environ if env is None else env
        self._config = config
        secret = env.get(PRUNE_ID_SECRET_ENV)
        self._secret = secret.encode("utf-8") if secret else PROCESS_SECRET
        self._secret_fixed = bool(secret)  # an operator's secret wins over the one shared in Redis
        self._secret_synced = -1  # the RedisLink generation the secret was last agreed in
        self.manager = manager or PruningBackendManager(
            config, env=env, deepinfra_transport=deepinfra_transport
        )
        stores = build_stores(config, cache=cache, recover_store=recover_store, redis=redis)
        self.redis = stores.redis
        self.cache: ResultCache = stores.cache
        self.recover_store: RecoverStore = stores.recover
        # A run's outcome, and the text its markers count lines of (the text, or its JSON re-layout).
        self._flight: SingleFlight[tuple[PruneOutcome, str]] = SingleFlight()
        self._pending_chars = 0
        self._pending_max = pending_max_chars
        self._observers: list[Observer] = []
        self._totals = Totals()
        self._price = config.deepinfra.price_usd_per_million_tokens

    async def start(self) -> None:
        """Open clients; log the no-key warning once; agree on the prune id secret through Redis."""
        await self.manager.start()
        if self.redis is not None:
            try:
                await self.redis.warm()
            except RedisUnavailable:
                pass  # logged once by the link; the in-process stores serve meanwhile
            await self._sync_secret(timeout_s=2.0)

    async def aclose(self) -> None:
        """Close backends and stores."""
        await self.manager.aclose()
        await self.cache.aclose()
        await self.recover_store.aclose()
        if self.redis is not None:
            await self.redis.aclose()

    def add_observer(self, observer: Observer) -> None:
        """Call ``observer(outcome)`` after every prune (telemetry hook)."""
        self._observers.append(observer)

    def default_options(self) -> PruneOptions:
        """Return the options configured in ``[pruning]``."""
        p = self._config.pruning
        return PruneOptions(
            keep_ratio=p.keep_ratio,
            max_prune_ratio=p.max_prune_ratio,
            min_keep_lines=p.min_keep_lines,
            timeout_ms=p.timeout_ms,
            annotate_lines=p.annotate_lines,
            include_markers=p.include_markers,
        )

    async def prune(
        self,
        text: str,
        goal: str,
        *,
        source_type: SourceType | None = None,
        options: PruneOptions | None = None,
        caller: str | None = None,
    ) -> PruneOutcome:
        """Prune ``text`` for ``goal``; never raises for a pruning failure (worst case: text kept whole)."""
        # One span per call, child of the caller's (the request's) span; its attributes are metadata only.
        tracer = get_tracer()
        if tracer is None:
            return await self._prune(text, goal, source_type=source_type, options=options, caller=caller)
        with tracer.start_as_current_span("prune", record_exception=False) as span:
            outcome = await self._prune(text, goal, source_type=source_type, options=options, caller=caller)
            if span.is_recording():
                span.set_attributes(span_attributes(outcome))
            return outcome

    async def _prune(
        self,
        text: str,
        goal: str,
        *,
        source_type: SourceType | None,
        options: PruneOptions | None,
        caller: str | None,
    ) -> PruneOutcome:
        started = time.perf_counter()
        await loop_turn()  # hashing a text, and everything below until the first real wait
        if self.redis is not None and self._secret_synced != self.redis.generation:
            await self._sync_secret()  # not agreed yet, or Redis came back (perhaps empty)
        opts = options if options is not None else self.default_options()
        declared = source_type or self._config.pruning.default_source_type
        # An undeclared type is keyed as "auto": detection is a function of the text, and a cache hit
        # then skips it.
        key = self._key(text, goal, declared or "auto", opts)
        prune_id = make_prune_id(key, self._secret)
        outcome = await self._cache_get(key)
        source: str | None = None  # what the markers count lines of, when a run here says
        hit = outcome is not None
        shed = outcome is None and self._pending_chars >= self._pending_max and key not in self._flight
        if shed:  # overloaded: kept whole at once, not cached (the next turn tries again)
            self._totals.shed += 1
            log.debug("pruning busy (%d characters queued): text kept whole", self._pending_chars)
            busy = "pruning_busy; text kept whole"
            outcome = unpruned_outcome(text, prune_id, declared, busy, backend=self.manager.name)
        if outcome is None:
            try:
                (outcome, source), shared = await self._flight.run(
                    key, lambda: self._compute(text, goal, declared, opts, prune_id, key)
                )
            except Exception as exc:  # noqa: BLE001 - pruning is an optimisation, never a failure
                log.warning("pruning failed, text kept whole: %s", type(exc).__name__)
                warning = f"pruning_failed:{type(exc).__name__}; text kept whole"
                outcome = unpruned_outcome(text, prune_id, declared, warning, backend=self.manager.name)
                shared = False
            hit = shared
        latency_ms = (time.perf_counter() - started) * 1000.0
        stats = outcome.stats
        if hit:
            # Nothing ran for this call: no backend time, no reranker cost.
            stats = msgspec.structs.replace(stats, cache_hit=True, elapsed_ms=0.0, cost_estimated_usd=0.0)
        outcome = msgspec.structs.replace(
            outcome, stats=msgspec.structs.replace(stats, latency_ms=round(latency_ms, 3))
        )
        # The id in the text the caller sees: another replica's, for a hit it pruned before agreeing.
        if not shed:  # an unpruned text has no marker to recover from
            await self._remember(outcome.prune_id, source or pruned_source(text, outcome), caller)
        self._totals.count(outcome, hit)
        self._notify(outcome)
        return outcome

    async def recover(
        self,
        prune_id: str,
        ranges: Sequence[LineRange],
        *,
        include_line_numbers: bool = False,
        caller: str | None = None,
    ) -> RecoverResult:
        """Return original lines of a pruned text; raises PruneIdNotFound or InvalidRange."""
        return await recover_text(
            self.recover_store, prune_id, ranges, include_line_numbers=include_line_numbers, caller=caller
        )

    def health(self) -> PruningHealth:
        """Return the aggregates since start-up."""
        t = self._totals
        entries, size = self.recover_store.stats()
        return PruningHealth(
            backend=self.manager.name,
            calls_total=t.calls,
            calls_deepinfra=t.deepinfra,
            fallbacks_deepinfra=t.fallbacks,
            cost_estimated_total_usd=round(t.cost, 9),
            tokens_before_total=t.before,
            tokens_saved_total=t.saved,
            cache_hits=t.hits,
            cache_misses=t.misses,
            recover_store_entries=entries,
            recover_store_bytes=size,
            deepinfra_circuit_open=self.manager.breaker.is_open,
            cache_backend="memory" if self.redis is None else "redis",
            redis_errors=0 if self.redis is None else self.redis.errors,
            redis_fallback_active=self.redis is not None and self.redis.fallback_active,
            calls_shed=t.shed,
        )

    async def _sync_secret(self, timeout_s: float | None = None) -> None:
        """Adopt the replicas' prune id secret from Redis, proposing ours when there is none yet."""
        if self.redis is None or self._secret_fixed:
            return
        try:
            self._secret = await self.redis.shared_secret(self._secret, timeout_s=timeout_s)
        except RedisUnavailable:
            return  # the local secret serves until Redis answers
        self._secret_synced = self.redis.generation

    def _key(self, text: str, goal: str, source_type: str, options: PruneOptions) -> bytes:
        return cache_key(text, goal, source_type, options, self.manager.name)

    async def _compute(
        self,
        text: str,
        goal: str,
        declared: SourceType | None,
        options: PruneOptions,
        prune_id: str,
        key: bytes,
    ) -> tuple[PruneOutcome, str]:
        self._pending_chars += len(text)
        try:
            await loop_turn()  # detection, then (small texts) the heuristic itself, on the loop
            source_type = detect_kind(text, declared)
            source, opts = text, options
            # One-line JSON (an API's answer) is pruned and recovered laid out, a keep ratio still
            # meaning the text's; not a file read (declared code or docs by its extension, numbered):
            # the agent edits the file by the lines it was shown, and they must be the file's.
            layout = declared not in ("code", "docs") and source_type not in ("search", "diff")
            if layout and not options.annotate_lines and (laid := spread_json(text)) is not None:
                source, source_type = laid, "json"
                if options.keep_ratio is not None and options.keep_ratio < 1.0:  # 1: everything
                    opts = msgspec.structs.replace(
                        options, keep_ratio=options.keep_ratio * len(text) / len(laid)
                    )
            request = PruneRequest(
                text=source, goal=goal, source_type=source_type, options=opts, prune_id=prune_id
            )
            decision = await self.manager.prune(request)
            await loop_turn()  # rendering: after a worker thread or DeepInfra, many may finish together
            outcome = build_outcome(text, request, decision, price_usd_per_mtok=self._price)
        finally:
            self._pending_chars -= len(text)
        try:
            await self.cache.set(key, outcome)
        except Exception as exc:  # noqa: BLE001 - a cache failure must never fail a call
            log.warning("prune cache set failed: %s", type(exc).__name__)
        return outcome, source if outcome.annotations else text

    async def _cache_get(self, key: bytes) -> PruneOutcome | None:
        try:
            return await self.cache.get(key)
        except Exception as exc:  # noqa: BLE001 - a cache failure is a miss
            log.warning("prune cache get failed: %s", type(exc).__name__)
            return None

    async def _remember(self, prune_id: str, text: str, caller: str | None) -> None:
        try:
            await self.recover_store.put(prune_id, text, caller)
        except Exception as exc:  # noqa: BLE001 - the pruned text stays valid without it
            log.warning("recover store put failed: %s", type(exc).__name__)

    def _notify(self, outcome: PruneOutcome) -> None:
        for observer in self._observers:
            try:
                observer(outcome)
            except Exception as exc:  # noqa: BLE001 - telemetry must not fail a call
                log.warning("prune observer failed: %s", type(exc).__name__)


def pruned_source(text: str, outcome: PruneOutcome) -> str:
    """Return the text whose lines the outcome's markers count: ``text``, or its JSON re-layout.

    For an outcome no run of this call produced (a cache hit): the layout is laid out once more.
    """
    if outcome.stats.original_lines == text.count("\n") + 1:
        return text
    return spread_json(text) or text
