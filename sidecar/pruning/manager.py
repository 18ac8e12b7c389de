"""The backend manager: picks the configured backend and owns fallback to the heuristic.

    prune(request)
      backend "heuristic"  -> HeuristicBackend
      backend "deepinfra"  -> no key?           -> heuristic, no call          (used_fallback, warning)
                              circuit open?     -> heuristic, no call          (used_fallback, warning)
                              DeepInfraPruningEngine, bounded by min(deepinfra.timeout_ms, options.timeout_ms)
                                any failure     -> heuristic in the same call  (used_fallback, warning)

The backend comes from ``config.pruning.backend`` (``KIMI_PRUNING_BACKEND`` is folded in by
``load_config``); the default is the heuristic. Warnings name a cause (``http_429``, ``timeout``,
``nan_score``, an exception class...), never content.

"deepinfra" selected without a key (the env var named by ``deepinfra.api_key_env``) logs one
warning at start-up, then serves every call with the heuristic without any network call. Those
calls report ``used_fallback=true`` with a ``deepinfra_unavailable:no_api_key`` warning, and count
in ``fallbacks_deepinfra``: the user asked for DeepInfra and did not get it, and the fallback rate
is how such misconfiguration shows in ``health``.

Circuit breaker: after ``deepinfra.breaker_failures`` consecutive failures, DeepInfra is not called
for ``deepinfra.breaker_cooldown_s``; then one trial call is let through (half-open): success closes
the circuit, failure opens it for another cool-down. A dead endpoint thus costs its timeout once per
cool-down, not on every call. Every failure counts, 4xx included: a bad key or model fails every call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from sidecar.config import Config
from sidecar.errors import BackendError
from sidecar.pruning.backends.base import Backend
from sidecar.pruning.engine import THREAD_MIN_CHARS
from sidecar.pruning.types import Decision, PruneRequest

if TYPE_CHECKING:
    import httpx

    from sidecar.pruning.backends.heuristic import HeuristicBackend

log = logging.getLogger("sidecar.pruning.manager")


class CircuitBreaker:
    """Consecutive-failure breaker with a cool-down and a single half-open trial."""

    def __init__(
        self, *, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._consecutive = 0
        self._open_until: float | None = None
        self._trial_running = False

    @property
    def is_open(self) -> bool:
        """True while calls are refused (cooling down, or a half-open trial is running)."""
        if self._open_until is None:
            return False
        return self._trial_running or self._clock() < self._open_until

    def allow(self) -> bool:
        """Return True when a call may go out now (claims the trial slot when half-open)."""
        if self._open_until is None:
            return True
        if self._trial_running or self._clock() < self._open_until:
            return False
        self._trial_running = True
        return True

    def abandon(self) -> None:
        """Release a half-open trial whose call was cancelled (neither success nor failure)."""
        self._trial_running = False

    def record_success(self) -> None:
        """Close the circuit."""
        self._consecutive = 0
        self._open_until = None
        self._trial_running = False

    def record_failure(self) -> None:
        """Count a failure; open (or re-open) the circuit when the threshold is reached."""
        self._consecutive += 1
        if self._trial_running or self._consecutive >= self.failures:
            self._open_until = self._clock() + self.cooldown_s
            self._trial_running = False


class PruningBackendManager:
    """Route pruning calls to the configured backend and fall back to the heuristic on any failure."""

    def __init__(
        self,
        config: Config,
        *,
        env: Mapping[str, str] | None = None,
        deepinfra_transport: httpx.AsyncBaseTransport | None = None,
        heuristic: Backend | None = None,
        deepinfra: Backend | None = None,
        clock: Callable[[], float] = time.monotonic,
        thread_min_chars: int | None = THREAD_MIN_CHARS,
    ) -> None:
        env = os.environ if env is None else env
        # Only the built-in heuristic is known to hold no loop-bound state, so only it may change threads;
        # ``thread_min_chars=None`` keeps every text on the loop (a one-shot CLI has nothing else to run).
        self._thread_min_chars = thread_min_chars if heuristic is None else None
        self.name = config.pruning.backend
        self._config = config.deepinfra
        self._api_key = (env.get(config.deepinfra.api_key_env) or "").strip() or None
        # The built-in heuristic, kept as itself: a worker thread calls its synchronous ``select``.
        self._local: HeuristicBackend | None = None
        if heuristic is None:
            heuristic = self._local = _make_heuristic()
        self._heuristic: Backend = heuristic
        self._deepinfra = deepinfra
        if self.name == "deepinfra" and deepinfra is None and self._api_key is not None:
            self._deepinfra = _make_deepinfra(config, self._api_key, deepinfra_transport)
        self.breaker = CircuitBreaker(
            failures=config.deepinfra.breaker_failures,
            cooldown_s=config.deepinfra.breaker_cooldown_s,
            clock=clock,
        )
        self._warned = False

    @property
    def deepinfra_usable(self) -> bool:
        """True when DeepInfra is selected and has a key."""
        return self.name == "deepinfra" and self._deepinfra is not None

    async def start(self) -> None:
        """Log the no-key warning once."""
        if self.name == "deepinfra" and self._deepinfra is None and not self._warned:
            self._warned = True
            log.warning(
                "pruning backend deepinfra selected but %s is not set: using the heuristic backend",
                self._config.api_key_env,
            )

    async def prune(self, request: PruneRequest) -> Decision:
        """Return the lines to keep; raises only if the heuristic itself fails."""
        if self.name != "deepinfra":
            return await self._run_heuristic(request, selected=False, called=False, warnings=[])
        if self._deepinfra is None:
            return await self._fallback(request, "deepinfra_unavailable:no_api_key", called=False)
        if not self.breaker.allow():
            return await self._fallback(request, "deepinfra_unavailable:circuit_open", called=False)
        started = time.perf_counter()
        budget_ms = min(self._config.timeout_ms, request.options.timeout_ms)
        try:
            async with asyncio.timeout(budget_ms / 1000.0):
                selection = await self._deepinfra.prune(request)
            if len(selection.keep) != len(request.text.split("\n")):
                raise BackendError("keep_length_mismatch")
        except BackendError as exc:
            self.breaker.record_failure()
            return await self._fallback(request, f"deepinfra_failed:{exc.cause}", called=True)
        except asyncio.CancelledError:
            self.breaker.abandon()
            raise
        except TimeoutError:
            self.breaker.record_failure()
            return await self._fallback(request, "deepinfra_failed:timeout", called=True)
        except Exception as exc:  # noqa: BLE001 - any failure of the cloud path means: heuristic, same call
            self.breaker.record_failure()
            return await self._fallback(request, f"deepinfra_failed:{type(exc).__name__}", called=True)
        self.breaker.record_success()
        return Decision(
            keep=selection.keep,
            backend=selection.backend,
            used_fallback=False,
            deepinfra_selected=True,
            deepinfra_called=True,
            reranker_input_tokens=selection.reranker_input_tokens,
            elapsed_ms=(time.perf_counter() - started) * 1000.0,
            warnings=list(selection.warnings),
        )

    async def _fallback(self, request: PruneRequest, cause: str, *, called: bool) -> Decision:
        if called:  # no key and open circuit were logged once already (start-up, the failures)
            log.warning("pruning fell back to the heuristic backend: %s", cause)
        return await self._run_heuristic(
            request, selected=True, called=called, warnings=[f"{cause}; used heuristic"]
        )

    async def _run_heuristic(
        self, request: PruneRequest, *, selected: bool, called: bool, warnings: list[str]
    ) -> Decision:
        started = time.perf_counter()
        local, least = self._local, self._thread_min_chars
        if local is not None and least is not None and len(request.text) >= least:
            # Called directly, not through ``prune``: a coroutine would need an event loop of its own
            # on the worker thread (a new one per call: a few tenths of a millisecond).
            call = functools.partial(contextvars.copy_context().run, local.select, request)
            selection = await asyncio.get_running_loop().run_in_executor(_PRUNE_THREADS, call)
        else:
            selection = await self._heuristic.prune(request)
        return Decision(
            keep=selection.keep,
            backend=selection.backend,
            used_fallback=selected,
            deepinfra_selected=selected,
            deepinfra_called=called,
            reranker_input_tokens=0,
            elapsed_ms=(time.perf_counter() - started) * 1000.0,
            warnings=warnings + list(selection.warnings),
        )

    async def aclose(self) -> None:
        """Close the backends' clients."""
        if self._deepinfra is not None:
            await self._deepinfra.aclose()
        await self._heuristic.aclose()


# Big texts are pruned on threads of their own pool, as many as there are cores: more threads than
# cores only queue for the GIL, and each one more makes the event loop wait longer for its turn
# (health probes under 64 agents' 100,000-character outputs: measured in BENCHMARKS.md, Reliability).
_PRUNE_THREADS = concurrent.futures.ThreadPoolExecutor(
    max_workers=max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="sidecar-prune"
)


def _make_heuristic() -> HeuristicBackend:
    from sidecar.pruning.backends.heuristic import HeuristicBackend

    return HeuristicBackend()


def _make_deepinfra(config: Config, api_key: str, transport: httpx.AsyncBaseTransport | None) -> Backend:
    # Imported only when DeepInfra is used: httpx costs start-up time the CLI does not need otherwise.
    from sidecar.pruning.backends.deepinfra import DeepInfraClient, DeepInfraPruningEngine

    client = DeepInfraClient(
        endpoint_url=config.deepinfra.endpoint_url,
        api_key=api_key,
        timeout_ms=config.deepinfra.timeout_ms,
        transport=transport,
    )
    return DeepInfraPruningEngine(client, max_docs=config.deepinfra.max_docs)
