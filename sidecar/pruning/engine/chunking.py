"""Structure-aware chunking: the units a scorer (heuristic or reranker) rates.

Code splits at definitions (with the comments and decorators just above them) and at
blank-line paragraphs; logs at records, a whole traceback being one record; docs at
paragraphs and markdown headings. A chunk never splits a line, and a chunk longer than
``max_tokens`` is cut at line boundaries. Chunks cover every line exactly once, in order.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import re
from collections.abc import Sequence

import msgspec

from sidecar.pruning.engine import yaml_kind
from sidecar.pruning.types import SourceType
from sidecar.tokens import CHARS_PER_TOKEN

DEF_PREFIXES = (
    "def ", "async def ", "class ", "function ", "function* ", "async function ", "export function ",
    "export async function ", "export default function ", "export class ", "export default class ",
    "func ", "fn ", "pub fn ", "pub(crate) fn ", "async fn ", "pub async fn ", "impl ", "impl<",
    "struct ", "pub struct ", "enum ", "pub enum ", "trait ", "pub trait ", "interface ",
    "export interface ", "type ", "export type ", "module ", "mod ", "pub mod ",
    "public ", "private ", "protected ", "static ", "sub ",
)  # fmt: skip
CLASS_PREFIXES = (
    "class ",
    "export class ",
    "export default class ",
    "impl ",
    "impl<",
    "struct ",
    "pub struct ",
    "trait ",
    "pub trait ",
    "interface ",
    "export interface ",
    "mod ",
    "module ",
)
COMMENT_PREFIXES = ("#", "//", "/*", "*", "--", ";;")
IMPORT_PREFIXES = ("import ", "from ", "use ", "#include", "require ", "package ", "using ")

# A log record starts with a timestamp, a level, or a bracketed tag; anything else may continue one.
_LOG_START = re.compile(
    r"(?:\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d|\[?\d\d:\d\d:\d\d|\[?[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d|"
    r"\[?(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|SEVERE)\b|\d{10}(?:\.\d+)?\b)"
)
_EXC_LINE = re.compile(
    r"[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Fault)\b|[A-Za-z_][\w.]*:\s"
)
_HEADING = re.compile(r"#{1,6}\s|=+\s*$|-+\s*$")


# Words that mark a log line as an error (matched anywhere in the lowercased line).
ERROR_WORDS = ("error", "fatal", "critical", "severe", "panic", "traceback", "exception", "fail")


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def lowered(text: str) -> str:
    """Lowercase ``text`` keeping every character at its offset (a few characters grow when lowered)."""
    low = text.lower()
    return low if len(low) == len(text) else text.translate(_ASCII_LOWER)


def keyword_lines(low: str, offsets: list[int], words: Sequence[str]) -> set[int]:
    """Return the indices of the lines of ``low`` containing any of ``words`` (a C-speed scan per word).

    ``low`` is the lowercased text and ``offsets`` the start of each line in it (plus its end).
    """
    out: set[int] = set()
    end = len(low)
    # A word holding another of the words ("error" holds "err") finds no line that one does not.
    words = [w for w in dict.fromkeys(words) if not any(v != w and v in w for v in words)]
    for w in words:
        pos = low.find(w)
        while pos >= 0:
            line = bisect.bisect_right(offsets, pos) - 1
            out.add(line)
            pos = low.find(w, offsets[line + 1] if line + 1 < len(offsets) else end)
    return out


class Chunk(msgspec.Struct, frozen=True):
    """Lines ``start``..``end`` (0-based, end exclusive) forming one unit of ``kind``."""

    start: int
    end: int
    kind: str


_ASSIGN = re.compile(r"[\w.\[\]'\"]+\s*[-+*/|&]?=\s")


def _sample(text: str) -> list[str]:
    """Return up to 300 stripped non-blank lines from the start, middle and end of ``text``."""
    parts = [text[:8000]]
    if len(text) > 24000:
        mid = len(text) // 2
        parts += [text[mid : mid + 8000], text[-8000:]]
    out: list[str] = []
    for part in parts:
        lines = part.split("\n")
        if part is not parts[0]:
            lines = lines[1:-1]  # a cut at a random offset leaves partial lines at both ends
        out += [line.strip() for line in lines[:100] if line.strip()]
    return out


def detect_source_type(text: str) -> SourceType:
    """Guess whether ``text`` is code, logs or docs from a sample of its lines."""
    nonblank = _sample(text)
    if not nonblank:
        return "docs"
    n = len(nonblank)
    logs = sum(1 for s in nonblank if _LOG_START.match(s))
    code = sum(
        1
        for s in nonblank
        if s.startswith(DEF_PREFIXES + IMPORT_PREFIXES + ("return", "if ", "for ", "else", "}", "@", "self."))
        or s.endswith((";", "{", "}", ":", ")", ",", "(", "[", "]"))
        or _ASSIGN.match(s)
    )
    fences = sum(1 for s in nonblank if s.startswith(("```", "~~~")))
    docs = sum(1 for s in nonblank if s.startswith(("## ", "### ", "- ", "* ", "> ", "1. ")))
    prose = (s for s in nonblank if s[:1] not in "#/*")
    docs += sum(1 for s in prose if s.count(" ") >= 6 and s.endswith((".", "?", "!")))
    docs += 4 * fences
    if logs >= 0.3 * n and logs >= code * 0.5:
        return "logs"
    if code >= 0.15 * n and code >= docs:
        return "code"
    return "docs"


def _cap(
    chunks: list[Chunk], lines: Sequence[str], max_tokens: int, offsets: list[int] | None = None
) -> list[Chunk]:
    """Cut chunks longer than ``max_tokens`` at line boundaries."""
    limit = max(1, max_tokens) * CHARS_PER_TOKEN
    if offsets is None:
        offsets = list(itertools.accumulate(map((1).__add__, map(len, lines)), initial=0))
    out: list[Chunk] = []
    for ch in chunks:
        if offsets[ch.end] - offsets[ch.start] <= limit:
            out.append(ch)
            continue
        # Each piece takes its first line, then the lines up to ``limit`` characters: one bisect each.
        start = ch.start
        while (cut := bisect.bisect_right(offsets, offsets[start] + limit, start + 2) - 1) < ch.end:
            out.append(Chunk(start, cut, ch.kind))
            start = cut
        out.append(Chunk(start, ch.end, ch.kind))
    return out


def _code_chunks(lines: Sequence[str], stripped: list[str], defs: list[bool]) -> list[Chunk]:
    """Start a chunk at each definition (with the comments and decorators just above it) and at each
    paragraph (a non-blank line after a blank one, or the first line).

    Only those lines are visited: which they are is found by C-level maps over the lines.
    """
    n = len(lines)
    filled = list(map(bool, stripped))
    after_blank = [True] + list(map(operator.not_, filled[:-1]))  # the first line, or one after a blank
    wanted = map(operator.and_, filled, map(operator.or_, after_blank, defs))
    starts: list[tuple[int, str]] = []
    for i in itertools.compress(range(n), wanted):
        s = stripped[i]
        if s.startswith(_COMMENT_OR_DECORATOR):
            starts.append((i, "comment"))  # a comment or decorator run opening a paragraph
        elif defs[i]:
            kind = "class" if s.startswith(CLASS_PREFIXES) else "def"
            first = i  # the comment and decorator run just above belongs to the definition
            while first > 0 and stripped[first - 1].startswith(_COMMENT_OR_DECORATOR):
                first -= 1
            if starts and starts[-1][0] == first:
                starts[-1] = (first, kind)
            else:
                starts.append((first, kind))
        else:
            starts.append((i, "import" if s.startswith(IMPORT_PREFIXES) else "code"))
    return _from_starts(starts, n, "code")


_COMMENT_OR_DECORATOR = (*COMMENT_PREFIXES, "@")


def _from_starts(starts: list[tuple[int, str]], n: int, lead_kind: str) -> list[Chunk]:
    if not starts or starts[0][0] != 0:
        starts.insert(0, (0, lead_kind))
    chunks = []
    for k, (start, kind) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else n
        if end > start:
            chunks.append(Chunk(start, end, kind))
    return chunks


def _log_chunks(lines: Sequence[str]) -> list[Chunk]:
    starts: list[tuple[int, str]] = []
    in_tb = False
    for i, line in enumerate(lines):
        s = line.strip()
        if in_tb:
            if not s or line[:1] in (" ", "\t") or s.startswith(("During handling", "The above")):
                continue
            in_tb = False
            if _EXC_LINE.match(s):
                continue  # the exception line closes the traceback, inside the same record
        if s.startswith("Traceback (most recent call last)"):
            # A traceback continues the record that announced it when that record is an error line.
            if not (starts and starts[-1][0] == i - 1 and "error" in lines[i - 1].lower()):
                starts.append((i, "traceback"))
            else:
                starts[-1] = (starts[-1][0], "traceback")
            in_tb = True
            continue
        if not s or line[:1] in (" ", "\t"):
            continue  # blank and indented lines continue the current record
        starts.append((i, "record"))
    return _from_starts(starts, len(lines), "record")


def _doc_chunks(lines: Sequence[str]) -> list[Chunk]:
    starts: list[tuple[int, str]] = []
    prev_blank = True
    fence = False
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith(("```", "~~~")):
            if not fence:
                starts.append((i, "code"))
            fence = not fence
            prev_blank = False
            continue
        if fence:
            continue
        if not s:
            prev_blank = True
            continue
        if s.startswith("#") and _HEADING.match(s):
            starts.append((i, "heading"))
        elif prev_blank:
            starts.append((i, "para"))
        prev_blank = False
    return _from_starts(starts, len(lines), "para")


def chunk_lines(
    lines: Sequence[str],
    source_type: SourceType,
    max_tokens: int = 256,
    *,
    stripped: list[str] | None = None,
    defs: list[bool] | None = None,
    offsets: list[int] | None = None,
    yaml: yaml_kind.Tree | None = None,
) -> list[Chunk]:
    """Split ``lines`` into structural chunks of at most ``max_tokens`` (except single long lines).

    ``stripped`` (each line stripped), ``defs`` (``definition_lines``) and ``offsets`` (each line's
    start, then the end) are computed when not given. ``yaml``: the YAML tree of code that is YAML,
    whose keys and items make the units (``yaml_kind.unit_starts``).
    """
    if not lines:
        return []
    if source_type == "logs":
        chunks = _log_chunks(lines)
    elif source_type == "listing":
        chunks = [Chunk(i, i + 1, "row") for i in range(len(lines))]  # rows stand alone, a tree's too
    elif source_type == "docs":
        chunks = _doc_chunks(lines)
    elif yaml is not None:
        stripped = list(map(str.strip, lines)) if stripped is None else stripped
        if offsets is None:
            offsets = list(itertools.accumulate(map((1).__add__, map(len, lines)), initial=0))
        limit = max(1, max_tokens) * CHARS_PER_TOKEN
        chunks = _from_starts(yaml_kind.unit_starts(yaml, stripped, offsets, limit), len(lines), "entry")
    else:
        stripped = list(map(str.strip, lines)) if stripped is None else stripped
        chunks = _code_chunks(lines, stripped, definition_lines(stripped) if defs is None else defs)
    return _cap(chunks, lines, max_tokens, offsets)


def definition_lines(stripped: Sequence[str], methods: bool = True) -> list[bool]:
    """Flag the (stripped) lines that start a definition (``DEF_PREFIXES``, or a JS/TS method).

    ``methods=False`` skips the JS/TS method check (a caller that knows no line ends in ``) {`` or ``){``).
    """
    flags = list(map(bool, map(_DEF_START.match, stripped)))
    if not methods:
        return flags
    for i in itertools.compress(
        range(len(flags)), map(str.endswith, stripped, itertools.repeat((") {", "){")))
    ):
        if not flags[i] and _JS_METHOD.match(stripped[i]):  # only lines ending in ") {" are tried
            flags[i] = True
    return flags


def comment_lines(stripped: Sequence[str]) -> list[bool]:
    """Flag the (stripped) lines that are comments: they start with a ``COMMENT_PREFIXES`` marker.

    Not comments, though they start like one: Rust attributes (``#[derive(...)]``), C preprocessor
    directives (``#include``, ``#define``...), Python's ``*args``/``**kwargs`` and a dereference
    (``*p = 0;``) on a line of their own, a decrement (``--i;``) and the rules under a docstring's
    heading (``-------``).
    """
    flags = list(map(str.startswith, stripped, itertools.repeat(COMMENT_PREFIXES)))
    for i in itertools.compress(range(len(flags)), flags):  # the few that start like a comment
        s = stripped[i]
        if s[1:2] not in _SURELY_COMMENT and _NOT_COMMENT.match(s):
            flags[i] = False
    return flags


_SURELY_COMMENT = frozenset(("", " ", "\t", "/"))  # a second character after which no exception applies


_NOT_COMMENT = re.compile(
    r"#!?\[|#(?:include|define|undef|ifdef|ifndef|if|elif|else|endif|pragma|error)\b|\*{1,2}[^\s/*]|--[^\s]"
)


def prefix_trie(prefixes: Sequence[str]) -> str:
    """Return a regex matching at a string's start exactly when it starts with one of ``prefixes``.

    The alternatives are nested by common prefix, so a line is told apart in a few character tests
    (``str.startswith`` with a tuple tries every prefix in turn).
    """
    if "" in prefixes:
        return ""  # the shorter prefix already matches whatever the longer ones would
    groups: dict[str, list[str]] = {}
    for p in prefixes:
        groups.setdefault(p[0], []).append(p[1:])
    alts = [re.escape(c) + prefix_trie(sorted(set(rest))) for c, rest in sorted(groups.items())]
    return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"


# A JS/TS class or object method (``name(args) {``, ``async *name(args) {``, ``get name() {``), not a
# control statement, whose keyword reads like a name.
_JS_METHOD = re.compile(
    r"(?:(?:async|static|get|set)\s+|\*)*(?!(?:if|for|while|switch|catch|with|return|function)\b)"
    r"[A-Za-z_$][\w$]*\s*\([^()]*\)\s*\{$"
)
_DEF_START = re.compile(prefix_trie(DEF_PREFIXES))
