"""Logs, build output and test runs: what a reader of a log looks for, whatever the goal says.

``log_priors`` adjusts goal-term scores (``sidecar.pruning.backends.heuristic``) in place:

- errors up (a line saying error, failure, panic, traceback...), warnings a little; an error's
  whole record (a traceback with its exception line) is lifted with it;
- **failing tests kept whole**: pytest's FAILURES/ERRORS blocks (``____ test_x ____`` to the next),
  unittest's ``FAIL:``/``ERROR:`` blocks, jest's ``●`` blocks, cargo's ``---- x stdout ----`` and
  go's ``--- FAIL:`` blocks: from the failing line (``>``, ``E``, ``panicked``, ``Error:``) to the
  block's end as errors, the test source above it less;
- **then their skeletons**: past the first ``WHOLE_FAILURES`` blocks, a long block keeps only what
  says where and why it failed (its header, pytest's ``>`` and ``E`` lines, ``file:line:``
  locations, traceback frames, exception, expected/received and panic lines); its source context
  and locals fold into markers. A bug that fails seventy tests prints seventy tracebacks, mostly
  alike: whole, they stand at the median and nothing stands out; skeletons keep every failure's
  marks within the budget of a log;
- **summaries**: ``FAILED``/``ERROR`` summary lines, pytest's and jest's totals, ``test result:``;
- **folding**: lines repeated or near-repeated (numbers and a line's first path or URL masked:
  ``Found link https://…/pkg-1.0.tar.gz``, ``test_x.py::test_y PASSED [ 41%]``) score lower after
  their first occurrences, so a run of them is cut to its first lines and one marker; a runner's
  progress lines too when they say FAILED (the summary lists the failures again); progress
  bars and long blobs down;
- the first lines and the tail (where a run's outcome is printed) up.

A log written as JSON lines (a structured logger's records, docker's json-file driver, ``kubectl logs``
of a service logging JSON) is scored through ``json_lines_view``: each record read as the line it
stands for, its message first (``{"log": "E   assert x == 1\n", "stream": ...}`` is the line
``E   assert x == 1``), its other fields after it as ``key=value``, timestamps and stream names
dropped. The priors above then see the lines they know (pytest's ``E`` lines, a ``FAILED`` summary,
repeats); the kept lines are the records themselves.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

import msgspec

from sidecar.pruning.engine.chunking import ERROR_WORDS, keyword_lines
from sidecar.pruning.engine.terms import WORD

WARN_WORDS = ("warn", "deprecat")
NAMED_W = 1.0  # the failing test the goal names, above the other failing tests
FAIL_W = 2.0  # a failing test's failure lines: above a lone error line, with the summaries
SOURCE_W = 0.5  # the failing test's source above its failing line
SUMMARY_W = 1.2
WHOLE_FAILURES = 3  # the first failing tests are kept whole; later ones keep their skeleton
SHORT_FAILURE = 8  # a block this short (lines) is kept whole: cutting it would cost markers
# A gap of a line or two in a skeleton is kept with it up to one and a half markers' characters (the
# selection counts a pruned run at about 64, a marker with its 26-character id): a cut that saves less
# than a third of that is not worth the line it hides (pytest's "_ _ _" separator between frames, a blank).
GAP_CHARS = 96
FOLD_W = -1.0  # the rest of a later failing test: with the noise, so it folds
PROGRESS_ERRORS = 3  # a runner's "FAILED [ 41%]" progress lines after this many fold
TAIL_LINES = 20

# JSON lines: a record's message (docker and CRI's "log", zap, pino and slog's "msg", journald's
# "MESSAGE", structlog's "event"), and the fields that say nothing about it (when, which stream).
MESSAGE_KEYS = ("log", "msg", "message", "MESSAGE", "event", "text")
QUIET_KEYS = frozenset(
    "time ts timestamp @timestamp t date datetime asctime created stream _p __REALTIME_TIMESTAMP "
    "__MONOTONIC_TIMESTAMP __CURSOR _BOOT_ID _MACHINE_ID".split()
)
JSON_LINES_SHARE = 0.9  # a log is JSON lines when this share of its non-blank lines are JSON objects
JSON_LINES_LEAD = 10  # lines of another kind that may come first (kubectl's "Defaulted container ...")
# A timestamp prefix: GitHub Actions' "job<TAB>step<TAB>2026-12-05T14:02:30.5660847Z ", or the time alone.
_STAMP = re.compile(
    r"(?:[^\t\n]*\t[^\t\n]*\t)?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d) ?"
)
STAMPED_SAMPLE = 50  # lines read to tell a stamped log...
STAMPED_SHARE = 0.9  # ...and this share of their non-blank ones stamped
_decode_record = msgspec.json.Decoder()
_encode = msgspec.json.Encoder()

_PROGRESS = re.compile(r"\d{1,3}%|[#=>█▏▎▍▌▋▊▉-]{10,}|\r.")
_BLOB = re.compile(r"[A-Za-z0-9+/=_\-]{80,}")
# Near-repeats compare equal: numbers by translation, and the first path or URL of a line masked
# (string finds: a regex over every position of the text costs several times more).
_DIGITS = str.maketrans("123456789", "000000000")


def _shape(line: str) -> str:
    """Return ``line`` (digits already masked) with its first token holding a ``/`` masked."""
    i = line.find("/")
    if i < 0:
        return line
    start = line.rfind(" ", 0, i) + 1
    end = line.find(" ", i)
    return line[:start] + "~" + (line[end:] if end >= 0 else "")


# Line-start patterns are written "\n(?:...)" and run over "\n" + text: a pattern that begins with a
# literal is scanned for that literal at C speed, where "^" under re.M is tried at every position.
# Failing-test blocks: where one starts, and (in its own lines) where the failure itself begins.
_BLOCK_START = re.compile(
    r"\n(?:_{3,} [^\n]+ _{3,}$"  # pytest: ____ test_name ____
    r"|(?:FAIL|ERROR): \S"  # unittest
    r"|[ \t]*● "  # jest
    r"|---- \S+ stdout ----$"  # cargo test
    r"|[ \t]*--- FAIL: )",  # go test
    re.M,
)
# nginx / Apache's combined format: "GET /path HTTP/1.1" 502 157 ... (the status after the request).
# Read in the lowered text, "\n(?:...)" as ``_line_starts`` wants it.
_SERVER_ERROR = re.compile(r'\n[^\n"]*+"[a-z]+ [^\s"]++ http/[\d.]+" 5\d\d ')
# An error word that is a part of a name is no error: a package ("http-errors"), a test or a setting
# ("test_error_pages", "ignore_errors"), a path ("pkg/errors", "error.log" after a slash), an attribute
# ("self.errors"; an ellipsis is no attribute: "Applying crm.0003...Traceback").
_ERROR_WORD = re.compile(rf"(?<![-_/@])(?<!\w\.)(?:{'|'.join(ERROR_WORDS)})(?![_-]\w)")
_LONE_PATH = re.compile(r"\S*/\S*|[\w@+~.-]*\.[a-z][a-z0-9]{0,4}")  # a path or a file name alone
# Where a failing test's block ends at the latest: pytest's sections and rules; jest's and vitest's next
# test file ("PASS src/a.test.js") or their summary ("Test Suites: 1 failed").
_SECTION = re.compile(r"^={3,} .* ={3,}$|^={20,}$|^-{20,}$|^(?:PASS|FAIL) \S|^Test (?:Suites|Files): ")
# go test -v prints a test's messages as they come, between its "=== RUN   TestX" and "--- FAIL: TestX";
# its block ends where the next test or the package's result starts (at the FAIL line's indentation).
_GO_FAIL = re.compile(r"([ \t]*)--- FAIL: (\S+)")
_GO_END = re.compile(r"=== (?:RUN|CONT|PAUSE|NAME) |--- (?:PASS|SKIP|FAIL): |(?:PASS|FAIL)$|(?:ok|FAIL)[ \t]")
GO_RUN_REACH = 400  # lines above a "--- FAIL:" searched for its "=== RUN" (parallel tests interleave)
_FAILURE = re.compile(
    r"^(?:>\s|E\s|\s*(?:AssertionError|assert|Error|Expected|Received|panic:)|\S+:\d+: \w"
    r"|.*thread '[^'\n]*'(?: \(\d+\))? panicked)"  # rustc 1.9x prints the thread's id: 'x' (27674)
)
# What a failing test's skeleton keeps: where and why it failed, one line each. Written "\n(?:...)"
# (see below) and without a backtracking scan per token: possessive runs, lookbehinds at their end.
_SKELETON = re.compile(
    r"\n(?:[>E] "  # pytest: the failing line and the error lines
    r"|[ \t]*(?:(?=[^\s:]*\.[A-Za-z])[^\s:]++:\d+:"  # file:line: (pytest's frames and exception, go)
    r"|File \"[^\"\n]*\", line \d"  # a Python traceback's frames
    r"|[\w.]++(?:(?<=Error)|(?<=Exception)|(?<=Failure))\b|panic:|thread '[^'\n]*'(?: \(\d+\))? panicked"
    r"|(?=[ERelra])(?:Expected|Received|expected|received|left|right|assertion)\b|expect\("  # jest, cargo
    r"|>[ \t]*\d+ \|"  # jest's code frame: the failing line
    r"|[ \t]*--- FAIL: "  # go: the failing test or subtest (its messages come above it with -v)
    r"|at [^\n]*\.(?:test|spec)\.[jt]sx?:\d))"  # a JS stack's frame in the test file
)
_SUMMARY = re.compile(
    r"\n(?:FAILED |ERROR |=+ [^\n]*\b(?:failed|passed|errors?)\b[^\n]* =+$|Tests?:[ \t]|Test Suites:"
    r"|test result:|FAIL[ \t]|ok[ \t]+\S+[ \t]+[\d.]+s$|Ran \d+ tests?|FAILED \(|\d+ (?:passed|failed))",
    re.M,
)


def json_lines_view(lines: Sequence[str]) -> list[str] | None:
    """Return each line of a JSON-lines log as the log line it stands for, or None for another log.

    A record becomes its message (its first ``MESSAGE_KEYS`` string, line breaks as spaces) followed
    by its other fields as `` key=value`` (nested values as compact JSON), ``QUIET_KEYS`` left out; a
    line that is not a JSON object stays as it is. One view line per line, so scores carry over.
    """
    view: list[str] = []
    objects = nonblank = 0
    for line in lines:
        s = line.strip()
        if not s:
            view.append(line)
            continue
        nonblank += 1
        record: object = None
        if s[0] == "{" and s[-1] == "}":
            try:
                record = _decode_record.decode(s.encode("utf-8", "surrogateescape"))
            except (msgspec.DecodeError, UnicodeError, RecursionError):
                record = None
        if not isinstance(record, dict):
            view.append(line)
            continue
        objects += 1
        said = next((k for k in MESSAGE_KEYS if isinstance(record.get(k), str)), None)
        parts = [] if said is None else [str(record[said]).rstrip("\r\n")]
        for key, value in record.items():
            if key in QUIET_KEYS or key == said:
                continue
            shown = value if isinstance(value, str) else _encode.encode(value).decode("utf-8", "replace")
            parts.append(f"{key}={shown}")
        view.append(" ".join(parts).replace("\r", " ").replace("\n", " "))
    return view if nonblank and objects >= JSON_LINES_SHARE * nonblank else None


def stamped_view(lines: Sequence[str]) -> list[str] | None:
    """Return each line of a log whose lines carry a timestamp prefix without it, or None for another.

    GitHub Actions' logs (``gh run view --log``: job, step, then an ISO time; a raw job log: the time
    alone), ``docker logs -t``, ``kubectl logs --timestamps``: with the prefix, a pytest run's ``E``
    lines and ``>`` marks do not start their lines, and every line differs from the last by its time.
    One view line per line, so scores carry over.
    """
    if not is_stamped(lines):
        return None
    return [line[m.end() :] if (m := _STAMP.match(line)) is not None else line for line in lines]


def is_stamped(lines: Sequence[str]) -> bool:
    """Tell whether the non-blank lines among the first ``STAMPED_SAMPLE`` carry a timestamp prefix."""
    sample = [line for line in lines[:STAMPED_SAMPLE] if line.strip()]
    return bool(sample) and sum(1 for line in sample if _STAMP.match(line)) >= STAMPED_SHARE * len(sample)


def _line_starts(pattern: re.Pattern[str], text: str, offsets: list[int]) -> list[int]:
    """Return the lines where the ``"\n(?:...)"`` ``pattern`` matches at their start."""
    # In "\n" + text, the newline before line i sits at offsets[i].
    return [bisect.bisect_right(offsets, m.start()) - 1 for m in pattern.finditer("\n" + text)]


def failure_blocks(lines: Sequence[str], low: str, offsets: list[int]) -> list[tuple[int, int, int]]:
    """Return (start, failure line, end) of each failing-test block a test runner printed."""
    out: list[tuple[int, int, int]] = []
    starts = _line_starts(_BLOCK_START, "\n".join(lines), offsets)
    n = len(lines)
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else n
        said = None
        go = _GO_FAIL.match(lines[start])
        if go:
            start, said, end = _go_block(lines, start, end, go.group(1), go.group(2))
        for j in range(start + 1, end):
            if _SECTION.match(lines[j]) and not lines[j].startswith("-" * 20):
                end = j
                break
        # pytest marks the failing line ">" and the error "E": the test's own asserts above are source.
        marked = said or next((j for j in range(start + 1, end) if lines[j][:2] in ("> ", "E ")), None)
        focus = marked or next((j for j in range(start + 1, end) if _FAILURE.match(lines[j])), start + 1)
        out.append((start, focus, end))
    return out


def _go_block(
    lines: Sequence[str], fail: int, end: int, indent: str, name: str
) -> tuple[int, int | None, int]:
    """Return (start, first message or None, end) of go test's failing ``name`` reported at line ``fail``.

    With ``-v`` its messages (``handler_test.go:88: got 401``) come before the ``--- FAIL:`` line, from
    its ``=== RUN`` on; without, after it. Either way the block stops at the next test's line or the
    package's result, not at the next failure (a PASS run follows a failing test).
    """
    for j in range(fail + 1, end):
        line = lines[j]
        if _GO_END.match(line, len(indent) if line.startswith(indent) else 0) and (
            line.startswith("=") or len(line) - len(line.lstrip()) <= len(indent)
        ):
            end = j
            break
    run = f"=== RUN   {name}"
    reach = range(fail - 1, max(-1, fail - GO_RUN_REACH), -1)
    start = next((k for k in reach if lines[k].rstrip() == run), fail)
    said = next(
        (k for k in range(start + 1, fail) if lines[k].strip() and not lines[k].startswith("=== ")), None
    )
    return start, said, end


def _skeletons(
    lines: Sequence[str],
    offsets: list[int],
    scores: list[float],
    blocks: list[tuple[int, int]],
    hi: float,
    lo: float,
) -> None:
    """Score the skeleton of each failing-test block ``hi`` and the rest of it at most ``lo``.

    A short gap between two skeleton lines (a blank, a frame's source line, a separator) goes with
    them: the marker replacing it would cost about as much, and counted with the skeleton it is in
    the budget. Each block's header is scored by the caller, a little lower: the summary's FAILED
    line names the test again, so under a short budget the header goes before the failure's marks.
    """
    a, b = min(s for s, _ in blocks), max(e for _, e in blocks)  # go's blocks may overlap
    marks = bytearray(len(lines))
    region = "\n" + "\n".join(lines[a:b])  # one scan at C speed, not a match per line
    for m in _SKELETON.finditer(region):
        marks[bisect.bisect_right(offsets, m.start() + offsets[a]) - 1] = 1
    for start, end in blocks:
        last = start
        for i in range(start + 1, end):
            if marks[i]:
                scores[i] = max(scores[i], hi)
                if 0 < i - last - 1 <= 2 and sum(len(lines[k]) + 1 for k in range(last + 1, i)) <= GAP_CHARS:
                    for k in range(last + 1, i):
                        scores[k] = max(scores[k], hi)
                last = i
            elif scores[i] > lo:
                scores[i] = lo


def error_lines(lines: Sequence[str], low: str, offsets: list[int]) -> set[int]:
    """Return the lines naming an error (``ERROR_WORDS``), and an access log's requests answered with a
    5xx; a line that is only a file's path or name (``pip show -f``'s "aiohttp/web_exceptions.py", a
    listing inside a log) names none."""
    found = keyword_lines(low, offsets, ERROR_WORDS)
    errors = {
        i
        for i in found
        if not _LONE_PATH.fullmatch(lines[i].strip()) and _ERROR_WORD.search(low, offsets[i], offsets[i + 1])
    }
    if '" 5' in low:  # an access log's request answered with a server error (no error word in it)
        errors.update(_line_starts(_SERVER_ERROR, low, offsets))
    return errors


def log_priors(
    lines: Sequence[str],
    low: str,
    offsets: list[int],
    stripped: list[str],
    scores: list[float],
    chunk_of: list[int],
) -> None:
    """Adjust ``scores`` for a log: errors, failing tests and summaries up, repeats and noise down."""
    n = len(lines)
    unit = max(max(scores), 1.0)
    goal = scores[:]  # what the goal's words gave each line, before the log's own priors
    errors = error_lines(lines, low, offsets)
    warns = keyword_lines(low, offsets, WARN_WORDS) - errors
    for i in errors:
        scores[i] += 1.0 * unit
    for i in warns:
        scores[i] += 0.4 * unit
    for i in keyword_lines(low, offsets, ("%", "###", "===", "\r", "\u2588")):
        if _PROGRESS.search(lines[i]) and len(WORD.findall(lines[i])) < 6 and i not in errors:
            scores[i] -= 0.6 * unit
    for i, line in enumerate(lines):
        if len(line) > 200 and _BLOB.search(line):
            scores[i] -= 0.5 * unit
    # Repeated and near-repeated lines are noise after their first few occurrences (errors aside,
    # but for a runner's progress lines: seventy "test_x FAILED [ 41%]" repeat the summary's list).
    seen: dict[str, int] = {}
    for i, key in enumerate(low.translate(_DIGITS).split("\n")):
        if "/" in key:
            shape = _shape(key)
            # A diagnostic's location ("  --> src/x.rs:0:0", rustc's and ruff's) names its file: masked,
            # every one would repeat the first; only the same path repeats it. (A path alone is no
            # location: pip show -f's files still fold.)
            key = key if shape.lstrip().startswith(("--> ", "::: ")) else shape
        count = seen.get(key, 0)
        seen[key] = count + 1
        if count and i not in errors:
            scores[i] -= min(0.8, 0.2 * count) * unit
        elif count >= PROGRESS_ERRORS and key.endswith("%]") and _PROGRESS.search(key):
            scores[i] -= 1.8 * unit  # its error lift undone, folded as a repeat
        if not stripped[i]:
            scores[i] -= 0.1 * unit
    # An error record is kept whole (a traceback with its exception line): lift it to its best line.
    best: dict[int, float] = {}
    for i in errors:
        c = chunk_of[i]
        best[c] = max(best.get(c, -1e9), scores[i])
    for i, c in enumerate(chunk_of):
        b = best.get(c)
        if b is not None and b >= unit and scores[i] < 0.9 * b:
            scores[i] = 0.9 * b
    # A failing test is kept whole from its failing line on; its source above it, as context.
    # Past the first few, a long one keeps its skeleton and the rest folds.
    fail = FAIL_W * unit + 0.1 * unit
    skeletons: list[tuple[int, int]] = []
    blocks = failure_blocks(lines, low, offsets)
    # The failing test the goal names ("why does the 'country without VAT' test fail?") goes before the
    # others: among several, the block holding the best goal match stands out, on every line.
    named = [max(goal[start:end]) for start, _, end in blocks]
    top = max(named, default=0.0)
    for k, (start, focus, end) in enumerate(blocks):
        scores[start] = max(scores[start], FAIL_W * unit)
        if k >= WHOLE_FAILURES and end - start > SHORT_FAILURE:
            skeletons.append((start, end))
            continue
        extra = NAMED_W * unit if len(blocks) > 1 and top > 0.0 and named[k] == top else 0.0
        for i in range(start + 1, focus):
            scores[i] = max(scores[i], SOURCE_W * unit) + extra
        for i in range(focus, end):
            scores[i] = max(scores[i], fail if stripped[i] else FAIL_W * unit) + extra
        scores[start] += extra
    if skeletons:
        _skeletons(lines, offsets, scores, skeletons, fail, FOLD_W * unit)
    for i in _line_starts(_SUMMARY, "\n".join(lines), offsets):
        scores[i] += SUMMARY_W * unit
    for i in range(max(0, n - TAIL_LINES), n):
        if not _LONE_PATH.fullmatch(stripped[i]):  # a run's outcome, not the end of a list of files
            scores[i] += 0.5 * unit
    for i in range(min(n, 5)):
        scores[i] += 0.3 * unit
