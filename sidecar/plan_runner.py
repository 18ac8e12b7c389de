"""The plan runner: each step of a plan.json is one chat completion sent through the sidecar.

A step starts as soon as its own dependencies are done (no batch barriers); among ready steps
the most complex start first; steps that write the same file never overlap. With streaming,
steps start while the planner is still writing the plan. Outputs, the raw responses and a
``summary.json`` go to ``--out``; a re-run with the same ``--out`` skips the steps already done.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import shutil
import sys
import time
from collections.abc import AsyncIterable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TextIO

import aiohttp
import msgspec

from .plan import Plan, PlanError, Step, parse_plan, priority_key, read_streaming, read_whole, stream_source
from .tasks import spawn

DEFAULT_BASE_URL = "http://127.0.0.1:8787/v1"
DEFAULT_MODEL = "gpt-4o-mini"
MODES = ("fast", "build", "double-check")
SUMMARY_FILE = "summary.json"
_RETRYABLE = frozenset({429, 502, 503, 504})
_MAX_RETRY_AFTER_S = 30.0
_SUMMARY_EVERY_S = 0.5

StepStatus = Literal[
    "pending", "running", "done", "already_done", "failed", "skipped_dependency_failed", "cancelled"
]
RunStatus = Literal["running", "succeeded", "failed", "cancelled", "invalid"]
MessageBuilder = Callable[[Step, Mapping[str, str]], list[dict[str, str]]]
_DONE: frozenset[str] = frozenset({"done", "already_done"})
_BROKEN: frozenset[str] = frozenset({"failed", "skipped_dependency_failed", "cancelled"})


class StepResult(msgspec.Struct, kw_only=True):
    """What happened to one step; times are ISO 8601 and seconds from the run's start."""

    id: str
    type: str
    status: StepStatus = "pending"
    fingerprint: str = ""
    started_at: str | None = None
    ended_at: str | None = None
    start_s: float | None = None
    end_s: float | None = None
    duration_s: float | None = None
    provider: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    retries: int = 0
    audit: str | None = None  # DOUBLE-CHECK's verdict (X-Sidecar-Audit), e.g. "pass" or "fail; issues=2"
    http_status: int | None = None
    error: str | None = None
    output: str | None = None


class RunSummary(msgspec.Struct, kw_only=True):
    """The run as written to ``summary.json``."""

    task_id: str | None
    status: RunStatus
    plan: str  # the plan's path, "-" for stdin, "<stream>" for an in-process byte stream
    mode: str | None
    base_url: str
    streaming: bool
    sequential: bool
    max_parallel: int
    started_at: str
    ended_at: str | None = None
    duration_s: float | None = None
    plan_read_s: float | None = None  # when the whole plan was known
    first_step_start_s: float | None = None
    counts: dict[str, int] = msgspec.field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    plan_errors: list[str] = msgspec.field(default_factory=list)
    steps: list[StepResult] = msgspec.field(default_factory=list)


class _Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class _Message(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    message: _Message


class _ChatResponse(msgspec.Struct):
    choices: list[_Choice]
    model: str | None = None
    usage: _Usage | None = None


class _PreviousRun(msgspec.Struct):
    steps: list[StepResult] = msgspec.field(default_factory=list)


class StepFailed(Exception):
    """A step's request failed; the message is metadata only (a status or an error class)."""

    def __init__(self, reason: str, status: int | None = None, body: bytes | None = None) -> None:
        super().__init__(reason)
        self.status, self.body = status, body


class _ErrorDetail(msgspec.Struct):
    code: str | int | None = None
    type: str | None = None


class _ErrorBody(msgspec.Struct):
    error: _ErrorDetail | None = None


def _error_code(raw: bytes) -> str:
    """The ``error.code`` (or ``type``) of an OpenAI-style error body, when it is a short identifier.

    Never the message: a provider may quote the request in it.
    """
    try:
        detail = msgspec.json.decode(raw, type=_ErrorBody).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ""
    for value in (detail.code, detail.type) if detail else ():
        text = str(value) if value is not None else ""
        if 0 < len(text) <= 64 and text.replace("_", "").replace("-", "").replace(".", "").isalnum():
            return f" ({text})"
    return ""


def normalize_mode(value: str) -> str:
    """Map FAST / Build / double_check to the header value (fast, build, double-check)."""
    mode = value.strip().lower().replace("_", "-")
    if mode not in MODES:
        raise ValueError(f"unknown mode {value!r} (expected FAST, BUILD or DOUBLE-CHECK)")
    return mode


def output_kind(step: Step) -> str:
    """Return the X-Sidecar-Output value for a step: JSON for analysis, code otherwise."""
    return "json" if step.type == "analysis" else "code"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}\n[... {len(text) - limit} more characters]"


def build_messages(
    step: Step,
    inputs: Mapping[str, str],
    *,
    input_chars: int = 4000,
    constrain: bool = True,
) -> list[dict[str, str]]:
    """Build the compact chat messages for one step; ``inputs`` maps step ids to their outputs.

    ``constrain`` adds a one-line output constraint (code or JSON only) for providers reached directly;
    through the sidecar, ``X-Sidecar-Output`` asks for the same.
    """
    ctx = step.context
    constraint = "Code only, no prose." if output_kind(step) == "code" else "One JSON object only, no prose."
    lines = [step.description, f"Type: {step.type}"]
    if ctx.files:
        lines.append("Files: " + ", ".join(ctx.files))
    if ctx.language:
        lines.append(f"Language: {ctx.language}")
    if ctx.extra:
        lines.append("Context: " + msgspec.json.encode(ctx.extra).decode())
    if step.validation_criteria:
        lines.append("Criteria:\n" + "\n".join(f"- {c}" for c in step.validation_criteria))
    for dep in step.dependencies:
        if dep in inputs:
            lines.append(f"Output of {dep}:\n{_clip(inputs[dep], input_chars)}")
    user = {"role": "user", "content": "\n".join(lines)}
    return [{"role": "system", "content": constraint}, user] if constrain else [user]


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
        failed = sum(r.status in _BROKEN for r in self.results)
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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class _Runner:
    """The state of one run; the main loop launches ready steps and waits for the next change."""

    def __init__(
        self,
        *,
        base_url: str,
        mode: str | None,
        model: str,
        out_dir: Path,
        sequential: bool,
        max_parallel: int,
        api_key: str | None,
        extra_headers: Mapping[str, str],
        retries: int,
        builder: MessageBuilder,
        constrain: bool,
        progress: Progress,
        summary: RunSummary,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.mode, self.model, self.out_dir = mode, model, out_dir
        self.cap = 1 if sequential else max(1, max_parallel)
        self.api_key, self.retries, self.extra_headers = api_key, retries, dict(extra_headers)
        self.builder, self.constrain = builder, constrain
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
        self.previous = self._load_previous()
        self.session: aiohttp.ClientSession | None = None
        self.dirty = False  # the summary on disk lags behind; written at most every _SUMMARY_EVERY_S
        self.last_write = 0.0

    def elapsed(self) -> float:
        return round(time.monotonic() - self.t0, 4)

    def _load_previous(self) -> dict[str, StepResult]:
        try:
            prev = msgspec.json.decode((self.out_dir / SUMMARY_FILE).read_bytes(), type=_PreviousRun)
        except (OSError, msgspec.DecodeError):
            return {}
        return {r.id: r for r in prev.steps}

    # --- plan intake ----------------------------------------------------------------------------
    def add_step(self, step: Step) -> None:
        """Register a step (from the whole plan or the stream); skip it if a previous run did it."""
        result = StepResult(id=step.id, type=step.type, fingerprint=step.fingerprint())
        self.steps[step.id], self.seq[step.id], self.results[step.id] = step, len(self.seq), result
        self.summary.steps.append(result)
        out = self.out_dir / f"{step.id}.md"
        prev = self.previous.get(step.id)
        fresh = prev is None or (prev.status in _DONE and prev.fingerprint == result.fingerprint)
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
                    d for d in step.dependencies if d in self.results and self.results[d].status in _BROKEN
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
            if all(d in self.results and self.results[d].status in _DONE for d in self.steps[s].dependencies)
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
                await asyncio.to_thread(_write_atomic, self.out_dir / SUMMARY_FILE, data)

    async def cancel_all(self) -> None:
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- one step -------------------------------------------------------------------------------
    async def _run_step(self, step: Step, files: set[str]) -> None:
        result = self.results[step.id]
        result.status, result.started_at, result.start_s = "running", _now(), self.elapsed()
        if self.summary.first_step_start_s is None:
            self.summary.first_step_start_s = result.start_s
        self.progress.step_started(result)
        try:
            messages = self.builder(step, self.outputs)
            text, raw = await self._call(step, messages, result)
            await asyncio.to_thread(_write_outputs, self.out_dir, step.id, raw, text)
            self.outputs[step.id], result.output, result.status = text, f"{step.id}.md", "done"
        except StepFailed as exc:
            result.status, result.error = "failed", str(exc)
            result.http_status = exc.status if exc.status is not None else result.http_status
            if exc.body is not None:  # the error body, for the user to read (never logged)
                path = self.out_dir / f"{step.id}.response.json"
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(_write_atomic, path, exc.body)
        except OSError as exc:
            result.status, result.error = "failed", f"cannot write output: {type(exc).__name__}"
        except Exception as exc:  # a bug must fail this step, not leave it "running" forever
            result.status, result.error = "failed", f"internal error: {type(exc).__name__}"
        except asyncio.CancelledError:
            result.status = "cancelled"
            raise
        finally:
            result.ended_at, result.end_s = _now(), self.elapsed()
            result.duration_s = round(result.end_s - (result.start_s or 0.0), 4)
            self.running.pop(step.id, None)
            self.busy_files -= files
            self.progress.step_finished(result)
            self.dirty = True
            self.wake.set()

    async def _call(
        self, step: Step, messages: list[dict[str, str]], result: StepResult
    ) -> tuple[str, bytes]:
        assert self.session is not None
        body = msgspec.json.encode({"model": self.model, "messages": messages, "stream": False})
        headers = {
            **self.extra_headers,
            "Content-Type": "application/json",
        }
        if self.constrain:
            headers["X-Sidecar-Output"] = output_kind(step)
        if self.mode:
            headers["X-Sidecar-Mode"] = self.mode
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                async with self.session.post(self.url, data=body, headers=headers) as resp:
                    raw = await resp.read()
                    result.http_status = resp.status
                    if resp.status in _RETRYABLE and not last:
                        result.retries += 1
                        await asyncio.sleep(_retry_delay(resp.headers.get("Retry-After"), attempt))
                        continue
                    if resp.status >= 400:
                        raise StepFailed(f"HTTP {resp.status}{_error_code(raw)}", resp.status, raw)
                    result.provider = resp.headers.get("X-Sidecar-Provider")
                    result.model = resp.headers.get("X-Sidecar-Model")
                    result.audit = resp.headers.get("X-Sidecar-Audit")
                    attempts = resp.headers.get("X-Sidecar-Attempts", "")
                    if attempts.isdigit():
                        result.retries += max(0, int(attempts) - 1)
                    return _parse_response(raw, result), raw
            except (aiohttp.ClientError, TimeoutError) as exc:
                if last:
                    raise StepFailed(type(exc).__name__) from exc
                result.retries += 1
                await asyncio.sleep(_retry_delay(None, attempt))
        raise StepFailed("no attempt made")  # unreachable: the loop returns or raises


def _retry_delay(header: str | None, attempt: int) -> float:
    try:
        if header is not None:
            return min(max(float(header), 0.0), _MAX_RETRY_AFTER_S)
    except ValueError:
        pass
    return min(0.25 * float(2**attempt), _MAX_RETRY_AFTER_S)


def _parse_response(raw: bytes, result: StepResult) -> str:
    try:
        doc = msgspec.json.decode(raw, type=_ChatResponse)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StepFailed("invalid response body") from exc
    result.model = doc.model or result.model
    if doc.usage is not None:
        result.prompt_tokens, result.completion_tokens = doc.usage.prompt_tokens, doc.usage.completion_tokens
    content = doc.choices[0].message.content if doc.choices else None
    if not content:
        raise StepFailed("empty response")
    return content


def _write_outputs(out_dir: Path, step_id: str, raw: bytes, text: str) -> None:
    _write_atomic(out_dir / f"{step_id}.response.json", raw)
    _write_atomic(out_dir / f"{step_id}.md", text.encode())  # last: its presence means "done"


def encode_summary(summary: RunSummary) -> bytes:
    """Update the summary's totals and encode it as indented JSON."""
    counts: dict[str, int] = {}
    for r in summary.steps:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary.counts = counts
    summary.prompt_tokens = sum(r.prompt_tokens or 0 for r in summary.steps if r.status == "done")
    summary.completion_tokens = sum(r.completion_tokens or 0 for r in summary.steps if r.status == "done")
    return msgspec.json.format(msgspec.json.encode(summary), indent=2)


async def run_plan(
    plan_source: str | Path | AsyncIterable[bytes],
    *,
    out_dir: str | Path,
    base_url: str = DEFAULT_BASE_URL,
    mode: str | None = None,
    streaming: bool = False,
    sequential: bool = False,
    max_parallel: int = 16,
    model: str = DEFAULT_MODEL,
    api_key: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    timeout_s: float = 600.0,
    retries: int = 1,
    input_chars: int = 4000,
    constrain_output: bool = True,
    messages: MessageBuilder | None = None,
    idle_timeout_s: float = 60.0,
    progress: Progress | None = None,
    notice: Callable[[str], None] | None = None,
) -> RunSummary:
    """Run a plan (a path, ``-`` for stdin, or an async byte stream) and return its summary.

    Raises PlanError for an invalid plan: before anything runs when the plan is read whole; when
    streaming, as soon as the problem is read (steps in flight are cancelled, the summary written).
    asyncio cancellation (Ctrl-C) cancels the steps in flight and writes a partial summary.
    """
    say = notice or (lambda msg: print(msg, file=sys.stderr))
    plan: Plan | None = None
    if not streaming:
        plan = parse_plan(await read_whole(plan_source))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = RunSummary(
        task_id=plan.task_id if plan else None,
        status="running",
        plan=str(plan_source) if isinstance(plan_source, str | Path) else "<stream>",
        mode=normalize_mode(mode) if mode else None,
        base_url=base_url,
        streaming=streaming,
        sequential=sequential,
        max_parallel=max_parallel,
        started_at=_now(),
    )
    runner = _Runner(
        base_url=base_url,
        mode=summary.mode,
        model=model,
        out_dir=out,
        sequential=sequential,
        max_parallel=max_parallel,
        api_key=api_key,
        extra_headers=extra_headers or {},
        retries=retries,
        builder=messages
        or functools.partial(build_messages, input_chars=input_chars, constrain=constrain_output),
        constrain=constrain_output,
        progress=progress or Progress(),
        summary=summary,
    )
    connector = aiohttp.TCPConnector(limit=runner.cap + 4)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    reader: asyncio.Task[None] | None = None
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        runner.session = session
        if plan is not None:
            for step in plan.steps:
                runner.add_step(step)
            runner.complete(plan)
        else:
            chunks = stream_source(plan_source, idle_timeout_s=idle_timeout_s)
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
            broken = any(r.status in _BROKEN for r in summary.steps)
            summary.status = "failed" if broken else "succeeded"
        finally:
            summary.ended_at, summary.duration_s = _now(), runner.elapsed()
            _write_atomic(out / SUMMARY_FILE, encode_summary(summary))
            runner.progress.close(summary)
    return summary


def _mode_arg(value: str) -> str:
    try:
        return normalize_mode(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _header_arg(value: str) -> tuple[str, str]:
    name, sep, content = value.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError("expected NAME:VALUE")
    return name.strip(), content.strip()


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected an integer ≥ 1, got {value}")
    return number


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``sidecar plan run`` arguments."""
    parser.add_argument("plan", help="plan.json path, or - to read stdin")
    parser.add_argument(
        "--mode",
        type=_mode_arg,
        metavar="FAST|BUILD|DOUBLE-CHECK",
        help="sent as X-Sidecar-Mode (case-insensitive); without it the sidecar uses its upstream as is",
    )
    parser.add_argument(
        "--streaming", action="store_true", help="start steps while the plan is still being written"
    )
    parser.add_argument("--sequential", action="store_true", help="run one step at a time")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, metavar="URL", help="default: %(default)s")
    parser.add_argument(
        "--out", default="plan-out", metavar="DIR", help="outputs and summary.json; a re-run skips done steps"
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model name in each request (%(default)s)")
    parser.add_argument(
        "--api-key", metavar="KEY", help="bearer token (default: $SIDECAR_API_KEY, then $OPENAI_API_KEY)"
    )
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        type=_header_arg,
        metavar="NAME:VALUE",
        help="extra request header, repeatable (e.g. 'X-Sidecar-Strip: on')",
    )
    parser.add_argument(
        "--max-parallel", type=_positive_int, default=16, metavar="N", help="steps in flight (%(default)s)"
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, metavar="S", help="per request (%(default)g s)"
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=1,
        metavar="N",
        help="on 429/502/503/504 and connection errors (%(default)s)",
    )
    parser.add_argument(
        "--no-output-constraint",
        dest="constrain_output",
        action="store_false",
        help="let steps answer with prose (no X-Sidecar-Output, no code/JSON-only line)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="with --streaming: give up on a plan that stops growing (%(default)g s)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``sidecar plan run``: 0 when every step is done, 1 when one failed, 2 for an invalid plan."""
    api_key = args.api_key or os.environ.get("SIDECAR_API_KEY") or os.environ.get("OPENAI_API_KEY")
    progress = TtyProgress(sys.stderr) if sys.stderr.isatty() else LineProgress(sys.stderr)
    summary_path = Path(args.out) / SUMMARY_FILE
    try:
        summary = asyncio.run(
            run_plan(
                args.plan,
                out_dir=args.out,
                base_url=args.base_url,
                mode=args.mode,
                streaming=args.streaming,
                sequential=args.sequential,
                max_parallel=args.max_parallel,
                model=args.model,
                api_key=api_key,
                extra_headers=dict(args.header),
                timeout_s=args.timeout,
                retries=args.retries,
                constrain_output=args.constrain_output,
                idle_timeout_s=args.idle_timeout,
                progress=progress,
            )
        )
    except PlanError as exc:
        print("plan: invalid plan:", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"plan: cancelled; partial summary in {summary_path}", file=sys.stderr)
        return 130
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.counts.items()))
    print(f"plan {summary.status} in {summary.duration_s or 0:.2f}s ({counts}); summary: {summary_path}")
    return 0 if summary.status == "succeeded" else 1
