from __future__ import annotations

import pytest

from sidecar.pruning.engine.chunking import (
    Chunk,
    chunk_lines,
    comment_lines,
    definition_lines,
    detect_source_type,
)

CODE = '''import os
import sys


class Pool:
    """A pool."""

    def __init__(self, size):
        self.size = size

    # Closes every connection.
    @property
    def close(self):
        return None


def helper(x):
    y = x + 1

    return y
'''.split("\n")

LOG = """2024-01-01 10:00:00 INFO starting
2024-01-01 10:00:01 ERROR request failed
Traceback (most recent call last):
  File "a.py", line 3, in f
    g()
ValueError: bad
2024-01-01 10:00:02 INFO next
plain line""".split("\n")

DOC = """# Title

Some words here.
More words.

## Part two

```
code block

still code
```
Last paragraph.""".split("\n")


def _check_cover(chunks: list[Chunk], n: int) -> None:
    assert chunks[0].start == 0 and chunks[-1].end == n
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert a.end == b.start and a.start < a.end


@pytest.mark.parametrize("lines,kind", [(CODE, "code"), (LOG, "logs"), (DOC, "docs")])
def test_chunks_cover_every_line_once_in_order(lines, kind) -> None:
    _check_cover(chunk_lines(lines, kind), len(lines))


def test_code_splits_at_definitions_with_their_comments_and_decorators() -> None:
    chunks = chunk_lines(CODE, "code")
    starts = {c.start: c.kind for c in chunks}
    assert starts[4] == "class"  # class Pool
    assert starts[10] == "def"  # the comment + decorator above `def close`
    assert starts[16] == "def"
    assert 19 in starts  # blank-line paragraph inside helper


def test_log_traceback_is_one_record_with_its_error_line() -> None:
    chunks = chunk_lines(LOG, "logs")
    tb = next(c for c in chunks if c.kind == "traceback")
    assert (tb.start, tb.end) == (1, 6)
    _check_cover(chunks, len(LOG))


def test_docs_split_at_headings_and_keep_fences_whole() -> None:
    chunks = chunk_lines(DOC, "docs")
    kinds = [(c.start, c.kind) for c in chunks]
    assert (0, "heading") in kinds and (5, "heading") in kinds
    fence = next(c for c in chunks if c.kind == "code")
    assert fence.start == 7 and fence.end >= 12


def test_chunks_are_bounded_in_tokens_but_never_split_a_line() -> None:
    lines = ["x = 1  # " + "a" * 30] * 100 + ["y = '" + "b" * 5000 + "'"]
    chunks = chunk_lines(lines, "code", max_tokens=32)
    _check_cover(chunks, len(lines))
    for c in chunks:
        size = sum(len(lines[i]) + 1 for i in range(c.start, c.end))
        assert size <= 32 * 4 or c.end - c.start == 1


def test_empty_input() -> None:
    assert chunk_lines([], "code") == []
    assert chunk_lines([""], "logs") == [Chunk(0, 1, "record")]


def test_detect_source_type() -> None:
    assert detect_source_type("\n".join(CODE)) == "code"
    assert detect_source_type("\n".join(LOG * 3)) == "logs"
    assert detect_source_type("\n".join(DOC) + "\nThis is a long sentence with many words in it.\n") == "docs"


def test_keyword_lines_and_offset_safe_lowering() -> None:
    import itertools

    from sidecar.pruning.engine.chunking import ERROR_WORDS, keyword_lines, lowered

    lines = ["İİ ok", "Disk ERROR here", "fine", "Traceback (most recent call last):", "error error"]
    text = "\n".join(lines)
    low = lowered(text)
    assert len(low) == len(text)  # "İ".lower() has two characters: offsets must not move
    offsets = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    assert keyword_lines(low, offsets, ERROR_WORDS) == {1, 3, 4}


def _code_starts_by_loop(lines: list[str]) -> list[tuple[int, str]]:
    """The reference: every line visited, a comment or decorator run attached to the definition below."""
    from sidecar.pruning.engine.chunking import (
        CLASS_PREFIXES,
        COMMENT_PREFIXES,
        DEF_PREFIXES,
        IMPORT_PREFIXES,
    )

    starts: list[tuple[int, str]] = []
    prev_blank, attach = True, -1
    for i, line in enumerate(lines):
        s = line.strip()
        if not s:
            prev_blank, attach = True, -1
            continue
        if s.startswith(COMMENT_PREFIXES) or s.startswith("@"):
            if attach < 0:
                attach = i
                if prev_blank:
                    starts.append((i, "comment"))
            prev_blank = False
            continue
        if s.startswith(DEF_PREFIXES):
            kind = "class" if s.startswith(CLASS_PREFIXES) else "def"
            first = attach if attach >= 0 else i
            if starts and starts[-1][0] == first:
                starts[-1] = (first, kind)
            else:
                starts.append((first, kind))
        elif prev_blank:
            starts.append((i, "import" if s.startswith(IMPORT_PREFIXES) else "code"))
        prev_blank, attach = False, -1
    return starts


_CODE_PIECES = [
    "",
    "",
    "  ",
    "# note",
    "@decorator",
    "def f(x):",
    "    return x",
    "class C:",
    "import os",
    "x = 1",
    "}",
    "  # c",
]


@pytest.mark.parametrize("seed", range(200))
def test_code_chunks_match_the_line_by_line_scan(seed: int) -> None:
    import random

    from sidecar.pruning.engine.chunking import _from_starts

    rnd = random.Random(seed)
    lines = rnd.choices(_CODE_PIECES, k=rnd.randint(1, 60))
    expected = _from_starts(_code_starts_by_loop(lines), len(lines), "code")
    assert chunk_lines(lines, "code", max_tokens=10**6) == expected


@pytest.mark.parametrize("words", [("err", "error", "fail"), ("error", "err", "err"), ("", "x"), ("ab", "b")])
def test_keyword_lines_skip_implied_words_and_find_the_same_lines(words: tuple[str, ...]) -> None:
    import itertools

    from sidecar.pruning.engine.chunking import keyword_lines

    lines = ["an error", "err", "failed", "abc", "nothing", "", "x"]
    low = "\n".join(lines)
    offsets = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    expected = {i for i, line in enumerate(lines) for w in words if w in line}
    assert keyword_lines(low, offsets, words) == expected


def _cap_by_lines(chunks: list[Chunk], lines: list[str], limit: int) -> list[Chunk]:
    """The reference: each long chunk cut where the next line would pass ``limit`` characters."""
    out: list[Chunk] = []
    for ch in chunks:
        size, start = 0, ch.start
        for i in range(ch.start, ch.end):
            cost = len(lines[i]) + 1
            if size and size + cost > limit:
                out.append(Chunk(start, i, ch.kind))
                start, size = i, 0
            size += cost
        out.append(Chunk(start, ch.end, ch.kind))
    return out


@pytest.mark.parametrize("seed", range(100))
def test_long_chunks_are_cut_as_line_by_line(seed: int) -> None:
    import random

    from sidecar.pruning.engine.chunking import _cap
    from sidecar.tokens import CHARS_PER_TOKEN

    rnd = random.Random(seed)
    lines = ["x" * rnd.choice([0, 3, 20, 90, 400]) for _ in range(rnd.randint(1, 80))]
    cuts = sorted(rnd.sample(range(1, len(lines) + 1), rnd.randint(1, min(5, len(lines)))))
    if cuts[-1] != len(lines):
        cuts.append(len(lines))
    chunks = [Chunk(a, b, "code") for a, b in zip([0, *cuts[:-1]], cuts, strict=True)]
    tokens = rnd.choice([1, 8, 48, 256])
    assert _cap(chunks, lines, tokens) == _cap_by_lines(chunks, lines, tokens * CHARS_PER_TOKEN)


def test_the_prefix_trie_matches_exactly_what_startswith_does() -> None:
    import random
    import re

    from sidecar.pruning.engine.chunking import (
        COMMENT_PREFIXES,
        DEF_PREFIXES,
        IMPORT_PREFIXES,
        definition_lines,
        prefix_trie,
    )

    rnd = random.Random(5)
    for prefixes in (DEF_PREFIXES, IMPORT_PREFIXES + COMMENT_PREFIXES, ("a", "ab", "abc"), ("x*", "x(", "[")):
        trie = re.compile(prefix_trie(prefixes))
        texts = [p + rnd.choice(["", "x", " y"]) for p in prefixes] + [p[:-1] for p in prefixes]
        texts += ["".join(rnd.choices("adefimpstcnu *<(#/-;:xy", k=rnd.randint(0, 12))) for _ in range(3000)]
        assert [bool(trie.match(t)) for t in texts] == [t.startswith(prefixes) for t in texts]
        if prefixes is DEF_PREFIXES:
            assert definition_lines(texts) == [t.startswith(prefixes) for t in texts]


def test_comment_lines_tell_comments_from_code_that_starts_like_one() -> None:
    comments = ["# note", "#!/usr/bin/env python", "// why", "/* a", "* text", "*/", "*", "-- sql", ";; lisp"]
    code = ["#[derive(Debug)]", "#![allow(dead_code)]", "#include <stdio.h>", "#define N 4", "#ifdef X"]
    code += ["#endif", "**kwargs)", "*args,", "*,", "*p = 0;", "--i;", "-------"]
    assert comment_lines(comments) == [True] * len(comments)
    assert comment_lines(code) == [False] * len(code)


def test_js_class_and_object_methods_are_definitions_control_statements_are_not() -> None:
    methods = ["_onAccountsChanged() {", "async load(path) {", "get size() {", "static *ids(a, b) {"]
    statements = ["if (x) {", "for (const k of keys) {", "while (true) {", "switch (kind) {", "catch (e) {"]
    assert definition_lines(methods) == [True] * len(methods)
    assert definition_lines(statements) == [False] * len(statements)
