"""A run's record: summary totals, reading a previous run's summary, files written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sidecar.plan.results import (
    SUMMARY_FILE,
    RunSummary,
    StepResult,
    encode_summary,
    read_previous,
    write_outputs,
)


def summary(*steps: StepResult) -> RunSummary:
    return RunSummary(
        task_id="t",
        status="running",
        plan="plan.json",
        mode=None,
        base_url="http://127.0.0.1:8787/v1",
        streaming=False,
        sequential=False,
        max_parallel=16,
        started_at="2025-01-01T00:00:00.000+00:00",
        steps=list(steps),
    )


def test_encode_summary_counts_statuses_and_totals_tokens_of_steps_done_here() -> None:
    run = summary(
        StepResult(id="step_1", type="patch", status="done", prompt_tokens=10, completion_tokens=4),
        StepResult(id="step_2", type="patch", status="done", prompt_tokens=5, completion_tokens=1),
        # A previous run's tokens were billed then, not now.
        StepResult(id="step_3", type="patch", status="already_done", prompt_tokens=99, completion_tokens=99),
        StepResult(id="step_4", type="patch", status="failed", error="HTTP 500"),
    )
    doc = json.loads(encode_summary(run))
    assert doc["counts"] == {"done": 2, "already_done": 1, "failed": 1}
    assert (doc["prompt_tokens"], doc["completion_tokens"]) == (15, 5)
    assert [s["id"] for s in doc["steps"]] == ["step_1", "step_2", "step_3", "step_4"]


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"steps": 3}', b'{"steps": [{"id": 1}]}'])
def test_a_missing_or_unreadable_previous_summary_is_no_previous_run(tmp_path: Path, content: bytes) -> None:
    assert read_previous(tmp_path) == {}
    (tmp_path / SUMMARY_FILE).write_bytes(content)
    assert read_previous(tmp_path) == {}


def test_read_previous_gives_the_step_results_by_id(tmp_path: Path) -> None:
    run = summary(StepResult(id="step_1", type="patch", status="done", fingerprint="abc", provider="groq"))
    (tmp_path / SUMMARY_FILE).write_bytes(encode_summary(run))
    previous = read_previous(tmp_path)
    assert list(previous) == ["step_1"]
    assert (previous["step_1"].status, previous["step_1"].fingerprint) == ("done", "abc")


def test_outputs_are_written_whole_with_no_temporary_file_left(tmp_path: Path) -> None:
    write_outputs(tmp_path, "step_1", b'{"choices": []}', "print('hi')\n")
    assert (tmp_path / "step_1.md").read_text() == "print('hi')\n"
    assert (tmp_path / "step_1.response.json").read_bytes() == b'{"choices": []}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_1.md", "step_1.response.json"]
