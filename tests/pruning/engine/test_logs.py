"""Logs and test runs: the failing test whole, summaries, repeats folded."""

from __future__ import annotations

from sidecar.pruning.engine.chunking import lowered
from sidecar.pruning.engine.logs import failure_blocks
from tests.pruning.engine.samples import prune, pytest_run


def _blocks(text: str) -> list[tuple[int, int, int]]:
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    return failure_blocks(lines, lowered(text), offsets)


def test_the_failing_test_is_kept_whole_and_passes_are_folded() -> None:
    text = pytest_run()
    keep, out = prune(text, "The frequencies counts look wrong since my change; fix it\npytest -v", "logs")
    kept = set(out.split("\n"))
    for line in text.split("\n"):
        if line.startswith(("E ", "> ", ">  ", "FAILED", "=====", "tests/test_core.py:233")):
            assert line in kept, line
    assert ">       assert frequencies(data) == {'cat': 2, 'dog': 1}" in kept
    assert "tests/test_core.py::test_case_140 FAILED" + " " * 20 + "[ 46%]" in kept
    assert sum(1 for line in kept if line.endswith("%]") and "PASSED" in line) < 30
    assert len(out) < 0.35 * len(text)


def test_near_repeated_lines_fold_to_their_first_occurrences() -> None:
    links = [
        f"  Found link https://files.example.org/pkg-1.{k}.tar.gz (from https://pypi.org/simple/pkg/),"
        f" version: 1.{k}"
        for k in range(300)
    ]
    text = "\n".join(
        ["Collecting pkg==9.9", *links, "ERROR: No matching distribution found for pkg==9.9", ""]
    )
    _, out = prune(text, "why does the install fail?", "logs")
    kept = out.split("\n")
    assert "ERROR: No matching distribution found for pkg==9.9" in kept
    # The first occurrences and the tail (where a run ends) stay; the middle folds into one marker.
    assert sum(1 for line in kept if "Found link" in line) <= 30
    assert not any("pkg-1.150.tar.gz" in line for line in kept)
    assert any(line.startswith("... [") for line in kept)


def test_failure_blocks_of_other_runners() -> None:
    jest = (
        "PASS a.test.js\n  ● Suite › adds numbers\n\n    expect(received).toBe(expected)\n\n    Expected: 3\n"
    )
    jest += "    Received: 4\n\nTests:       1 failed, 9 passed, 10 total\n"
    ((start, focus, end),) = _blocks(jest)
    assert jest.split("\n")[start].strip().startswith("● Suite")
    go = "=== RUN   TestAdd\n--- FAIL: TestAdd (0.00s)\n    add_test.go:9: got 4, want 3\nFAIL\n"
    assert len(_blocks(go)) == 1
    cargo = (
        "---- tests::adds stdout ----\nthread 'tests::adds' panicked at src/lib.rs:9:5:\nassertion failed\n\n"
    )
    cargo += "failures:\n    tests::adds\n"
    ((start, focus, end),) = _blocks(cargo)
    assert "panicked" in cargo.split("\n")[focus]
    assert _blocks("all good\nnothing failed here? no: nothing\n") == []
