"""What kind of text a tool output is, from its content and the hint its tool call gave.

    detect_kind(text, declared) -> "code" | "logs" | "docs" | "json" | "search" | "diff" | "listing"

The tool call's hint (``declared``: a file's extension, a command's name) is weak: an ``npm view
--json`` is declared as logs by its command, a ``.json`` file read as code. So the structural kinds
win over it when the text shows them unmistakably:

- ``json``: the text is one JSON document (it parses) spread over several lines, maybe after an HTTP
  response head (``curl -i``, HTTPie) or a few lines of warnings (``layout.body_start``);
- ``diff``: unified diff headers (``diff --git``, ``--- a/`` + ``+++ b/``, ``@@``) or ``git log``
  records (``commit <hash>`` followed by ``Author:``);
- ``search``: most lines are ``grep -n``/``rg`` matches (``path:line:text``, ``path-line-text`` for
  context) or rg's heading form (a path alone, then ``line:text`` lines); or a checker's diagnostic
  list (gcc, tsc, eslint, ruff, rustc: ``engine.diagnostics``), records grouped by file as matches are;
- ``logs`` for JSON lines (NDJSON: one object per line, as a structured logger, ``kubectl logs`` of a
  service logging JSON, docker's json-file driver or ``jq -c`` write them): a stream of records, read
  a line at a time. Taken for code otherwise (lines open and close braces), it was cut into arbitrary
  chunks and kept at twice the share;
- ``logs`` for a log whose lines carry a timestamp prefix (GitHub Actions' ``gh run view --log``,
  ``docker logs -t``): its tab-separated job and step columns read as a table otherwise;
- ``logs`` for a test report (JUnit XML: a ``<testsuite>`` of ``<testcase>`` elements, NUnit's
  ``<test-run>``): a test run written as XML, its ``<failure>`` the line sought. Read as a document
  it was cut from the top (the first passing test cases kept, the failure lost);
- ``docs`` for a ``terraform plan`` with no hint (read as code by its braces and ``=``, its
  ``# x will be destroyed`` headers were comments, cut first);
- ``listing`` for a text with no hint of its own, read as a document by its lines, that is a row per
  line (``find``, ``git ls-files``, ``ls -l``, ``dpkg -l``, a CSV file): 90% of its lines paths, or the
  same number (2+) of commas, or an aligned table (two column boundaries shared by 80% of the rows), or
  a tree (``tree``'s ``├── name``, ``npm ls``'s ``└─┬ name``, an agent's ``  - name``); and ``ls -R``'s
  sections (a ``dir:`` heading after a blank line, then names or ``ls -l`` rows), which the line counts
  may read as code. Its rows stand alone: the goal's rows, the header and where each kept row is
  (``engine.listing``) are kept, not the context share of a document (0.45 of a 1 MB ``find``). ``ps``
  is not one (its command column reads as code), nor a changelog's bullet sentences.

An explicit structural kind (``json``, ``search``, ``diff``) is trusted as given; otherwise the
declared kind stands, or the text decides (``chunking.detect_source_type``). Detection reads a sample of
the text (the first 300 lines) and, for JSON, parses it once (JSON lines: up to ``NDJSON_PARSED`` of
the sample's lines); it never raises.
"""

from __future__ import annotations

import collections
import re

import msgspec

from sidecar.pruning.engine.chunking import detect_source_type
from sidecar.pruning.engine.diagnostics import read_diagnostics
from sidecar.pruning.engine.layout import document
from sidecar.pruning.engine.listing import TREE_ROW, is_heading
from sidecar.pruning.engine.logs import is_stamped
from sidecar.pruning.engine.search import MATCH
from sidecar.pruning.engine.yaml_kind import looks_like_yaml
from sidecar.pruning.types import SourceType

STRUCTURAL: frozenset[str] = frozenset({"json", "search", "diff"})
SAMPLE_LINES = 300
NDJSON_MIN = 8  # JSON lines: at least this many records in the sample...
NDJSON_SHARE = 0.9  # ...making this share of its non-blank lines...
NDJSON_PARSED = 20  # ...the first ones of which parse as JSON objects
LISTING_MIN = 30  # a listing: at least this many non-blank lines in the sample...
LISTING_SHARE = 0.9  # ...this share of them paths, or with the same number of commas...
TABLE_SHARE = 0.8  # ...or column boundaries (a field's start or end) shared by this share of rows...
TABLE_COLUMNS = 2  # ...at this many positions

_HEADING_LINE = re.compile(r"^\d+[:-]")
_PATHLIKE = re.compile(r"^(?:\./)?[\w.@+~-]+(?:/[\w.@+~-]+)*\.?\w*$")
_PATH = re.compile(r"(?:\.{0,2}/)?[\w.@+~-]+(?:/[\w.@+~-]+)*/?")  # relative or absolute, a directory too
_BOUNDARY = re.compile(r"(?<= )\S|\S(?= )")  # where a field starts (after a space) or ends (before one)
# ls -R: a directory's heading ("./src:" after a blank line), then its entries: bare names, or ls -l's rows.
_LS_ROW = re.compile(r"[-dlcbps][rwxsStT-]{9}[.+@]? +\d|total \d")
LS_HEADINGS = 3  # ls -R: at least this many directory headings
_DIFF_HEAD = re.compile(r"^(?:diff --git |--- (?:a/|/dev/null)|\+\+\+ (?:b/|/dev/null)|@@ -\d)", re.M)
# A test report (JUnit XML, as pytest --junitxml, surefire, jest-junit, go-junit-report write it; NUnit's).
_REPORT_ROOT = re.compile(r"<(?:testsuites|testsuite|test-run|test-suite)\b")
_REPORT_CASE = re.compile(r"<(?:testcase|test-case)\b")
REPORT_HEAD = 2_000  # the report's root element opens within this many characters
# terraform plan / show: what it will do, a header per resource, and its summary.
_TERRAFORM_PLAN = re.compile(
    r"^(?:Terraform will perform the following actions:|Plan: \d+ to add, \d+ to change, \d+ to destroy\.)"
    r"|^ *# \S+ (?:will be (?:created|destroyed|updated in-place|read during apply)|must be replaced)$",
    re.M,
)
_COMMIT = re.compile(r"^commit [0-9a-f]{7,40}\b.*\n(?:Merge: .*\n)?Author: ", re.M)


def _is_json(text: str) -> bool:
    text = document(text)[2]  # after a response head (curl -i, -v) or warnings, before curl's trace
    head = text.lstrip()[:1]
    if head not in ("{", "[") or text.count("\n", 0, 4096) < 8 and text.count("\n") < 8:
        return False  # one-line JSON has no lines to select among
    try:
        msgspec.json.decode(text.encode("utf-8", "surrogateescape"))
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return False  # not JSON, a lone surrogate no encoding takes, or nesting past the stack
    return True


def _is_test_report(sample: str) -> bool:
    """Tell whether ``sample`` opens a test report: a test run, its failures lifted and its passes folded."""
    return _REPORT_ROOT.search(sample, 0, REPORT_HEAD) is not None and _REPORT_CASE.search(sample) is not None


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


def _is_listing(lines: list[str]) -> bool:
    rows = [s for s in lines if s.strip()]
    n = len(rows)
    if n < LISTING_MIN:
        return False
    if sum(1 for s in rows if "/" in s and _PATH.fullmatch(s.rstrip())) >= LISTING_SHARE * n:
        return True  # find, fd, git ls-files, rg --files (not indented: pip show -f's files are a section)
    if _is_recursive_ls(lines, n):
        return True
    if sum(1 for s in rows if TREE_ROW.match(s)) >= TABLE_SHARE * n:
        return True  # tree, npm ls, Claude Code's LS
    commas, count = collections.Counter(s.count(",") for s in rows).most_common(1)[0]
    if commas >= 2 and count >= LISTING_SHARE * n:
        return True  # CSV
    # An aligned table (ls -l, dpkg -l, kubectl get): its columns start or end at the same places.
    bounds: collections.Counter[tuple[bool, int]] = collections.Counter()
    for row in rows:
        row = row.expandtabs()
        first = len(row) - len(row.lstrip())  # past the indentation and the first field's start
        bounds.update({(m.group() == " ", m.start()) for m in _BOUNDARY.finditer(row, first + 1)})
    return sum(1 for c in bounds.values() if c >= TABLE_SHARE * n) >= TABLE_COLUMNS


def _is_recursive_ls(lines: list[str], n: int = 0) -> bool:
    """``ls -R`` / ``ls -lR``: directory headings, each after a blank line, over rows of names."""
    n = n or sum(1 for s in lines if s.strip())
    if n < LISTING_MIN:
        return False
    headings = sum(1 for i in range(len(lines)) if is_heading(lines, i))
    if headings < LS_HEADINGS:
        return False
    rows = sum(1 for s in lines if s.strip() and (" " not in s.strip() or _LS_ROW.match(s)))
    return rows + headings >= LISTING_SHARE * n


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
    if _is_search(lines) or read_diagnostics(lines) is not None:
        return "search"
    if _is_ndjson(lines) or _is_test_report(sample) or is_stamped(lines):
        return "logs"
    if declared is not None:
        return declared
    guess = detect_source_type(text)
    if guess == "code" and _TERRAFORM_PLAN.search(sample):
        return "docs"  # a plan's "# x will be destroyed" headers are its answer, not comments to cut
    if guess == "docs" and looks_like_yaml(lines):
        return "code"  # YAML, whose items read as bullets: read by its keys (engine.yaml_kind)
    # ls -R's "dir:" headings look like code's "else:" to the line counts, not to the row rule.
    listing = guess == "docs" and _is_listing(lines) or guess == "code" and _is_recursive_ls(lines)
    return "listing" if listing else guess
