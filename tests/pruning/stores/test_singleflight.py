"""Single flight: concurrent calls with one key share one run; a cancelled waiter never cancels it."""

from __future__ import annotations

import asyncio

from sidecar.pruning.stores.singleflight import SingleFlight
from sidecar.tasks import spawn


async def test_single_flight_shares_one_run():
    flight: SingleFlight[str] = SingleFlight()
    runs = 0
    gate = asyncio.Event()

    async def work():
        nonlocal runs
        runs += 1
        await gate.wait()
        return "result"

    waiters = [spawn(flight.run(b"k", work)) for _ in range(5)]
    await asyncio.sleep(0)
    assert len(flight) == 1
    gate.set()
    results = await asyncio.gather(*waiters)
    assert runs == 1
    assert [r for r, _ in results] == ["result"] * 5
    assert sorted(shared for _, shared in results) == [False, True, True, True, True]
    assert len(flight) == 0
    assert await flight.run(b"k", work) == ("result", False)
    assert runs == 2


async def test_cancelling_one_waiter_does_not_cancel_the_shared_run():
    flight: SingleFlight[str] = SingleFlight()
    gate = asyncio.Event()
    finished = []

    async def work():
        await gate.wait()
        finished.append(True)
        return "done"

    first = spawn(flight.run(b"k", work))
    second = spawn(flight.run(b"k", work))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    gate.set()
    assert await second == ("done", True)
    assert first.cancelled()
    assert finished == [True]


async def test_all_waiters_cancelled_run_still_completes():
    flight: SingleFlight[str] = SingleFlight()
    gate = asyncio.Event()
    finished = asyncio.Event()

    async def work():
        await gate.wait()
        finished.set()
        raise RuntimeError("nobody listens")

    waiter = spawn(flight.run(b"k", work))
    await asyncio.sleep(0)
    waiter.cancel()
    gate.set()
    await asyncio.wait_for(finished.wait(), 1)
    await asyncio.sleep(0)
    assert len(flight) == 0


async def test_errors_reach_every_waiter():
    flight: SingleFlight[str] = SingleFlight()
    gate = asyncio.Event()

    async def work():
        await gate.wait()
        raise ValueError("bad")

    waiters = [spawn(flight.run(b"k", work)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results)


async def test_different_keys_run_separately():
    flight: SingleFlight[str] = SingleFlight()
    runs = []

    async def work(name: str) -> str:
        runs.append(name)
        await asyncio.sleep(0.01)
        return name

    a, b = await asyncio.gather(flight.run(b"a", lambda: work("a")), flight.run(b"b", lambda: work("b")))
    assert a == ("a", False) and b == ("b", False)
    assert sorted(runs) == ["a", "b"]
