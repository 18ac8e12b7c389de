"""bench/agents.py's gold measure: which file lines an agent's (maybe cut, maybe pruned) read shows."""

from __future__ import annotations

from tests.bench.scripts import load

agents = load("agents")
FILE = "".join(f"line {n}\n" for n in range(1, 11))  # 10 lines and the final newline


def test_a_whole_read_shows_every_line_in_place() -> None:
    status = "Chunk ID: 1a2b\nWall time: 0.0 seconds\nProcess exited with code 0\nOutput:\n"
    assert agents.file_lines(status + FILE) == list(range(1, 12))


def test_codex_own_cut_maps_the_tail_to_the_end_of_the_file() -> None:
    lines = FILE.split("\n")
    cut = "\n".join(
        ["Warning: truncated output (original token count: 99)", "Total output lines: 10", "", *lines[:3]]
        + ["line 4 …20 tokens truncated… 7", *lines[7:]]
    )
    shown = agents.file_lines(cut)
    assert shown == [None, None, None, 1, 2, 3, None, 8, 9, 10, 11]
    picked = [cut.split("\n")[i] for i, n in enumerate(shown) if n in (3, 8, 10)]
    assert picked == ["line 3", "line 8", "line 10"]


def test_kept_lines_follow_the_markers() -> None:
    pruned = "line 1\n... [lines 2-8 pruned; recover_text prune_id=x]\nline 9\nline 10\n"
    assert agents.kept_lines(pruned) == {1, 9, 10, 11}


def test_a_task_reads_its_own_commits_version_of_the_file() -> None:
    for task in agents.select_tasks(20):
        assert task.files[task.path] == task.text, task.key
