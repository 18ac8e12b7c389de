"""The plan scheduler: each step of a plan is one chat completion, started as soon as it can be.

    plan source ─▶ read whole (model) or as it is written (stream) ─▶ add_step ─▶ pending
    pending ─▶ ready once every dependency is DONE (skipped as soon as one is BROKEN)
    ready ─▶ launched by priority, at most ``cap`` in flight, never two writing the same file
    launched ─▶ ChatClient.call ─▶ <id>.response.json, <id>.md ─▶ the loop wakes ─▶ summary.json

A step starts as soon as its own dependencies are done (no batch barriers); among ready steps the
most complex start first; steps that write the same file never overlap. With streaming, steps start
while the planner is still writing the plan. Outputs, the raw responses and ``summary.json`` go to
``RunOptions.out_dir``; a re-run with the same directory skips the steps already done. The command
line (``sidecar plan run``) is :mod:`sidecar.plan.cli`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
import time
from collections.abc import AsyncIterable, Callable
from pathlib import Path

import aiohttp
import msgspec

from sidecar.config import normalize_mode
from sidecar.plan.client import ChatClient, MessageBuilder, StepFailed, build_messages
from sidecar.plan.model import Plan, PlanError, Step, parse_plan, priority_key
from sidecar.plan.progress import Progress
from sidecar.plan.results import (
    BROKEN,
    DONE,
    SUMMARY_FILE,
    RunSummary,
    StepResult,
    encode_summary,
    now,
    read_previous,
    write_atomic,
    write_outputs,
)
from sidecar.plan.stream import read_streaming, read_whole, stream_source
from sidecar.tasks import spawn

DEFAULT_BASE_URL = "http://127.0.0.1:8787/v1"
DEFAULT_MODEL = "gpt-4o-mini"
_SUMMARY_EVERY_S = 0.5

PlanSource = str | Path | AsyncIterable[bytes]


class RunOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How to run a plan: where the steps go, how many at once, what they ask, where results land."""

    out_dir: str | Path  # outputs and summary.json; a re-run with the same directory skips done steps
    base_url: str = DEFAULT_BASE_URL  # an OpenAI-compatible base URL: the sidecar, usually
    mode: str | None = None  # sent as X-Sidecar-Mode, normalized (FAST, Double_Check -> fast, double-check)
    streaming: bool = False  # start steps while the plan is still being written
    sequential: bool = False  # one step at a time (overrides max_parallel)
    max_parallel: int = 16  # steps in flight
    model: str = DEFAULT_MODEL  # the model name in each request
    api_key: str | None = None  # bearer token; never written to the summary
    extra_headers: dict[str, str] = msgspec.field(default_factory=dict)
    timeout_s: float = 600.0  # per request
    retries: int = 1  # on 429/502/503/504 and connection errors
    input_chars: int = 4000  # of each dependency's output quoted in a step's prompt
    constrain_output: bool = True  # X-Sidecar-Output and a one-line code/JSON-only instruction
    idle_timeout_s: float = 60.0  # with streaming: give up on a plan file that stops growing

    def __repr__(self) -> str:
        # Options get printed while debugging: the key and header values (auth, maybe) never are.
        shown = msgspec.structs.replace(
            self,
            api_key="***" if self.api_key else None,
            extra_headers={name: "***" for name in self.extra_headers},
        )
        fields = ", ".join(f"{f}={getattr(shown, f)!r}" for f in self.__struct_fields__)
        return f"RunOptions({fields})"


class _Runner:
    """The state of one run; the main loop launches ready steps and waits for the next change."""

    def __init__(
        self,
        *,
        client: ChatClient,
        out_dir: Path,
        cap: int,
        builder: MessageBuilder,
        progress: Progress,
        summary: RunSummary,
    ) -> None:
        self.client, self.out_dir = client, out_dir
        self.cap = cap
        self.builder = builder
        self.progress, self.summary = progress, summary
        self.t0 = time.monotonic()
        self.steps: dict[str, Step] = {}
        self.seq: dict[str, int] = {}
        self.results: dict[str, StepResult] = {}
        self.outputs: dict[str, str] = {}
        self.pending: set[str] = set()
        self.running: dict[str, asyncio.Task[None]] = {}
        self.busy_files: set[str] = set()
        self.plan_complete = False
        self.plan_error: PlanError | None = None
        self.wake = asyncio.Event()
        self.previous = read_previous(out_dir)
        self.session: aiohttp.ClientSession | None = None
        self.dirty = False  # the summary on disk lags behind; written at most every _SUMMARY_EVERY_S
        self.last_write = 0.0

    def elapsed(self) -> float:
        return round(time.monotonic() - self.t0, 4)

    # --- plan intake ----------------------------------------------------------------------------
    def add_step(self, step: Step) -> None:
        """Register a step (from the whole plan or the stream); skip it if a previous run did it."""
        result = StepResult(id=step.id, type=step.type, fingerprint=step.fingerprint())
        self.steps[step.id], self.seq[step.id], self.results[step.id] = step, len(self.seq), result
        self.summary.steps.append(result)
        out = self.out_dir / f"{step.id}.md"
        prev = self.previous.get(step.id)
        fresh = prev is None or (prev.status in DONE and prev.fingerprint == result.fingerprint)
        if fresh and out.is_file():
            self.outputs[step.id] = out.read_text(encoding="utf-8", errors="replace")
            result.status, result.output = "already_done", out.name
            if prev is not None:
                result.provider, result.model = prev.provider, prev.model
        else:
            self.pending.add(step.id)
        self.progress.step_known(result)
        self.wake.set()

    def complete(self, plan: Plan) -> None:
        self.summary.task_id = plan.task_id
        self.summary.plan_read_s = self.elapsed()
        self.plan_complete = True
        self.wake.set()

    async def read(self, chunks: AsyncIterable[bytes], notice: Callable[[str], None]) -> None:
        """Feed steps from a plan stream as they are read."""

        def fallback(reason: str) -> None:
            notice(f"plan: cannot stream this plan ({reason}); reading it whole")

        try:
            async for item in read_streaming(chunks, on_fallback=fallback):
                if isinstance(item, Step):
                    self.add_step(item)
                else:
                    self.complete(item)
            if not self.plan_complete:  # read_streaming always ends with the Plan; never hang if not
                self.plan_error = PlanError(["$: the plan stream ended without a plan"])
        except PlanError as exc:
            self.plan_error = exc
        except (OSError, ValueError) as exc:  # e.g. stdin closed under us: metadata only
            self.plan_error = PlanError([f"$: cannot read the plan: {type(exc).__name__}"])
        finally:
            self.wake.set()

    # --- scheduling -----------------------------------------------------------------------------
    def _launch_ready(self) -> None:
        changed = True
        while changed:  # a skipped step may in turn skip its own dependents
            changed = False
            for sid in sorted(self.pending, key=self.seq.__getitem__):
                step = self.steps[sid]
                broken = [
                    d for d in step.dependencies if d in self.results and self.results[d].status in BROKEN
                ]
                if broken:
                    self.pending.discard(sid)
                    result = self.results[sid]
                    result.status = "skipped_dependency_failed"
                    result.error = f"{broken[0]} {self.results[broken[0]].status}"
                    self.progress.step_finished(result)
                    changed = True
        ready = [
            self.steps[s]
            for s in self.pending
            if all(d in self.results and self.results[d].status in DONE for d in self.steps[s].dependencies)
        ]
        ready.sort(key=lambda s: priority_key(s, self.seq[s.id]))
        for step in ready:
            if len(self.running) >= self.cap:
                break
            files = {os.path.normpath(f) for f in step.context.files}
            if files & self.busy_files:
                continue
            self.busy_files |= files
            self.pending.discard(step.id)
            self.running[step.id] = spawn(self._run_step(step, files), name=f"plan-{step.id}")

    async def loop(self) -> None:
        """Run until every known step is settled and the plan is complete."""
        while True:
            if self.plan_error is not None:
                raise self.plan_error
            self._launch_ready()
            if self.plan_complete and not self.running and not self.pending:
                return
            wait = None if not self.dirty else max(0.0, self.last_write + _SUMMARY_EVERY_S - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), wait)
            self.wake.clear()
            if self.dirty and time.monotonic() - self.last_write >= _SUMMARY_EVERY_S:
                # Off the event loop: a slow disk must not delay the steps still answering.
                self.dirty, self.last_write = False, time.monotonic()
                data = encode_summary(self.summary)
                await asyncio.to_thread(write_atomic, self.out_dir / SUMMARY_FILE, data)

    async def cancel_all(self) -> None:
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- one step -------------------------------------------------------------------------------
    async def _run_step(self, step: Step, files: set[str]) -> None:
        result = self.results[step.id]
        result.status, result.started_at, result.start_s = "running", now(), self.elapsed()
        if self.summary.first_step_start_s is None:
            self.summary.first_step_start_s = result.start_s
        self.progress.step_started(result)
        try:
            messages = self.builder(step, self.outputs)
            assert self.session is not None
            text, raw = await self.client.call(self.session, step, messages, result)
            await asyncio.to_thread(write_outputs, self.out_dir, step.id, raw, text)
            self.outputs[step.id], result.output, result.status = text, f"{step.id}.md", "done"
        except StepFailed as exc:
            result.status, result.error = "failed", str(exc)
            result.http_status = exc.status if exc.status is not None else result.http_status
            if exc.body is not None:  # the error body, for the user to read (never logged)
                path = self.out_dir / f"{step.id}.response.json"
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(write_atomic, path, exc.body)
        except OSError as exc:
            result.status, result.error = "failed", f"cannot write output: {type(exc).__name__}"
        except Exception as exc:  # a bug must fail this step, not leave it "running" forever
            result.status, result.error = "failed", f"internal error: {type(exc).__name__}"
        except asyncio.CancelledError:
            result.status = "cancelled"
            raise
        finally:
            result.ended_at, result.end_s = now(), self.elapsed()
            result.duration_s = round(result.end_s - (result.start_s or 0.0), 4)
            self.running.pop(step.id, None)
            self.busy_files -= files
            self.progress.step_finished(result)
            self.dirty = True
            self.wake.set()


async def run_plan(
    plan_source: PlanSource,
    options: RunOptions,
    *,
    messages: MessageBuilder | None = None,
    progress: Progress | None = None,
    notice: Callable[[str], None] | None = None,
) -> RunSummary:
    """Run a plan (a path, ``-`` for stdin, or an async byte stream) and return its summary.

    ``messages`` replaces the compact prompt builder, ``progress`` shows the run, ``notice`` gets
    one-line remarks (default: stderr). Raises PlanError for an invalid plan: before anything runs
    when the plan is read whole; when streaming, as soon as the problem is read (steps in flight are
    cancelled, the summary written). asyncio cancellation (Ctrl-C) cancels the steps in flight and
    writes a partial summary.
    """
    say = notice or (lambda msg: print(msg, file=sys.stderr))
    plan: Plan | None = None
    if not options.streaming:
        plan = parse_plan(await read_whole(plan_source))
    out = Path(options.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = RunSummary(
        task_id=plan.task_id if plan else None,
        status="running",
        plan=str(plan_source) if isinstance(plan_source, str | Path) else "<stream>",
        mode=normalize_mode(options.mode) if options.mode else None,
        base_url=options.base_url,
        streaming=options.streaming,
        sequential=options.sequential,
        max_parallel=options.max_parallel,
        started_at=now(),
    )
    client = ChatClient(
        base_url=options.base_url,
        mode=summary.mode,
        model=options.model,
        api_key=options.api_key,
        extra_headers=options.extra_headers,
        retries=options.retries,
        constrain=options.constrain_output,
    )
    builder = messages or functools.partial(
        build_messages, input_chars=options.input_chars, constrain=options.constrain_output
    )
    runner = _Runner(
        client=client,
        out_dir=out,
        cap=1 if options.sequential else max(1, options.max_parallel),
        builder=builder,
        progress=progress or Progress(),
        summary=summary,
    )
    connector = aiohttp.TCPConnector(limit=runner.cap + 4)
    timeout = aiohttp.ClientTimeout(total=options.timeout_s)
    reader: asyncio.Task[None] | None = None
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        runner.session = session
        if plan is not None:
            for step in plan.steps:
                runner.add_step(step)
            runner.complete(plan)
        else:
            chunks = stream_source(plan_source, idle_timeout_s=options.idle_timeout_s)
            reader = spawn(runner.read(chunks, say), name="plan-reader")
        try:
            await runner.loop()
        except BaseException as exc:
            await runner.cancel_all()
            if reader is not None:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
            summary.status = "invalid" if isinstance(exc, PlanError) else "cancelled"
            summary.plan_errors = exc.errors if isinstance(exc, PlanError) else []
            raise
        else:
            broken = any(r.status in BROKEN for r in summary.steps)
            summary.status = "failed" if broken else "succeeded"
        finally:
            summary.ended_at, summary.duration_s = now(), runner.elapsed()
            write_atomic(out / SUMMARY_FILE, encode_summary(summary))
            runner.progress.close(summary)
    return summary
