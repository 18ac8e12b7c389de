"""Numbered file reads (Claude Code's Read): taken apart, and numbered again by the renderer byte for byte."""

from __future__ import annotations

import pytest

from sidecar.chat.numbered import Numbered, split_numbered
from sidecar.pruning.render import render


def numbered(text: str, start: int = 1) -> str:
    return "\n".join(f"{n}\t{line}" for n, line in enumerate(text.split("\n"), start))


@pytest.mark.parametrize(
    "text",
    [
        "import os\n\ndef f():\n    return 1\n",  # a file with its final newline: a last empty numbered line
        "import os\ndef f():\n    return 1",  # no final newline
        "a\nb\n\n\n",  # trailing blank lines
        "a\r\nb\r\n\tindented\r\n",  # CRLF and a tab
    ],
)
def test_render_numbers_the_bare_lines_back(text: str) -> None:
    whole = numbered(text)
    parts = split_numbered(whole)
    assert parts is not None
    lines = parts.bare.split("\n")
    again = render(lines, [True] * len(lines), "id", annotate_lines=True, include_markers=True)
    assert again.text + parts.tail == whole


def test_pruned_lines_keep_their_numbers_and_markers_name_them() -> None:
    parts = split_numbered(numbered("\n".join(f"line {i}" for i in range(1, 11)) + "\n"))
    assert parts == Numbered("\n".join(f"line {i}" for i in range(1, 11)), "\n11\t")
    keep = [i < 3 or i > 7 for i in range(10)]
    out = (
        render(parts.bare.split("\n"), keep, "pid", annotate_lines=True, include_markers=True).text
        + parts.tail
    )
    assert out.split("\n") == [
        "1\tline 1", "2\tline 2", "3\tline 3",
        "... [lines 4-8 pruned; recover_text prune_id=pid]",
        "9\tline 9", "10\tline 10", "11\t",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "text",
    [
        "plain text\nwithout numbers",
        numbered("a\nb\nc", start=100),  # a read from an offset would be renumbered from 1
        "1\ta\n2\tb\n4\tc",  # a gap
        "1\ta\n2\tb\nthree",  # a line without a number
        "1\ta",  # one line: nothing to prune
        "1\t\n2\t\n3\t",  # only empty lines
        " 1\ta\n 2\tb",  # padded numbers (not what the renderer writes)
    ],
)
def test_other_texts_are_not_numbered(text: str) -> None:
    assert split_numbered(text) is None
