"""The token estimator: ceil(characters / 4), characters and not bytes."""

from __future__ import annotations

import pytest

from sidecar.tokens import CHARS_PER_TOKEN, estimate_tokens


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 400, 100), ("x" * 401, 101)],
)
def test_ceil_of_characters_over_four(text: str, tokens: int):
    assert CHARS_PER_TOKEN == 4
    assert estimate_tokens(text) == tokens


def test_characters_not_bytes():
    assert estimate_tokens("éééé") == 1 and estimate_tokens("日本語です") == 2  # 8 and 15 UTF-8 bytes
    assert estimate_tokens("\udcff") == 1  # a lone surrogate (undecodable input) counts, never raises


def test_newlines_count_as_characters_no_per_line_minimum():
    assert estimate_tokens("a\nb\nc\nd") == 2  # 7 characters, as the docstring says
