"""The ``sidecar`` command line: subcommands loaded lazily, --version, usage and config errors exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sidecar import __version__
from sidecar.cli import COMMANDS, PLAN_COMMANDS, main


def run_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """Run ``sidecar ARGS`` in-process; an argparse exit is returned as its code."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # main() rewrites it
    try:
        return main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)


def test_serve_exits_2_with_one_line(tmp_path: Path):
    env = {"PATH": "/usr/bin:/bin", "KIMI_PRUNING_BACKEND": "nope"}
    proc = subprocess.run(
        [sys.executable, "-m", "sidecar", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=30,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "KIMI_PRUNING_BACKEND" in lines[0]


def test_a_bad_upstream_option_exits_2_naming_the_option(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    assert run_main(monkeypatch, "serve", "--upstream", "ftp://example.com") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sidecar: config error: --upstream: ")
    assert "'ftp://example.com'" in err[0]


def test_no_command_prints_the_usage_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    assert run_main(monkeypatch) == 2
    assert capsys.readouterr().out.startswith("usage: sidecar")


def test_version(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    assert run_main(monkeypatch, "--version") == 0
    assert capsys.readouterr().out.strip() == f"sidecar {__version__}"


def test_help_lists_every_command(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("COLUMNS", "250")  # one line per command
    assert run_main(monkeypatch, "--help") == 0
    out = capsys.readouterr().out
    for name, (_, help_text) in COMMANDS.items():
        assert name in out and help_text in out, name
    assert "plan" in out
    assert run_main(monkeypatch, "plan", "--help") == 0
    assert all(name in capsys.readouterr().out for name in PLAN_COMMANDS)


def test_only_the_chosen_subcommand_module_is_imported():
    # Start-up time of `sidecar prune` (run once per case by the quality benchmark) depends on it.
    code = (
        "import sys\n"
        "from sidecar.cli import COMMANDS, PLAN_COMMANDS, build_parser\n"
        "sys.argv = ['sidecar', 'prune', '--goal', 'g']\n"
        "parser, runners = build_parser()\n"
        "modules = {m for m, _ in [*COMMANDS.values(), *PLAN_COMMANDS.values()]} - {'sidecar.cli'}\n"
        "print(sorted(runners), sorted(m for m in modules if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert proc.stdout.strip() == "['prune'] ['sidecar.pruning.cli']"


def test_plan_without_a_subcommand_is_a_usage_error(capsys):
    from sidecar.cli import main

    assert main(["plan"]) == 2
    assert "run" in capsys.readouterr().out  # the plan commands were listed


def test_a_reader_that_goes_away_stops_the_command_quietly(tmp_path: Path):
    big = tmp_path / "big.log"
    big.write_text("".join(f"2026-12-06 10:00:{k % 60:02d} INFO worker {k} ok\n" for k in range(50_000)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sidecar", "prune", "--keep-ratio", "1", str(big)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # `| head` gone before the text (1.7 MB, more than a pipe holds) is written
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert err == ""  # no traceback
