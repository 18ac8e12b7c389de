"""The demo plays its conversation through a real sidecar and a real fake upstream."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sidecar.testing.demo import render_table, run_demo

pytestmark = pytest.mark.timeout(60)


async def test_demo_turns_and_savings():
    results = await run_demo()
    assert [r.turn for r in results] == [1, 2, 3, 4]
    assert results[0].tokens_upstream == results[0].tokens_sent  # nothing to prune before any tool output
    assert all(r.tokens_upstream <= r.tokens_sent for r in results)
    assert results[-1].tokens_sent > 40_000
    table = render_table(results)
    assert "upstream saw" in table and table.count("\n") >= 6


def test_demo_command_runs():
    proc = subprocess.run(
        [sys.executable, "-m", "sidecar", "demo"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "input tokens not billed" in proc.stdout
