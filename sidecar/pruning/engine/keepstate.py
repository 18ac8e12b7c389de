"""The selection's working state: which lines are kept, what they cost, how many markers they open."""

from __future__ import annotations

import re


class KeepState:
    """Kept flags, the kept size and the count of pruned runs, updated in O(1) per line."""

    def __init__(self, n: int, costs: list[int], mcost: int) -> None:
        self.n = n
        self.keep = [False] * n
        self.costs = costs
        self.mcost = mcost
        self.size = 0
        self.runs = 1 if n else 0

    def total(self) -> int:
        return self.size + self.runs * self.mcost

    def delta_runs(self, i: int, end: int | None = None) -> int:
        """Return how the count of pruned runs changes if pruned lines i..end (default i) are kept."""
        end = i + 1 if end is None else end
        left = i == 0 or self.keep[i - 1]
        right = end == self.n or self.keep[end]
        return -1 if left and right else 0 if left or right else 1

    def add(self, i: int) -> None:
        if not self.keep[i]:
            self.runs += self.delta_runs(i)
            self.keep[i] = True
            self.size += self.costs[i]

    def remove(self, i: int) -> None:
        if self.keep[i]:
            self.keep[i] = False
            self.size -= self.costs[i]
            self.runs -= self.delta_runs(i)


_KEPT_RUN = re.compile(rb"\x01+")


def kept_runs(keep: list[bool]) -> list[tuple[int, int]]:
    """Return the (start, end) of each run of kept lines."""
    return [m.span() for m in _KEPT_RUN.finditer(bytes(keep))]
