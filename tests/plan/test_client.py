"""One step as a chat completion: the compact prompt, headers, retries honouring Retry-After (capped)."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

import aiohttp
import pytest

from sidecar.plan.client import MAX_RETRY_WAIT_S, ChatClient, build_messages, retry_wait
from sidecar.plan.model import plan_from_object
from sidecar.plan.results import StepResult
from sidecar.plan.runner import RunOptions, run_plan
from tests.plan.fakes import FakeLLM, by_id, step, write_plan


def http_date(offset_s: float) -> str:
    """Return an HTTP-date ``offset_s`` seconds from now (whole seconds, as the format has)."""
    return email.utils.formatdate(time.time() + offset_s, usegmt=True)


def test_prompt_is_compact_and_truncates_inputs() -> None:
    plan = plan_from_object(
        {"task_id": "t", "description": "d", "steps": [step(1), step(2, (1,))]},
    )
    messages = build_messages(plan.steps[1], {"step_1": "x" * 10_000}, input_chars=100)
    user = messages[-1]["content"]
    assert "[... 9900 more characters]" in user and len(user) < 400
    assert [m["role"] for m in messages] == ["system", "user"]
    assert [m["role"] for m in build_messages(plan.steps[1], {}, constrain=False)] == ["user"]


async def test_retryable_status_is_retried_and_counted(llm: tuple[FakeLLM, str], tmp_path: Path) -> None:
    fake, url = llm
    fake.status_by_step = {"step_1": [429]}
    plan = write_plan(tmp_path / "plan.json", step(1))
    summary = await run_plan(plan, RunOptions(out_dir=tmp_path / "out", base_url=url, retries=1))
    result = by_id(summary)["step_1"]
    assert result.status == "done" and result.retries == 1
    fake.status_by_step = {"step_1": [503, 503]}
    summary = await run_plan(plan, RunOptions(out_dir=tmp_path / "out2", base_url=url, retries=1))
    assert by_id(summary)["step_1"].status == "failed"


async def test_no_output_constraint(llm: tuple[FakeLLM, str], tmp_path: Path) -> None:
    fake, url = llm
    plan = write_plan(tmp_path / "plan.json", step(1))
    await run_plan(plan, RunOptions(out_dir=tmp_path / "out", base_url=url, constrain_output=False))
    assert "X-Sidecar-Output" not in fake.calls[0].headers
    assert [m["role"] for m in fake.calls[0].body["messages"]] == ["user"]  # type: ignore[union-attr]


def test_retry_wait_reads_seconds_and_http_dates_and_never_exceeds_the_cap() -> None:
    assert retry_wait("2", 1) == 2.0
    assert retry_wait("-5", 1) == 0.0
    assert retry_wait("Wed, 21 Oct 2015 07:28:00 GMT", 1) == 0.0  # a date in the past: go now
    assert 3.0 < retry_wait(http_date(5), 1) <= 5.0
    # Without a usable Retry-After: exponential back-off from 0.25 s.
    assert [retry_wait(None, n) for n in (1, 2, 3)] == [0.25, 0.5, 1.0]
    assert retry_wait("soon", 2) == 0.5
    assert retry_wait(None, 30) == MAX_RETRY_WAIT_S
    # Asking for more than the cap waits the cap (then retries) rather than failing the step.
    assert retry_wait("120", 1) == MAX_RETRY_WAIT_S
    assert retry_wait(http_date(3600), 1, cap_s=0.5) == 0.5


async def test_an_http_date_retry_after_is_honoured(llm: tuple[FakeLLM, str], tmp_path: Path) -> None:
    fake, url = llm
    fake.latency = 0.0
    fake.status_by_step = {"step_1": [503]}
    # Whole seconds: a date 2 s ahead asks for a wait between 1 and 2 s (back-off alone would be 0.25 s).
    fake.retry_after = http_date(2)
    plan = write_plan(tmp_path / "plan.json", step(1))
    summary = await run_plan(plan, RunOptions(out_dir=tmp_path / "out", base_url=url, retries=1))
    result = by_id(summary)["step_1"]
    assert result.status == "done" and result.retries == 1
    first, second = fake.calls_for("step_1")
    assert 0.7 <= second.start - first.end <= 2.5, second.start - first.end


async def test_a_retry_after_beyond_the_cap_waits_the_cap_then_retries(llm: tuple[FakeLLM, str]) -> None:
    fake, url = llm
    fake.latency = 0.0
    fake.status_by_step = {"step_1": [429]}
    fake.retry_after = http_date(3600)
    plan = plan_from_object({"task_id": "t", "description": "d", "steps": [step(1)]})
    client = ChatClient(
        base_url=url,
        mode=None,
        model="m",
        api_key=None,
        extra_headers={},
        retries=1,
        constrain=True,
        max_retry_wait_s=0.3,
    )
    result = StepResult(id="step_1", type="code_generation")
    messages = build_messages(plan.steps[0], {})
    t0 = time.monotonic()
    async with aiohttp.ClientSession() as session:
        text, _ = await client.call(session, plan.steps[0], messages, result)
    assert text == "result of step_1" and result.retries == 1
    assert 0.3 <= time.monotonic() - t0 < 3.0


@pytest.mark.parametrize(("asked", "sent"), [("Double_Check", "double-check"), (" Turbo ", "turbo")])
async def test_the_mode_header_is_normalized(
    llm: tuple[FakeLLM, str], tmp_path: Path, asked: str, sent: str
) -> None:
    # The API does not check the mode against a config: the sidecar it talks to decides (the CLI checks).
    fake, url = llm
    plan = write_plan(tmp_path / "plan.json", step(1))
    summary = await run_plan(plan, RunOptions(out_dir=tmp_path / "out", base_url=url, mode=asked))
    assert fake.calls[0].headers["X-Sidecar-Mode"] == sent and summary.mode == sent
