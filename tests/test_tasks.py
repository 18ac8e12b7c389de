"""spawn: a background task is referenced until it finishes, so it cannot be garbage-collected mid-flight."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from sidecar import tasks
from sidecar.tasks import spawn


async def test_a_task_nobody_else_holds_survives_garbage_collection():
    done = []

    async def work() -> None:
        # Waits on a future only this task references: without spawn's reference, task and future form
        # a cycle the collector frees, and the work silently never finishes.
        await asyncio.get_running_loop().create_future()
        done.append(True)

    task = spawn(work(), name="orphan")
    ref = weakref.ref(task)
    del task
    await asyncio.sleep(0)
    gc.collect()
    alive = ref()
    assert alive is not None and alive.get_name() == "orphan" and not alive.done()
    alive.cancel()
    with pytest.raises(asyncio.CancelledError):
        await alive
    assert done == []


async def test_the_reference_is_dropped_when_the_task_ends():
    async def answer() -> int:
        return 42

    task = spawn(answer())
    assert task in tasks._background
    assert await task == 42
    await asyncio.sleep(0)  # done callbacks run on the next loop iteration
    assert task not in tasks._background


async def test_a_failed_task_is_dropped_too():
    async def fail() -> None:
        raise ValueError("boom")

    task = spawn(fail())
    with pytest.raises(ValueError, match="boom"):
        await task
    await asyncio.sleep(0)
    assert task not in tasks._background
