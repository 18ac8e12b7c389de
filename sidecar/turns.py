"""Turns on the event loop for CPU-bound steps: one per loop iteration, first come first served.

    await loop_turn()      # returns at once when no other step has taken this iteration's turn,
    cpu_bound_step()       # else in a later iteration, in arrival order; I/O is polled in between

Why: asyncio runs every ready callback of an iteration before it polls sockets again. A request with
10,000 small tool outputs makes 10,000 pruning tasks ready at once; each prunes on the loop for about
a millisecond, and together they kept the loop from health probes and every other request for
seconds (while the request's own deadline timer could not fire either). Taking a turn before each
CPU-bound step spreads them over as many iterations, so the loop answers I/O after every step: the
stall is one step, not the sum of all. A lone step (the usual case) never waits.

Turns are per event loop; a cancelled waiter is skipped. The steps themselves must
stay short (large texts go to worker threads: sidecar.pruning.manager).
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque


class LoopTurns:
    """The turn of one event loop: granted once per iteration, to waiters in FIFO order."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._taken = False  # a turn was granted in this iteration (or is being handed over)
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.waited = 0  # steps that had to wait for a later iteration (a sign of contention)

    async def wait(self) -> None:
        """Return when this task may run one CPU-bound step on the loop."""
        if not self._taken:
            self._take()
            return
        self.waited += 1
        turn = self._loop.create_future()
        self._waiters.append(turn)
        # Cancelled while waiting: the future is cancelled too and skipped. Cancelled once handed the turn:
        # that iteration simply has no step (the next hand-over is already scheduled).
        await turn

    def _take(self) -> None:
        self._taken = True
        self._loop.call_soon(self._release)  # runs in the next iteration, after an I/O poll

    def _release(self) -> None:
        # Invariant: while a turn is taken, exactly one _release is scheduled.
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():  # a cancelled waiter is skipped
                turn.set_result(None)
                self._loop.call_soon(self._release)
                return
        self._taken = False


_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopTurns] = weakref.WeakKeyDictionary()


def turns() -> LoopTurns:
    """Return the running loop's turns."""
    loop = asyncio.get_running_loop()
    found = _TURNS.get(loop)
    if found is None:
        found = _TURNS[loop] = LoopTurns(loop)
    return found


async def loop_turn() -> None:
    """Wait for the running loop's turn before a CPU-bound step (see the module docstring)."""
    await turns().wait()
