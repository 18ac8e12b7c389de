"""Loop turns: one CPU-bound step per loop iteration, FIFO, I/O served in between."""

from __future__ import annotations

import asyncio
import time

from sidecar.turns import loop_turn, turns


async def test_a_lone_step_never_waits():
    before = turns().waited
    await loop_turn()
    assert turns().waited == before


async def test_steps_take_one_iteration_each_in_arrival_order():
    order: list[int] = []
    ticks: list[int] = []
    tick = 0

    async def ticker():
        nonlocal tick
        while len(order) < 20:
            tick += 1
            await asyncio.sleep(0)

    async def step(i: int):
        await loop_turn()
        order.append(i)
        ticks.append(tick)

    runner = asyncio.ensure_future(ticker())  # noqa: TID251 - test task
    await asyncio.gather(*(step(i) for i in range(20)))
    await runner
    assert order == list(range(20))
    assert len(set(ticks)) == 20  # never two steps in one iteration


async def test_io_is_served_between_cpu_steps():
    """Twenty 20 ms steps queued at once: a timer due in 10 ms fires after one or two of them, not all."""
    fired: list[float] = []
    started = time.perf_counter()

    async def step():
        await loop_turn()
        end = time.perf_counter() + 0.02
        while time.perf_counter() < end:
            pass

    asyncio.get_running_loop().call_later(0.01, lambda: fired.append(time.perf_counter() - started))
    await asyncio.gather(*(step() for _ in range(20)))
    assert fired and fired[0] < 0.1, fired


async def test_a_cancelled_waiter_is_skipped():
    done: list[int] = []

    async def step(i: int):
        await loop_turn()
        done.append(i)

    tasks = [asyncio.ensure_future(step(i)) for i in range(5)]  # noqa: TID251 - test tasks
    await asyncio.sleep(0)
    tasks[2].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert done == [0, 1, 3, 4]
    await loop_turn()  # the turn is free again
