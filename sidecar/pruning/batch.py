"""Prune a request's segments with a bounded pool of workers, under a deadline.

    PruneBatch(pruner, jobs, concurrency=32).wait(timeout_s) -> [PruneOutcome | None per job]

At most ``concurrency`` prunes of one request are in flight; workers take the next segment as one
finishes. The caller waits up to its deadline and reads what finished (``None``: not done yet); the
workers go on in the background with the rest, so the cache serves those segments on the next turn.

Why a pool rather than a task per segment: a request with 10,000 tool outputs made 10,000 tasks (and as
many shared runs), hundreds of thousands of objects that every full garbage collection then walked on
the event loop, at a few hundred milliseconds a pass. ``concurrency`` keeps the I/O of a batch (Redis,
DeepInfra, worker threads for large texts) overlapped; the CPU-bound steps take turns on the loop anyway
(sidecar.turns).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import msgspec

from sidecar.config import SourceType
from sidecar.pruning.service import Pruner
from sidecar.pruning.types import PruneOptions, PruneOutcome
from sidecar.tasks import spawn

log = logging.getLogger("sidecar.pruning.batch")

CONCURRENCY = 32


class Job(msgspec.Struct, frozen=True):
    """One text to prune, and what for."""

    text: str
    goal: str
    source_type: SourceType | None
    options: PruneOptions | None = None  # None: the configured [pruning] options


class PruneBatch:
    """A request's prunes, run by a bounded pool; results readable while the rest goes on."""

    def __init__(
        self, pruner: Pruner, jobs: Sequence[Job], *, caller: str | None, concurrency: int = CONCURRENCY
    ) -> None:
        self.results: list[PruneOutcome | None] = [None] * len(jobs)
        self.failed = 0
        self._pruner, self._jobs, self._caller = pruner, jobs, caller
        self._next = 0
        self._workers = [
            spawn(self._work(), name="sidecar-prune-worker") for _ in range(min(concurrency, len(jobs)))
        ]

    async def wait(self, timeout_s: float) -> list[PruneOutcome | None]:
        """Wait until every job is done or ``timeout_s`` passed; return the results so far (a copy)."""
        if self._workers:
            await asyncio.wait(self._workers, timeout=max(timeout_s, 0.0))
        return list(self.results)

    async def _work(self) -> None:
        while self._next < len(self._jobs):
            index = self._next
            self._next += 1
            job = self._jobs[index]
            try:
                self.results[index] = await self._pruner.prune(
                    job.text, job.goal, source_type=job.source_type, options=job.options, caller=self._caller
                )
            except Exception as exc:  # noqa: BLE001 - Pruner.prune should never raise; a bug must not stop the pool
                self.failed += 1
                log.warning("prune failed: %s", type(exc).__name__)
