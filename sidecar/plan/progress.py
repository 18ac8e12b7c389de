"""Progress displays for a plan run: nothing, one plain line per event, or a live terminal view."""

from __future__ import annotations

import asyncio
import shutil
import time
from typing import TextIO

from sidecar.plan.results import BROKEN, RunSummary, StepResult
from sidecar.tasks import spawn


class Progress:
    """A progress sink that shows nothing; the base of the terminal and plain-line displays."""

    def step_known(self, result: StepResult) -> None:
        """A step was read from the plan (it may already be done from a previous run)."""

    def step_started(self, result: StepResult) -> None:
        """A step's request was sent."""

    def step_finished(self, result: StepResult) -> None:
        """A step ended: done, failed, skipped or cancelled."""

    def close(self, summary: RunSummary) -> None:
        """The run ended."""


def _describe(r: StepResult) -> str:
    if r.status == "done":
        via = "/".join(x for x in (r.provider, r.model) if x)
        tokens = (
            f" {r.prompt_tokens or 0}+{r.completion_tokens or 0} tok" if r.prompt_tokens is not None else ""
        )
        retries = f" {r.retries} retries" if r.retries else ""
        audit = f" audit: {r.audit}" if r.audit else ""
        return f"done in {r.duration_s or 0:.2f}s{' ' + via if via else ''}{tokens}{retries}{audit}"
    if r.status == "already_done":
        return "already done (previous run)"
    if r.status == "skipped_dependency_failed":
        return f"skipped: dependency {r.error}"
    return f"{r.status}: {r.error}" if r.error else r.status


class LineProgress(Progress):
    """One plain line per event, for logs and pipes."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.t0 = stream, time.monotonic()

    def _line(self, text: str) -> None:
        self.stream.write(f"[{time.monotonic() - self.t0:7.2f}s] {text}\n")
        self.stream.flush()

    def step_known(self, result: StepResult) -> None:
        if result.status == "already_done":
            self._line(f"{result.id} {_describe(result)}")

    def step_started(self, result: StepResult) -> None:
        self._line(f"{result.id} started ({result.type})")

    def step_finished(self, result: StepResult) -> None:
        self._line(f"{result.id} {_describe(result)}")

    def close(self, summary: RunSummary) -> None:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.counts.items()))
        self._line(f"run {summary.status}: {counts}")


_ICONS = {"pending": "·", "running": "▸", "done": "✓", "already_done": "✓", "failed": "✗", "cancelled": "✗"}


class TtyProgress(Progress):
    """A progress bar and one status line per step, redrawn in place (ten times a second)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.t0 = stream, time.monotonic()
        self.results: list[StepResult] = []
        self.started: dict[str, float] = {}
        self.drawn = 0
        self.ticker: asyncio.Task[None] | None = None

    def step_known(self, result: StepResult) -> None:
        self.results.append(result)
        if self.ticker is None:
            self.ticker = spawn(self._tick(), name="plan-progress")
        self._redraw()

    def step_started(self, result: StepResult) -> None:
        self.started[result.id] = time.monotonic()
        self._redraw()

    def step_finished(self, result: StepResult) -> None:
        self._redraw()

    def close(self, summary: RunSummary) -> None:
        if self.ticker is not None:
            self.ticker.cancel()
        self._redraw(summary.status)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            self._redraw()

    def _redraw(self, final: str | None = None) -> None:
        cols, rows = shutil.get_terminal_size()
        now = time.monotonic()
        total = len(self.results)
        settled = sum(r.status not in ("pending", "running") for r in self.results)
        running = sum(r.status == "running" for r in self.results)
        failed = sum(r.status in BROKEN for r in self.results)
        filled = 24 * settled // total if total else 0
        bar = "█" * filled + "░" * (24 - filled)
        state = final or f"{running} running"
        lines = [f"plan [{bar}] {settled}/{total} · {state} · {failed} failed · {now - self.t0:.1f}s"]
        shown = self.results
        if total > rows - 3:  # too many for the screen: what is running or broke matters more than done
            rank = {"running": 0, "failed": 1, "cancelled": 1, "skipped_dependency_failed": 1, "pending": 2}
            keep = sorted(range(total), key=lambda i: (rank.get(self.results[i].status, 3), i))
            shown = [self.results[i] for i in sorted(keep[: max(1, rows - 3)])]
        for r in shown:
            detail = _describe(r)
            if r.status == "running":
                detail = f"running {now - self.started.get(r.id, now):.1f}s"
            elif r.status == "pending":
                detail = "waiting"
            lines.append(f"  {_ICONS.get(r.status, '⊘')} {r.id:<9} {r.type:<15} {detail}")
        if len(shown) < total:
            lines.append(f"  … {total - len(shown)} more")
        out = [f"\x1b[{self.drawn}F"] if self.drawn else []
        out += [f"\x1b[2K{line[: max(1, cols - 1)]}\n" for line in lines]
        out.append("\x1b[J")
        self.stream.write("".join(out))
        self.stream.flush()
        self.drawn = len(lines)
