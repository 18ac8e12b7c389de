"""What kind of text a tool output is, from its content and the hint its tool call gave.

    detect_kind(text, declared) -> "code" | "logs" | "docs" | "json" | "search" | "diff"

The tool call's hint (``declared``: a file's extension, a command's name) is weak: an ``npm view
--json`` is declared as logs by its command, a ``.json`` file read as code. So the structural kinds
win over it when the text shows them unmistakably:

- ``json``: the text is one JSON document (it parses) spread over several lines, maybe after an HTTP
  response head (``curl -i``, HTTPie) or a few lines of warnings (``layout.body_start``);
- ``diff``: unified diff headers (``diff --git``, ``--- a/`` + ``+++ b/``, ``@@``) or ``git log``
  records (``commit <hash>`` followed by ``Author:``);
- ``search``: most lines are ``grep -n``/``rg`` matches (``path:line:text``, ``path-line-text`` for
  context) or rg's heading form (a path alone, then ``line:text`` lines);
- ``logs`` for JSON lines (NDJSON: one object per line, as a structured logger, ``kubectl logs`` of a
  service logging JSON, docker's json-file driver or ``jq -c`` write them): a stream of records, read
  a line at a time. Taken for code otherwise (lines open and close braces), it was cut into arbitrary
  chunks and kept at twice the share.

An explicit structural kind (``json``, ``search``, ``diff``) is trusted as given; otherwise the
declared kind stands, or the text decides (``chunking.detect_source_type``). Detection reads a sample of
the text (the first 300 lines) and, for JSON, parses it once (JSON lines: up to ``NDJSON_PARSED`` of
the sample's lines); it never raises.
"""

from __future__ import annotations

import re

import msgspec

from sidecar.pruning.engine.chunking import detect_source_type
from sidecar.pruning.engine.layout import body_start
from sidecar.pruning.engine.search import MATCH
from sidecar.pruning.types import SourceType

STRUCTURAL: frozenset[str] = frozenset({"json", "search", "diff"})
SAMPLE_LINES = 300
NDJSON_MIN = 8  # JSON lines: at least this many records in the sample...
NDJSON_SHARE = 0.9  # ...making this share of its non-blank lines...
NDJSON_PARSED = 20  # ...the first ones of which parse as JSON objects

_HEADING_LINE = re.compile(r"^\d+[:-]")
_PATHLIKE = re.compile(r"^(?:\./)?[\w.@+~-]+(?:/[\w.@+~-]+)*\.?\w*$")
_DIFF_HEAD = re.compile(r"^(?:diff --git |--- (?:a/|/dev/null)|\+\+\+ (?:b/|/dev/null)|@@ -\d)", re.M)
_COMMIT = re.compile(r"^commit [0-9a-f]{7,40}\b.*\n(?:Merge: .*\n)?Author: ", re.M)


def _is_json(text: str) -> bool:
    text = text[body_start(text) :]  # after an HTTP response head (curl -i, HTTPie) or warnings
    head = text.lstrip()[:1]
    if head not in ("{", "[") or text.count("\n", 0, 4096) < 8 and text.count("\n") < 8:
        return False  # one-line JSON has no lines to select among
    try:
        msgspec.json.decode(text.encode("utf-8", "surrogateescape"))
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return False  # not JSON, a lone surrogate no encoding takes, or nesting past the stack
    return True


def _is_ndjson(lines: list[str]) -> bool:
    nonblank = [s for s in lines if s.strip()]
    records = [s for s in nonblank if s.lstrip()[:1] == "{" and s.rstrip()[-1:] == "}"]
    if len(records) < NDJSON_MIN or len(records) < NDJSON_SHARE * len(nonblank):
        return False  # most texts stop here: prose, code, logs do not open and close braces on every line
    checked = records[:NDJSON_PARSED]
    return sum(map(_is_object, checked)) >= NDJSON_SHARE * len(checked)  # a record cut short may fail


def _is_object(line: str) -> bool:
    try:
        msgspec.json.decode(line.encode("utf-8", "surrogateescape"))
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return False  # code (a line "{ ... }" that is not JSON), or a record cut short
    return True


def _is_diff(sample: str) -> bool:
    if "@@ -" not in sample and "commit " not in sample:
        return False  # the common case (code, logs) decided by two C-speed scans
    heads = _DIFF_HEAD.findall(sample)
    return len(heads) >= 3 and any(h.startswith("@@") for h in heads) or len(_COMMIT.findall(sample)) >= 2


def _is_search(lines: list[str]) -> bool:
    nonblank = [s for s in lines if s.strip()]
    if len(nonblank) < 5:
        return False
    head = nonblank[:20]
    if sum(1 for s in head if MATCH.match(s) or _HEADING_LINE.match(s)) < 0.5 * len(head):
        return False  # code, logs, prose: decided on their first lines
    matches = sum(1 for s in nonblank if MATCH.match(s))
    if matches >= 0.6 * len(nonblank) and not any(s.startswith(("diff --git", "@@ ")) for s in nonblank):
        return True
    # rg --heading: a path alone on its line, its matches as "12:text" below, a blank line between files.
    numbered = sum(1 for s in nonblank if _HEADING_LINE.match(s))
    paths = sum(1 for s in nonblank if _PATHLIKE.match(s) and ("/" in s or "." in s))
    return numbered >= 0.6 * len(nonblank) and paths >= 1 and numbered + paths >= 0.9 * len(nonblank)


def detect_kind(text: str, declared: SourceType | None = None) -> SourceType:
    """Return the kind of ``text``: a structural kind its content shows, else ``declared`` or a guess."""
    if declared in STRUCTURAL:
        return declared
    if _is_json(text):
        return "json"
    lines = text.split("\n", SAMPLE_LINES)[:SAMPLE_LINES]
    sample = "\n".join(lines)
    if _is_diff(sample):
        return "diff"
    if _is_search(lines):
        return "search"
    if _is_ndjson(lines):
        return "logs"
    return declared or detect_source_type(text)
