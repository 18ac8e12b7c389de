"""Progress displays: one plain line per event for pipes, a bar redrawn in place on a terminal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from sidecar.plan.progress import LineProgress, TtyProgress
from sidecar.plan.results import RunSummary, StepResult
from sidecar.plan.runner import RunOptions, run_plan
from tests.plan.fakes import FakeLLM, step, write_plan


def summary_of(results: list[StepResult]) -> RunSummary:
    return RunSummary(
        task_id="t",
        status="failed",
        plan="plan.json",
        mode=None,
        base_url="u",
        streaming=False,
        sequential=False,
        max_parallel=16,
        started_at="",
        steps=results,
    )


async def test_progress_displays(llm: tuple[FakeLLM, str], tmp_path: Path) -> None:
    fake, url = llm
    fake.status_by_step = {"step_2": [500]}
    plan = write_plan(tmp_path / "plan.json", step(1), step(2), step(3, (2,)))
    lines = io.StringIO()
    await run_plan(plan, RunOptions(out_dir=tmp_path / "a", base_url=url), progress=LineProgress(lines))
    text = lines.getvalue()
    assert "step_1 started" in text and "step_2 failed: HTTP 500" in text
    assert "step_3 skipped: dependency step_2 failed" in text and "\x1b" not in text
    tty = io.StringIO()
    await run_plan(plan, RunOptions(out_dir=tmp_path / "b", base_url=url), progress=TtyProgress(tty))
    drawn = tty.getvalue()
    assert "\x1b[2K" in drawn and "\x1b[4F" in drawn  # lines cleared, then redrawn in place
    assert "[████████████████████████] 3/3" in drawn


def test_a_line_per_event_names_steps_done_by_a_previous_run() -> None:
    lines = io.StringIO()
    progress = LineProgress(lines)
    progress.step_known(StepResult(id="step_1", type="patch", status="already_done"))
    progress.step_known(StepResult(id="step_2", type="patch"))  # pending: nothing to say yet
    done = StepResult(id="step_2", type="patch", status="done", duration_s=1.5, provider="groq", retries=2)
    progress.step_finished(done)
    text = lines.getvalue().splitlines()
    assert len(text) == 2
    assert text[0].endswith("step_1 already done (previous run)")
    assert text[1].endswith("step_2 done in 1.50s groq 2 retries")


async def test_a_tall_plan_shows_what_runs_or_broke_and_counts_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LINES", "6")  # room for 3 step lines under the bar
    monkeypatch.setenv("COLUMNS", "100")
    tty = io.StringIO()
    progress = TtyProgress(tty)
    results = [StepResult(id=f"step_{n}", type="patch", status="done") for n in range(1, 9)]
    results[5].status, results[6].status = "running", "failed"
    for result in results:
        progress.step_known(result)
    progress.close(summary_of(results))
    last = tty.getvalue().rsplit("\x1b[J", 2)[-2]  # the final frame
    assert "step_6" in last and "step_7" in last and "… 5 more" in last
    assert "plan [" in last and "8/8" not in last and "7/8" in last
