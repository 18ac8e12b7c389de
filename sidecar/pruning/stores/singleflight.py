"""Single flight: concurrent identical calls share one run.

The first caller starts the work as a task; later callers with the same key await that task through
``asyncio.shield``, so a cancelled waiter never cancels the work the others are waiting for.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sidecar.tasks import spawn

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Run one task per key at a time; concurrent callers with the same key share its result."""

    def __init__(self) -> None:
        self._inflight: dict[bytes, asyncio.Task[T]] = {}

    def __len__(self) -> int:
        return len(self._inflight)

    def __contains__(self, key: bytes) -> bool:
        return key in self._inflight

    async def run(self, key: bytes, work: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """Return ``(result, shared)``; ``shared`` is True when another caller's run was joined."""
        task = self._inflight.get(key)
        shared = task is not None
        if task is None:
            task = spawn(_run(work), name="sidecar-singleflight")
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._forget, key))
        # shield: cancelling this waiter must not cancel the run other waiters share.
        return await asyncio.shield(task), shared

    def _forget(self, key: bytes, done: asyncio.Task[T]) -> None:
        if self._inflight.get(key) is done:
            del self._inflight[key]
        if not done.cancelled():
            done.exception()  # retrieved: a run whose waiters all left must not log "never retrieved"


async def _run(work: Callable[[], Awaitable[T]]) -> T:
    # The work's coroutine is created inside the task: a task cancelled before it started leaves no
    # coroutine behind "never awaited".
    return await work()
