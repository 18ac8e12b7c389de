"""``sidecar plan run``: exit codes, stdin streaming, Ctrl-C, and --mode checked against the user's config."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from subprocess import PIPE

import pytest

from sidecar.cli import PLAN_COMMANDS, main
from sidecar.plan.cli import check_mode
from tests.plan.fakes import FakeLLM, step, write_plan

TURBO = '[modes.turbo]\nexecutor = "groq:llama-3.3-70b-versatile"\n'


def run_cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """Run ``sidecar plan run ARGS`` in-process (for the cases that stop before any request)."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # main() rewrites it
    return main(["plan", "run", *args])


async def test_cli_streams_a_plan_from_stdin(llm: tuple[FakeLLM, str], tmp_path: Path) -> None:
    fake, url = llm
    data = json.dumps({"task_id": "t1", "description": "d", "steps": [step(1), step(2, (1,))]}).encode()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIDECAR_", "OPENAI_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar", "plan", "run", "-", "--streaming", "--mode", "fast",
        "--base-url", url, "--out", str(tmp_path / "out"),
        stdin=PIPE, stdout=PIPE, stderr=PIPE, env=env,
    )  # fmt: skip
    assert proc.stdin is not None
    half = data.index(b'{"id": "step_2"')
    proc.stdin.write(data[:half])
    await proc.stdin.drain()
    for _ in range(200):  # step_1 runs while stdin is still open
        if fake.calls:
            break
        await asyncio.sleep(0.025)
    assert [c.step for c in fake.calls] == ["step_1"]
    proc.stdin.write(data[half:])
    proc.stdin.close()
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, stderr.decode()
    assert b"plan succeeded" in stdout and b"step_2 done" in stderr
    assert fake.calls[0].headers["X-Sidecar-Mode"] == "fast"


async def test_cli_reports_an_invalid_plan(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json", step(1, complexity=2))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar", "plan", "run", str(plan), "--out", str(tmp_path / "out"),
        stdout=PIPE, stderr=PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert "$.steps[0].complexity: expected ≤ 1, got 2" in stderr.decode()


async def test_cli_ctrl_c_cancels_and_writes_a_partial_summary(
    llm: tuple[FakeLLM, str], tmp_path: Path
) -> None:
    fake, url = llm
    fake.latency_by_step = {"step_1": 0.05, "step_2": 30}
    plan = write_plan(tmp_path / "plan.json", step(1), step(2), step(3, (2,)))
    out = tmp_path / "out"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar", "plan", "run", str(plan), "--base-url", url, "--out", str(out),
        stdout=PIPE, stderr=PIPE,
        # A runner that starts tests in the background ignores SIGINT, and children inherit that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    for _ in range(400):
        if len(fake.calls) == 2 and fake.calls_for("step_1")[0].end:
            break
        await asyncio.sleep(0.025)
    await asyncio.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 130, stderr.decode()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "cancelled"
    assert {s["id"]: s["status"] for s in summary["steps"]} == {
        "step_1": "done",
        "step_2": "cancelled",
        "step_3": "pending",
    }


def test_plan_run_is_the_plan_cli_module() -> None:
    assert PLAN_COMMANDS["run"][0] == "sidecar.plan.cli"


def test_the_built_in_modes_are_accepted_in_any_case() -> None:
    asked = ("FAST", "Build", "double_check", "DOUBLE-CHECK", " fast ")
    assert [check_mode(m) for m in asked] == ["fast", "build", "double-check", "double-check", "fast"]


def test_a_mode_added_under_modes_is_accepted_from_each_config_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "mine.toml"
    config.write_text(TURBO)
    assert check_mode("TURBO", str(config)) == "turbo"  # --config
    with pytest.raises(ValueError, match="unknown mode 'TURBO'"):
        check_mode("TURBO")  # ./config.toml absent: the defaults only
    monkeypatch.setenv("SIDECAR_CONFIG", str(config))
    assert check_mode("Turbo") == "turbo"  # $SIDECAR_CONFIG
    monkeypatch.delenv("SIDECAR_CONFIG")
    Path("config.toml").write_text(TURBO)  # the tests run from an empty directory
    assert check_mode("turbo") == "turbo"  # ./config.toml
    with pytest.raises(ValueError) as info:
        check_mode("warp")
    assert str(info.value) == (
        "unknown mode 'warp'; valid modes: build, double-check, fast, turbo (the modes of config.toml)"
    )


def test_an_unknown_mode_exits_2_listing_the_valid_ones_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(tmp_path / "plan.json", step(1))
    out = tmp_path / "out"
    assert run_cli(monkeypatch, str(plan), "--mode", "turbo", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "--mode: unknown mode 'turbo'; valid modes: build, double-check, fast (the default modes" in err
    assert not out.exists()


def test_a_bad_config_exits_2_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(tmp_path / "plan.json", step(1))
    config = tmp_path / "bad.toml"
    config.write_text('[modes.turbo]\nexecutor = "nowhere:model"\n')
    code = run_cli(monkeypatch, str(plan), "--mode", "turbo", "--config", str(config), "--out", "o")
    assert code == 2
    assert "modes.turbo.executor: unknown provider 'nowhere'" in capsys.readouterr().err
    assert not Path("o").exists()


async def test_a_mode_of_the_users_config_is_sent(llm: tuple[FakeLLM, str], tmp_path: Path) -> None:
    fake, url = llm
    plan = write_plan(tmp_path / "plan.json", step(1))
    config = tmp_path / "mine.toml"
    config.write_text(TURBO)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar", "plan", "run", str(plan), "--mode", "Turbo", "--config", str(config),
        "--base-url", url, "--out", str(tmp_path / "out"),
        stdout=PIPE, stderr=PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, stderr.decode()
    assert fake.calls[0].headers["X-Sidecar-Mode"] == "turbo"
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["mode"] == "turbo"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--max-parallel", "0", "expected an integer ≥ 1, got 0"),
        ("--retries", "-1", "expected an integer ≥ 0, got -1"),
        ("--retries", "two", "expected an integer ≥ 0, got 'two'"),
        ("--timeout", "0", "expected seconds > 0, got 0"),
        ("--idle-timeout", "nan", "expected seconds > 0, got nan"),
        ("--header", "no-colon", "expected NAME:VALUE"),
    ],
)
def test_bad_numbers_and_headers_are_usage_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    with pytest.raises(SystemExit) as info:
        run_cli(monkeypatch, "plan.json", option, value)
    assert info.value.code == 2
    assert f"argument {option}: {message}" in capsys.readouterr().err
