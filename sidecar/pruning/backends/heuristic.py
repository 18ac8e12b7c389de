"""The local heuristic backend: goal-conditioned line scores, no network, one CPU pass.

Scoring, in order:
1. goal terms and their matches: ``sidecar.pruning.engine.terms``;
2. rarity: IDF over the text's own structural chunks (``sidecar.pruning.engine.chunking``), sharpened;
3. structure: a line scores its own matches, plus its chunk's, plus a decaying share of its
   neighbours'; a definition whose name or body matches lifts its whole body (less in long
   bodies) and its definition line; in a long table or list of entries the entry the goal names
   keeps its neighbours (``sidecar.pruning.engine.runs``); the header gets a small prior, earlier
   lines a tiny one;
4. noise: docstrings, comments, blank lines, long blobs (base64, hashes, minified strings);
   for logs, ANSI codes ignored and ``sidecar.pruning.engine.logs``'s priors: errors, failing
   tests and summaries up, repeated and near-repeated lines folded, the tail kept; a log written as
   JSON lines scored as the log lines its records stand for (``logs.json_lines_view``).
A listing (rows: ``find``, ``ls -l``, ``dpkg -l``, a CSV file) is scored by goal terms row by row, its
first lines (the column header) a little up. JSON, search results and diffs
(``sidecar.pruning.engine.kinds``) are scored by their own modules
(``json_kind``, ``search``, ``diffs``): records, files and hunks instead of definitions.
Selection within the budget is ``sidecar.pruning.engine.selection``'s, shared with every backend.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
import re
from collections.abc import Sequence

import msgspec

from sidecar.pruning.engine import describe, listing, yaml_kind
from sidecar.pruning.engine.chunking import (
    COMMENT_PREFIXES,
    IMPORT_PREFIXES,
    Chunk,
    chunk_lines,
    comment_lines,
    definition_lines,
    lowered,
)
from sidecar.pruning.engine.diffs import score_diff
from sidecar.pruning.engine.idioms import FAMILY_WEIGHT, idiom_lines
from sidecar.pruning.engine.imports import bound_names, grouped_imports
from sidecar.pruning.engine.json_kind import score_json
from sidecar.pruning.engine.logs import JSON_LINES_LEAD, json_lines_view, log_priors, stamped_view
from sidecar.pruning.engine.runs import lift_runs
from sidecar.pruning.engine.search import score_search
from sidecar.pruning.engine.selection import select_lines
from sidecar.pruning.engine.terms import WORD, goal_terms, match_lines, set_aside
from sidecar.pruning.types import PruneRequest, Selection, SourceType

# Weights, tuned on the dev cases and the held-out Debian cases together (bench/prune_quality.py).
CALL_W = 0.3
CALL_TOP = 50
CALL_SPAN = 3
CHUNK_TOKENS = 48  # chunk size for rarity (IDF) and for selection units
IDF_POW = 1.5  # sharpen rarity: a term in few chunks counts much more than a common one
CHUNK_W = 0.6  # share of its chunk's score a line gets
COORD = 0.25  # bonus per extra distinct goal term in a chunk
SPREAD_DECAY = 0.6  # neighbours get this share of a line's matches, per line of distance
SPREAD_REACH = 4
DEF_LIFT = 0.5  # share of its definition's value every line of the body gets
DEF_COORD_CAP = 1  # a big class gathers many goal words by sheer size: count at most two
DEFLINE_W = 0.5  # extra for the definition line itself
DOC_FACTOR = 0.3  # docstrings: prose matches goal words more often than it matters
COMMENT_FACTOR = 0.1  # comments locate code (their matches spread to it) but are rarely what an edit needs
IMPORT_W = 0.3  # top-level imports (and Go's grouped ones), as a share of the best score
BOUND_W = 0.5  # a Go package named by a matched import path, as a share of that match
HEADER_W = 0.15  # the header (imports, module docstring), as a share of the best score
POS_W = 0.05  # earlier lines slightly first: with little signal, one stretch from the top
LISTING_HEAD = 5  # a listing's first lines: its column header (dpkg -l has five)
# The goal read: its start (the proxy's goals are at most three parts of 2,000 characters). Each goal
# word costs a scan of the text, so a goal pasted whole into the CLI or the MCP tool (a 50 KB log as
# goal_hint) would cost a second per 100 KB of text.
GOAL_MAX_CHARS = 8000
SET_ASIDE_GAP = 0.01  # a line holding what the goal sets aside: this far below the lowest other line
TROUBLE_W = 1.5  # kubectl describe: a line saying something is wrong, over the best score (outbids the top)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_BLOB = re.compile(r"[A-Za-z0-9+/=_\-]{80,}")


def _blob_lines(lines: Sequence[str]) -> list[int]:
    """Return the long lines that carry a base64/hash/minified blob."""
    long = itertools.compress(range(len(lines)), map((200).__lt__, map(len, lines)))
    return [i for i in long if _BLOB.search(lines[i])]


def _def_extents(lines: Sequence[str], stripped: list[str], defs: list[bool]) -> list[tuple[int, int]]:
    """Return (def line, end) for each definition: its body is what is indented deeper below it.

    A definition ends before the first later line of code (not blank, not a closing bracket) indented
    no deeper than it, right after the last non-blank line above that one.
    """
    out: list[tuple[int, int]] = []
    stack: list[tuple[int, int]] = []  # (indent, def line)
    closing = map(str.startswith, stripped, itertools.repeat((")", "]", "}")))
    code = map(operator.gt, map(bool, stripped), closing)  # non-blank and no closing bracket
    for i in itertools.compress(range(len(lines)), code):
        line = lines[i]
        ind = len(line) - len(line.lstrip(" \t"))
        if stack and ind <= stack[-1][0]:
            j = i - 1
            while not stripped[j]:
                j -= 1
            while stack and ind <= stack[-1][0]:
                out.append((stack.pop()[1], j + 1))
        if defs[i]:
            stack.append((ind, i))
    if stack:
        j = len(lines) - 1
        while not stripped[j]:
            j -= 1
        while stack:
            out.append((stack.pop()[1], j + 1))
    return out


def score_lines(lines: Sequence[str], goal: str, source_type: SourceType) -> list[float]:
    """Score each line's relevance to ``goal`` (higher means keep)."""
    return _score(_log_view(lines, source_type) or lines, goal, source_type)[0]


def _log_view(lines: Sequence[str], source_type: SourceType) -> list[str] | None:
    """The log lines a log's lines stand for: a JSON-lines log's records read as lines
    (``logs.json_lines_view``), a stamped log's lines without their timestamps (``logs.stamped_view``)."""
    if source_type != "logs":
        return None
    if any(line.lstrip()[:1] == "{" for line in lines[:JSON_LINES_LEAD]):
        return json_lines_view(lines)
    return stamped_view(lines)


# A line's scores, the chunks they were counted over, and which lines are comments (code only).
_Scored = tuple[list[float], list[Chunk], list[bool] | None]


# The structural kinds score by their own units (records, files, hunks); see their modules.
_KIND_SCORERS = {"json": score_json, "search": score_search, "diff": score_diff}


def _score(
    lines: Sequence[str], goal: str, source_type: SourceType, offsets: list[int] | None = None
) -> _Scored:
    n = len(lines)
    if n == 0:
        return [], [], None
    if offsets is None:
        offsets = list(itertools.accumulate(map((1).__add__, map(len, lines)), initial=0))
    scorer = _KIND_SCORERS.get(source_type)
    if scorer is not None:
        scores, units = scorer(lines, goal, offsets)
        _set_aside(lines, goal, offsets, scores)
        return scores, units, None
    text = "\n".join(lines)
    if source_type == "logs" and "\x1b" in text:
        for code in sorted(set(_ANSI.findall(text))):
            text = text.replace(code, " " * len(code))  # same length: offsets stay valid
    low = lowered(text)
    stripped = list(map(str.strip, lines))
    # JS/TS methods end in ") {" or "){": two substring searches spare other languages the check of each line.
    methods = ") {" in text or "){" in text
    defs = definition_lines(stripped, methods=methods) if source_type not in ("logs", "listing") else None
    # YAML read as code: its keys and items make the units, and a block the goal names is lifted.
    yaml = (
        yaml_kind.Tree(lines, stripped)
        if source_type == "code" and yaml_kind.looks_like_yaml(lines, stripped)
        else None
    )
    chunks = chunk_lines(lines, source_type, CHUNK_TOKENS, stripped=stripped, defs=defs, offsets=offsets)
    chunk_of = [0] * n
    for c, ch in enumerate(chunks):
        chunk_of[ch.start : ch.end] = [c] * (ch.end - ch.start)
    n_chunks = len(chunks)

    # Term matches, weighted by rarity over chunks.
    line_terms: dict[int, dict[str, float]] = {}
    chunk_terms: dict[int, dict[str, float]] = {}

    def add_term(literal: str, gw: float, sufs: tuple[str, ...], found: list[int] | None = None) -> None:
        hits = match_lines(text, low, offsets, literal, sufs) if found is None else found
        if not hits:
            return
        df = len(set(map(chunk_of.__getitem__, hits)))
        idf = math.log((n_chunks + 1) / (df + 0.5))
        if idf <= 0.05:
            return
        w = idf**IDF_POW * gw
        for i in hits:
            line_terms.setdefault(i, {})[literal] = w
            c = chunk_of[i]
            chunk_terms.setdefault(c, {})[literal] = w

    terms = goal_terms(goal)
    for literal, (gw, sufs) in terms.items():
        add_term(literal, gw, sufs)
    if source_type == "code":
        # A goal naming a kind of change (a Python 3 port, a security fix): its idioms, as more goal terms.
        for family, hits in idiom_lines(goal, text, lines, low, offsets).items():
            add_term(family, FAMILY_WEIGHT, ("",), hits)
    grouped = frozenset[int]()
    if source_type not in ("logs", "listing"):
        grouped = grouped_imports(stripped)
        # A Go package the goal names in its import path: the lines using it are about the goal.
        for name, w in bound_names(stripped, grouped, line_terms).items():
            if name not in terms:
                add_term(name, w * BOUND_W, ("",))

    raw = [0.0] * n
    for i, ts in line_terms.items():
        raw[i] = sum(ts.values())
    chunk_score = [0.0] * n_chunks
    for c, ts in chunk_terms.items():
        size = chunks[c].end - chunks[c].start
        chunk_score[c] = sum(ts.values()) * (1.0 + COORD * (len(ts) - 1)) / (1.0 + size / 40.0) ** 0.5
    scores = list(map(operator.add, raw, map(CHUNK_W.__mul__, map(chunk_score.__getitem__, chunk_of))))
    # Neighbours share a decaying part of a line's own matches; the rows of a flat listing (no tree, no
    # ls -R sections: git branch -vv, a CSV) stand alone, a match's neighbours being unrelated rows.
    parent = listing.anchors(lines) if source_type == "listing" else []
    flat = source_type == "listing" and max(parent, default=-1) < 0
    spread = [] if flat else [(d, SPREAD_DECAY**d) for d in range(1, SPREAD_REACH + 1)]
    for i in line_terms:
        v = raw[i]
        for d, f in spread:
            if i - d >= 0:
                scores[i - d] += v * f
            if i + d < n:
                scores[i + d] += v * f
    comments = None
    if source_type == "logs":
        log_priors(lines, low, offsets, stripped, scores, chunk_of)
    elif source_type == "listing":
        # Rows stand alone; the first lines are the column header (dpkg -l, a CSV) or the root (find).
        # A goal naming no row ("look around the repository") leaves the scores flat: kept whole.
        if max(scores[LISTING_HEAD:], default=0.0) > 0.0:
            unit = max(max(scores), 1.0)
            for i in range(min(n, LISTING_HEAD)):
                scores[i] += HEADER_W * 2 * unit
            listing.lift(lines, scores, parent)  # where a row is (ls -R heading, tree parents) rises with it
    else:
        words = [t for t, (w, _) in terms.items() if w >= 1.0 and t.isalpha()]
        assert defs is not None
        if source_type == "code":
            comments = comment_lines(stripped)
        if yaml is not None:
            yaml_kind.lift_blocks(yaml, stripped, scores, line_terms, words)
        elif describe.is_describe(lines):
            # kubectl describe: what is wrong (a waiting state, a warning event) whatever the goal's words.
            unit = max(max(scores), 1.0)
            trouble, above = describe.trouble_lines(lines)
            for i in trouble:
                scores[i] += TROUBLE_W * unit
            for i in above:
                scores[i] += TROUBLE_W / 2 * unit
        _code_priors(
            lines, text, offsets, stripped, defs, scores, line_terms, source_type, comments, words, grouped
        )
    if yaml is not None:
        chunks = chunk_lines(lines, source_type, CHUNK_TOKENS, stripped=stripped, offsets=offsets, yaml=yaml)
    _set_aside(lines, goal, offsets, scores, text, low)
    return scores, chunks, comments


def _set_aside(
    lines: Sequence[str],
    goal: str,
    offsets: list[int],
    scores: list[float],
    text: str | None = None,
    low: str | None = None,
) -> None:
    """Rank below the rest the lines holding all of what the goal sets aside ("ignoring the long lines")."""
    spans = set_aside(goal)[1]
    if not spans:
        return
    text = "\n".join(lines) if text is None else text
    low = lowered(text) if low is None else low
    aside: set[int] = set()
    for span in spans:
        hits = [set(match_lines(text, low, offsets, lit, sufs)) for lit, sufs in span]
        aside.update(set.intersection(*hits))
    if not aside:
        return
    # Just below every other line, not far below: a crowd of them (fifty "line too long" rows) far below
    # would drag the median down and make every other line stand out (kept at the default policy).
    unit = max(max(scores), 1.0)
    floor = min((v for k, v in enumerate(scores) if k not in aside), default=0.0)
    for i in aside:
        scores[i] = min(scores[i], floor) - SET_ASIDE_GAP * unit


def _find_all(text: str, needle: str) -> list[int]:
    """Return the start of each non-overlapping occurrence of ``needle``, left to right."""
    out: list[int] = []
    find, size = text.find, len(needle)
    pos = find(needle)
    while pos >= 0:
        out.append(pos)
        pos = find(needle, pos + size)
    return out


def _docstring_lines(text: str, offsets: list[int], n: int) -> list[bool]:
    """Flag lines inside triple-quoted strings (prose that matches goal words more than code does)."""
    out = [False] * n
    # The two quotes never overlap: each one's scan, merged, is the scan for either.
    starts = sorted(_find_all(text, '"""') + _find_all(text, "'''"))
    marks = list(map((-1).__add__, map(bisect.bisect_right, itertools.repeat(offsets), starts)))
    for a, b in zip(marks[::2], marks[1::2], strict=False):
        out[a : b + 1] = [True] * (b + 1 - a)
    return out


_DEF_NAME = re.compile(r"(?:def|class|function|func|fn|struct|enum|trait|interface|type)\s+([A-Za-z_]\w*)")
_ASSIGN_NAME = re.compile(r"([A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)")


_FIRST = operator.itemgetter(slice(0, 1))
_VALUE = operator.itemgetter(0)
# Whitespace that str.strip() removes other than a space, a tab or a newline.
_OTHER_SPACE = frozenset(c for c in map(chr, range(0x3001)) if c.isspace()) - {" ", "\t", "\n"}


def _lift_referenced_definitions(
    lines: Sequence[str], stripped: list[str], defs_at: list[bool], scores: list[float]
) -> None:
    """Lift the definitions (functions, classes, module constants) that the best lines refer to."""
    n = len(lines)
    defs: dict[str, int] = {}
    # Candidates: definition lines, and unindented lines starting with a letter (module constants).
    first = list(map(_FIRST, lines))
    if _OTHER_SPACE.isdisjoint(first):  # a line's first character tells (the common case)
        lettered = map(str.isalpha, first)
    else:  # a line may start with a form feed or the like, then its letter
        unindented = map(operator.not_, map(str.startswith, lines, itertools.repeat((" ", "\t"))))
        lettered = map(operator.and_, unindented, map(str.isalpha, map(_FIRST, stripped)))
    for i in itertools.compress(range(n), map(operator.or_, defs_at, lettered)):
        s = stripped[i]
        m = _DEF_NAME.search(s) if defs_at[i] else _ASSIGN_NAME.match(s)
        if m and m.group(1) not in defs:
            defs[m.group(1)] = i
    if not defs:
        return
    top = sorted(range(n), key=scores.__getitem__, reverse=True)[: max(5, n // CALL_TOP)]
    level = sum(scores[i] for i in top) / len(top)
    seen: set[int] = set(top)
    for i in top:
        for name in WORD.findall(lines[i]):
            d = defs.get(name)
            if d is not None and d not in seen:
                seen.add(d)
                for k in range(d, min(n, d + CALL_SPAN)):
                    scores[k] += CALL_W * level * (1.0 if k == d else 0.5)


def _code_priors(
    lines: Sequence[str],
    text: str,
    offsets: list[int],
    stripped: list[str],
    defs: list[bool],
    scores: list[float],
    line_terms: dict[int, dict[str, float]],
    source_type: SourceType,
    comments: list[bool] | None,
    words: list[str],
    grouped: frozenset[int],
) -> None:
    """Add the priors of code or docs (``comments``: which lines are comments, for code)."""
    # Scores are sums of non-negative parts here: adding 0.0 or multiplying by 1.0 changes none of
    # them, so only the lines a prior touches are visited (C-level maps find them).
    n = len(lines)
    unit = max(max(scores), 1.0)
    if source_type == "code":
        lifted: list[tuple[float, int, int]] = []  # (value, def line, end) of each definition with terms
        hit_lines = sorted(line_terms)
        for d_line, end in _def_extents(lines, stripped, defs):
            terms: dict[str, float] = {}
            lo, hi = bisect.bisect_left(hit_lines, d_line), bisect.bisect_left(hit_lines, end)
            for k in hit_lines[lo:hi]:
                terms.update(line_terms[k])
            if not terms:
                continue
            own = sum(line_terms.get(d_line, {}).values())
            size = end - d_line
            # The definition a goal is about: its name matches, or its body gathers many goal terms.
            coord = 1.0 + 0.3 * min(len(terms) - 1, DEF_COORD_CAP)
            value = (own + sum(terms.values()) * coord) / (1.0 + size / 25.0) ** 0.5
            if value > 0.0:
                lifted.append((value, d_line, end))
            scores[d_line] += DEFLINE_W * value
        # Each line gets the largest value of the definitions around it: written smallest first, the
        # largest is written last (whole slices, not a max per line of nested bodies).
        lifts = [0.0] * n
        for value, d_line, end in sorted(lifted, key=_VALUE):
            lifts[d_line:end] = [value] * (end - d_line)
        for i in itertools.compress(range(n), lifts):
            scores[i] += DEF_LIFT * lifts[i]
        for i in itertools.compress(range(n), _docstring_lines(text, offsets, n)):
            scores[i] *= DOC_FACTOR
        if CALL_W:
            _lift_referenced_definitions(lines, stripped, defs, scores)
        lift_runs(lines, scores, line_terms, words, stripped=stripped)
    header_end = 0
    for i in range(min(n, 60)):
        s = stripped[i]
        if s and not (
            s.startswith(IMPORT_PREFIXES + COMMENT_PREFIXES) or s.startswith(('"""', "'''")) or i in grouped
        ):
            if i > 5:
                break
        header_end = i + 1
    for i in range(header_end):
        scores[i] += HEADER_W * unit
    blank = -0.05 * unit
    for i in itertools.compress(range(n), map(operator.not_, stripped)):
        scores[i] += blank
    if source_type == "docs":
        # Headings orient a reader of docs the way signatures do in code.
        for i in itertools.compress(range(n), map(str.startswith, stripped, itertools.repeat("#"))):
            scores[i] += HEADER_W * unit
    else:
        assert comments is not None  # _score flags them for code
        comment = COMMENT_FACTOR
        for i in itertools.compress(range(n), comments):
            scores[i] *= comment
        for i in range(min(n, 300)):
            if stripped[i].startswith(IMPORT_PREFIXES) and lines[i][:1] not in " \t" or i in grouped:
                scores[i] += IMPORT_W * unit  # commits that add a feature often add an import
    for i in _blob_lines(lines):
        scores[i] -= 0.5 * unit
    # With little signal, keep one contiguous stretch from the top rather than scattered bits.
    pos = POS_W * unit / n
    scores[:] = map(operator.add, scores, map(pos.__mul__, range(n, 0, -1)))


class HeuristicBackend:
    """Local, deterministic pruning: score lines against the goal, then select within budget.

    Never raises on any text; never logs content. Safe to call concurrently (no shared state).
    """

    name = "heuristic"

    async def prune(self, request: PruneRequest) -> Selection:
        """Select the lines of ``request.text`` to keep."""
        return self.select(request)

    def select(self, request: PruneRequest) -> Selection:
        """``prune`` without the coroutine: a worker thread calls it with no event loop of its own."""
        lines = request.text.split("\n")
        # A JSON-lines log is scored as the log lines its records stand for; without a keep ratio it
        # is also budgeted as them: the default policy keeps what it would keep of the plain log (the
        # records' own fields, a hundred characters a line, would buy fewer of its lines).
        view = _log_view(lines, request.source_type)
        scored = lines if view is None else view
        if view is not None and request.options.keep_ratio is None:
            lines, request = view, msgspec.structs.replace(request, text="\n".join(view))
        # Each line's start in the joined text: the scorers' offsets are the selection's cost sums.
        offsets = list(itertools.accumulate(map((1).__add__, map(len, lines)), initial=0))
        scores, chunks, comments = _score(
            scored, request.goal[:GOAL_MAX_CHARS], request.source_type, offsets if scored is lines else None
        )
        keep = select_lines(lines, scores, request, chunks=chunks, offsets=offsets, comments=comments)
        return Selection(keep=keep, backend=self.name)

    async def aclose(self) -> None:
        """Release nothing: the heuristic holds no resources."""
