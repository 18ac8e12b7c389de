"""The plan runner: a plan.json of code-generation steps, each one chat completion through the sidecar.

    plan.json ─┬─ whole ──────▶ model     (validate; errors name their JSON path)
    (file, -,  └─ --streaming ▶ stream    (each step as soon as its object closes)
     stream)                      │
                                  ▼
                               runner     (a step starts once its dependencies are done;
                                  │        by priority, at most N in flight, one per file)
                                  ▼
                               client ──HTTP──▶ sidecar ──▶ provider of X-Sidecar-Mode
                                  │            (retries honour Retry-After, capped)
                                  ▼
                   results: <id>.md, <id>.response.json, summary.json    progress: stderr

Modules: :mod:`~sidecar.plan.model` (the plan schema, validation, priority order),
:mod:`~sidecar.plan.stream` (incremental reading and byte sources), :mod:`~sidecar.plan.runner` (the
scheduler, :class:`RunOptions`, :func:`run_plan`), :mod:`~sidecar.plan.client` (one step as a chat
completion), :mod:`~sidecar.plan.results` (the run's record and files), :mod:`~sidecar.plan.progress`
(terminal and plain-line displays), :mod:`~sidecar.plan.cli` (``sidecar plan run``).

Use from Python::

    summary = await run_plan("plan.json", RunOptions(out_dir="plan-out", mode="build"))
"""

from __future__ import annotations

from sidecar.plan.model import Plan, PlanError, Step, parse_plan
from sidecar.plan.progress import LineProgress, Progress, TtyProgress
from sidecar.plan.results import RunSummary, StepResult
from sidecar.plan.runner import RunOptions, run_plan

__all__ = [
    "LineProgress",
    "Plan",
    "PlanError",
    "Progress",
    "RunOptions",
    "RunSummary",
    "Step",
    "StepResult",
    "TtyProgress",
    "parse_plan",
    "run_plan",
]
