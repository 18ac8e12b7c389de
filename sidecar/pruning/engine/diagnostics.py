"""Diagnostic lists (compilers, linters, type checkers): their records, and the file each is about.

    read_diagnostics(lines) -> Diagnostics | None

A checker prints one record per finding, each about a file. The forms read here:

- ``path:line[:col]: message`` (gcc, clang, mypy, flake8, pylint, go vet, ruff's concise form) or
  ``path(line,col): message`` (tsc), maybe indented (pyright's ``  /abs/x.py:12:5 - error: ...``),
  followed by what belongs to it: a code frame (``    8 |   printf(...)``, ``      |   ^~~``),
  indented notes, a message wrapped onto an unindented line that ends in ``[code]`` (mypy --pretty);
  ``path: In function 'f':`` (gcc) opens the record of the diagnostics that follow it;
- a message line, then ``  --> path:line:col`` under it (rustc, cargo build/clippy, ruff's full form):
  the record starts at the message, its frame, ``help:`` and ``note:`` lines follow;
- a path alone on a line, then indented ``line:col  error  message  rule`` rows (eslint's stylish
  form): each row is a record of the file above it.

Other lines (``make: *** [Makefile:6: main.o] Error 1``, a compile command, a summary) are records of
no file. The text is a diagnostic list when records of a file hold most of its lines and it shows what
plain search results never do (a record of several lines, an eslint row, a ``-->`` location, tsc's
form): ``grep -n`` output stays search results (``engine.search`` reads both). Reading is one regex
match per line, after two scans of the first ``SAMPLE`` lines for what only diagnostics show (a
``-->``, a code frame, an eslint row, tsc's form): most texts stop there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sidecar.pruning.engine.chunking import Chunk

SAMPLE = 300
MIN_RECORDS = 3  # a diagnostic list: at least this many located records...
MIN_SHARE = 0.7  # ...holding this share of its non-blank lines (a build log's few warnings stay a log)
RECORD_SHARE = 0.5  # a record's frame gets this share of its best line (a frame goes with its error)
FILE_W = 0.5  # the records of the file the goal names best: this share of the best score, others less
ERROR_W = 0.3  # an error's record among warnings: this share of the best score...
FAILING_W = 1.5  # ...and this much when the goal asks why it fails (above what its other words find)
ERROR_SHARE = 0.5  # ...when at most this share of the records are errors (else the word tells nothing)
HEADING_SHARE = 0.9  # an eslint heading: this share of its best row (a kept row says which file)
UNIT_LINES = 40  # a longer record is cut into units of this many lines
# A checker's summary: mypy/tsc/ruff "Found 12 errors", eslint "✖ 42 problems", pyright "3 errors, 1
# warning", cargo "error: could not compile", clang "N errors generated.", pylint's rating; make's
# "make: *** [Makefile:6: main.o] Error 1" (which target failed) and ninja's.
_ERROR = re.compile(r"[ \t]*(?:-[ \t]+)?(?:fatal )?error\b", re.I)  # "error:", "error TS2322", "error[E0425]"
_SUMMARY = re.compile(
    r"(?:Found \d+ (?:errors?|problems?)\b|✖ \d+ problems?|\d+ errors?(?:,| and) \d+ warnings?"
    r"|error: could not compile|\d+ (?:errors?|warnings?) generated|Your code has been rated"
    r"|^g?make(?:\[\d+\])?: \*\*\*|^make: Target|^ninja: build stopped)"
)

# What only a diagnostic list shows (a cheap test before reading lines): an indented eslint row, an
# indented location (pyright), a code frame ("    8 |   x", "      |   ^~~"), mypy's caret; tsc's form.
_FRAMED = re.compile(r"\n[ \t]+(?:\d+:\d+ +(?:error|warning)\b|\S+:\d+:\d+ - |\d* *\| |\^~)")
_TSC = re.compile(r"\(\d+,\d+\): (?:error|warning)\b")

# One line's form. A path holds a letter and no space ("10:00:01" and "make: ***" are no location).
_LINE = re.compile(
    r"(?P<head>[ \t]*(?:\./)?(?P<hpath>(?=[^\s:(]*[A-Za-z])[\w.@+~/\\-][^\s:(]*?)"
    r"(?::(?P<hline>\d+)(?::\d+)?(?::| -)(?=\s)|(?P<tsc>\(\d+,\d+\)):))"
    r"|(?P<loc>[ \t]*--> (?P<lpath>[^\s:]+):\d+)"  # rustc, ruff: "  --> src/main.rs:4:5"
    r"|(?P<row>[ \t]+\d+:\d+ +(?:error|warning|info)\b)"  # eslint stylish: "  12:5  error  ..."
    r"|(?P<ctx>(?P<cpath>[^\s:]+\.\w+): (?:In |At |note: In ))"  # gcc, mypy: "x.c: In function 'f':"
    r"|(?P<heading>(?:\./|/)?[\w.@+~-]+(?:/[\w.@+~-]+)*\.\w+[ \t]*$)"  # eslint, pyright: the path alone
    r"|(?P<cont>[ \t]|\d+ *[|+-](?:[ \t]|$)|[|=]|(?:note|help|hint)\b|-{10,}$|.*\[[\w-]+\]$)"
)


@dataclass(frozen=True)
class Diagnostics:
    """A diagnostic list read: each line's record (its first line) and file (-1: none), the paths,
    and the headings (eslint's path alone on a line, over its rows)."""

    record: list[int]
    file: list[int]
    paths: list[str]
    headings: frozenset[int]
    keys: frozenset[int]  # the lines that say what and where: a record's first, its head or location
    errors: frozenset[int]  # the records (first lines) whose severity is error


def read_diagnostics(lines: Sequence[str]) -> Diagnostics | None:
    """Return the records of a diagnostic list, or None when ``lines`` are not one."""
    sample = "\n" + "\n".join(lines[:SAMPLE])
    if "--> " not in sample and not _FRAMED.search(sample) and not _TSC.search(sample):
        return None  # most texts (logs, grep -n, code) stop here: two scans at C speed, no line read
    head = _read(lines[:SAMPLE])
    return head if head is None or len(lines) <= SAMPLE else _read(lines)


def _read(lines: Sequence[str]) -> Diagnostics | None:
    """Read ``lines`` as records (one pass over their forms); None unless located records hold most of
    them and something shows they are no plain search results (``rich``)."""
    n = len(lines)
    forms = list(map(_form, lines))
    # A "-->" location names the file of the message above it (the last non-blank line before it).
    for i in range(n):
        if forms[i][0] == "loc":
            j = i - 1
            while j >= 0 and not lines[j].strip():
                j -= 1
            if j >= 0 and forms[j][0] == "other":
                forms[j] = ("opened", forms[i][1], lines[j])
    paths: dict[str, int] = {}
    record, file = [0] * n, [-1] * n
    headings: list[int] = []
    keys: list[int] = []
    errors: list[int] = []
    start = current = heading = -1
    located = rich = covered = nonblank = 0
    for i, (form, path, said) in enumerate(forms):
        if form == "note":  # gcc's "x.c:9:10: note: ..." under its diagnostic
            form = "cont" if current == paths.get(path, -2) else "head"
        if form == "heading":
            start, current = i, paths.setdefault(path, len(paths))
            heading = current
            headings.append(i)
            keys.append(i)
        elif form == "row" and heading >= 0:
            start, current = i, heading
            located += 1
            rich += 1
        elif form in ("head", "opened", "ctx"):
            f = paths.setdefault(path, len(paths))
            # gcc's "x.c: In function 'f':" opens the record of the first diagnostic below it.
            if not (form == "head" and i - start == 1 and forms[start][0] == "ctx" and current == f):
                start = i
            current = f
            located += form != "ctx"
            # No search result is an indented location (pyright's), tsc's "(line,col)" or under a message.
            head = lines[i][: lines[i].find(":")]
            rich += form == "opened" or form == "head" and ("(" in head or head[:1].isspace())
        elif form == "loc" and current < 0:
            start, current = i, paths.setdefault(path, len(paths))
            located += 1
        elif form in ("cont", "loc") or not lines[i].strip():
            if start < 0:
                start = i
            elif current >= 0 and lines[i].strip() and forms[start][0] != "heading":
                rich += 1  # a record of several lines: no search result has one
        else:  # a line of its own: make's, a command, a summary
            start, current = i, -1
        record[i], file[i] = start, current
        if form in ("row", "head", "opened", "loc") and current >= 0:
            keys.append(i)
            if _ERROR.match(said) and (not errors or errors[-1] != start):
                errors.append(start)
        if lines[i].strip():
            nonblank += 1
            covered += current >= 0
    if located < MIN_RECORDS or rich < MIN_RECORDS or covered < MIN_SHARE * nonblank:
        return None
    return Diagnostics(record, file, list(paths), frozenset(headings), frozenset(keys), frozenset(errors))


def _form(line: str) -> tuple[str, str, str]:
    """Return a line's form (head, note, loc, row, ctx, heading, cont, other), the path it names and
    where its message starts (what tells its severity)."""
    m = _LINE.match(line)
    if m is None:
        return "other", "", line
    if m.group("hpath") is not None:
        said = line[m.end() :]
        return "note" if said.startswith(" note:") else "head", m.group("hpath"), said
    if m.group("lpath") is not None:
        return "loc", m.group("lpath"), ""
    if m.group("cpath") is not None:
        return "ctx", m.group("cpath"), ""
    if m.group("heading") is not None:
        return "heading", line.strip(), ""
    return ("row", "", line.lstrip(" \t0123456789:")) if m.group("row") is not None else ("cont", "", "")


def diagnostic_priors(
    lines: Sequence[str],
    diag: Diagnostics,
    scores: list[float],
    value: list[float],
    unit: float,
    *,
    failing: bool = False,
) -> list[Chunk]:
    """Score a diagnostic list by records (``value``: each file's from the goal); return its units.

    Each record rises to its best line, plus the file's lift (the file the goal names, relative to the
    best named) and, when errors are the exception among warnings, an error's lift (more when the goal
    asks why something fails and names no file, ``failing``: "the build is broken"): its lines saying
    what and where (the message, its location) at that score, its frame a little under, so a frame goes
    with its error and a tight budget keeps the messages. An eslint heading rises with its best row (a
    kept row says which file); a checker's summary stays with the best lines. Units: each record's
    message and location, then its frame.
    """
    n = len(lines)
    starts = sorted(set(diag.record))
    located = sum(1 for r in starts if diag.file[r] >= 0 and r not in diag.headings)
    named = max(value, default=0.0)
    # The goal asking why it fails, naming no file, and some findings not errors: the errors first.
    exception = 0 < len(diag.errors) <= ERROR_SHARE * located
    first = failing and not named and 0 < len(diag.errors) < located
    severity = (FAILING_W if first else ERROR_W if exception else 0.0) * unit
    best: dict[int, float] = {}
    for i, r in enumerate(diag.record):
        if lines[i].strip():
            best[r] = max(best.get(r, scores[i]), scores[i])
    for r in best:
        f = diag.file[r]
        best[r] += (FILE_W * unit * value[f] / named if f >= 0 and named else 0.0) + severity * (
            r in diag.errors
        )
    rows: dict[int, float] = {}  # an eslint heading's file: its best row
    for r, b in best.items():
        if diag.file[r] >= 0 and r not in diag.headings:
            rows[diag.file[r]] = max(rows.get(diag.file[r], b), b)
    for i, r in enumerate(diag.record):
        if lines[i].strip() and diag.file[i] >= 0:  # (make's lines, a summary's table: by their words)
            # A frame line weighs per character at most what its message does: a short "    |   ^~~"
            # must not outbid another error's message where the budget is counted in characters.
            lift = (
                best[r]
                if i in diag.keys
                else RECORD_SHARE * best[r] * min(1.0, len(lines[i]) / len(lines[r]))
            )
            if i in diag.headings:
                lift = max(lift, HEADING_SHARE * rows.get(diag.file[i], 0.0))
            scores[i] = max(scores[i], lift)
    top = max(scores, default=0.0)
    for i in range(n):
        if diag.file[i] < 0 and _SUMMARY.search(lines[i]):
            scores[i] = top
    # Units: a record's message and location, then its frame (a blank line goes with the part above).
    part = [(r, i in diag.keys) for i, r in enumerate(diag.record)]
    units: list[Chunk] = []
    start = 0
    for i in range(1, n + 1):
        if i < n and not lines[i].strip():
            part[i] = part[i - 1]
        if i == n or part[i] != part[start] or i - start >= UNIT_LINES:
            units.append(Chunk(start, i, "record"))
            start = i
    return units
