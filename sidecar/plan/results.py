"""A plan run's record: each step's result, the run's summary, and the files written to ``--out``.

``summary.json`` is rewritten atomically while the run goes on; a step's ``<id>.md`` is written
last, so its presence means the step is done, which is what lets a re-run skip it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import msgspec

SUMMARY_FILE = "summary.json"

StepStatus = Literal[
    "pending", "running", "done", "already_done", "failed", "skipped_dependency_failed", "cancelled"
]
RunStatus = Literal["running", "succeeded", "failed", "cancelled", "invalid"]
# A dependent starts once its dependencies are all DONE, and is skipped as soon as one is BROKEN.
DONE: frozenset[str] = frozenset({"done", "already_done"})
BROKEN: frozenset[str] = frozenset({"failed", "skipped_dependency_failed", "cancelled"})


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


class _PreviousRun(msgspec.Struct):
    steps: list[StepResult] = msgspec.field(default_factory=list)


def read_previous(out_dir: Path) -> dict[str, StepResult]:
    """Return the step results of a previous run's summary in ``out_dir``, by step id (empty if none)."""
    try:
        prev = msgspec.json.decode((out_dir / SUMMARY_FILE).read_bytes(), type=_PreviousRun)
    except (OSError, msgspec.DecodeError):
        return {}
    return {r.id: r for r in prev.steps}


def now() -> str:
    """Return the current UTC time in ISO 8601, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file through a temporary sibling, so a reader never sees it half-written."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_outputs(out_dir: Path, step_id: str, raw: bytes, text: str) -> None:
    """Write a done step's raw response and its output text."""
    write_atomic(out_dir / f"{step_id}.response.json", raw)
    write_atomic(out_dir / f"{step_id}.md", text.encode())  # last: its presence means "done"


def encode_summary(summary: RunSummary) -> bytes:
    """Update the summary's totals and encode it as indented JSON."""
    counts: dict[str, int] = {}
    for r in summary.steps:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary.counts = counts
    summary.prompt_tokens = sum(r.prompt_tokens or 0 for r in summary.steps if r.status == "done")
    summary.completion_tokens = sum(r.completion_tokens or 0 for r in summary.steps if r.status == "done")
    return msgspec.json.format(msgspec.json.encode(summary), indent=2)
