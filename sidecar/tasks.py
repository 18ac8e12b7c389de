"""Background tasks with kept references (a bare create_task can be garbage-collected mid-flight)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TypeVar

T = TypeVar("T")

_background: set[asyncio.Task[object]] = set()


def spawn(coro: Coroutine[object, object, T], *, name: str | None = None) -> asyncio.Task[T]:
    """Start ``coro`` as a task and keep a reference until it finishes."""
    task: asyncio.Task[T] = asyncio.create_task(coro, name=name)  # noqa: TID251
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task
