"""The local heuristic backend: goal-conditioned line scores, no network, one CPU pass.

Scoring, in order:
1. goal terms: identifiers split on camelCase/snake_case (the whole identifier kept too),
   stop words, links and hashes dropped, light stemming (plural, -ed, -ing); the first line of
   the goal weighs more than its body, a code identifier named anywhere weighs fully;
2. matches found on the lowercased text with a literal scan per term, then checked for
   identifier boundaries on the original text (so ``size`` matches ``chunkSize`` and
   ``CHUNK_SIZE`` but not ``resize``);
3. rarity: IDF over the text's own structural chunks (``sidecar.chunking``), sharpened;
4. structure: a line scores its own matches, plus its chunk's, plus a decaying share of its
   neighbours'; a definition whose name or body matches lifts its whole body (less in long
   bodies) and its definition line; the header gets a small prior, earlier lines a tiny one;
5. noise: docstrings, comments, blank lines, long blobs (base64, hashes, minified strings);
   for logs: ANSI codes ignored, repeated lines and progress bars pushed down, errors and
   warnings up, an error's whole record (its traceback) lifted with it, the tail kept.
Selection within the budget is ``sidecar.selection``'s, shared with every backend.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Sequence

from sidecar.chunking import (
    COMMENT_PREFIXES,
    DEF_PREFIXES,
    ERROR_WORDS,
    IMPORT_PREFIXES,
    Chunk,
    chunk_lines,
    keyword_lines,
    lowered,
)
from sidecar.selection import select_lines

from .base import PruneRequest, Selection, SourceType

# Weights, tuned on the dev cases and the held-out Debian cases together (bench/prune_quality.py).
CALL_W = 0.3
CALL_TOP = 50
CALL_SPAN = 3
CHUNK_TOKENS = 48  # chunk size for rarity (IDF) and for selection units
IDF_POW = 1.5  # sharpen rarity: a term in few chunks counts much more than a common one
BODY_WEIGHT = 0.5  # words of a goal's body, relative to its first line
BODY_WORDS = 30  # a longer body shares this many words' worth of weight (it is mostly narrative)
IDENT_WEIGHT = 1.5  # a code identifier named in the goal (``HEADER_RE``), wherever it appears
CHUNK_W = 0.6  # share of its chunk's score a line gets
COORD = 0.25  # bonus per extra distinct goal term in a chunk
SPREAD_DECAY = 0.6  # neighbours get this share of a line's matches, per line of distance
SPREAD_REACH = 4
DEF_LIFT = 0.5  # share of its definition's value every line of the body gets
DEF_COORD_CAP = 1  # a big class gathers many goal words by sheer size: count at most two
DEFLINE_W = 0.5  # extra for the definition line itself
DOC_FACTOR = 0.3  # docstrings: prose matches goal words more often than it matters
COMMENT_FACTOR = 0.6
IMPORT_W = 0.3  # top-level imports, as a share of the best score
HEADER_W = 0.15  # the header (imports, module docstring), as a share of the best score
POS_W = 0.05  # earlier lines slightly first: with little signal, one stretch from the top


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PARTS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_BLOB = re.compile(r"[A-Za-z0-9+/=_\-]{80,}")
_WARN_WORDS = ("warn", "deprecat")
_PROGRESS = re.compile(r"\d{1,3}%|[#=>█▏▎▍▌▋▊▉-]{10,}|\r.")
_DIGITS = str.maketrans("123456789", "000000000")  # numbers aside, repeated log lines compare equal

STOP = frozenset("""
a an the and or but if then else of to in on at by for with from into onto over under as is are was were be
been being this that these those it its it's there here we you they he she i me my our your their them do does
did done not no yes so than too very can could should would will shall may might must also just only more most
some any all each every other such same own both few many much via per about after before again when where why
how what which who whom while during once now used uses using makes made allows allowed adds added removes
removed fixes fixed fixing changes changed updates updated supports supported correctly properly issue issues
bug bugs see pr closes ref refs merged instead still already like way need needs needed want wants let lets
able thing things don't doesn't isn't can't won't e.g i.e etc rather since because whether yet ever
""".split())

_SUFFIXES = ("", "s", "es", "ed", "d", "ing", "er", "ers")
_E_SUFFIXES = ("e", "es", "ed", "ing", "er", "ers", "ion", "ions")
_Y_SUFFIXES = ("y", "ies", "ied", "ie", "ying")


def _stem(word: str) -> tuple[str, tuple[str, ...]]:
    """Return the literal to search and the suffixes it may carry."""
    w = word
    if len(w) > 5 and w.endswith("ies"):
        return w[:-3], _Y_SUFFIXES
    if len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
    elif len(w) > 4 and w.endswith("ed"):
        w = w[:-2]
    elif len(w) > 4 and w.endswith("es") and w[-3] in "sxz":
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    if len(w) > 3 and w.endswith("y"):
        return w[:-1], _Y_SUFFIXES
    if len(w) > 3 and w.endswith("e"):
        return w[:-1], _E_SUFFIXES
    return w, _SUFFIXES


_CAMEL = re.compile(r"[a-z][A-Z]")
_URL = re.compile(r"\S+://\S+|\S+@\S+\.\w+|\b[0-9a-f]{7,40}\b|\bcherry picked from commit\b", re.I)


def goal_terms(goal: str) -> dict[str, tuple[float, tuple[str, ...]]]:
    """Return the goal's search literals with their goal-side weights and allowed suffixes."""
    terms: dict[str, tuple[float, tuple[str, ...]]] = {}
    goal = _URL.sub(" ", goal)  # links, e-mail addresses and commit hashes say nothing about the text
    subject = goal.strip().split("\n", 1)[0]
    body = goal.strip()[len(subject) :]
    n_body = len(_WORD.findall(body))
    # A long body is mostly narrative: its words share a fixed total weight.
    body_weight = BODY_WEIGHT * min(1.0, BODY_WORDS / max(n_body, 1))
    for k, part in enumerate((subject, body)):
        base = 1.0 if k == 0 else body_weight
        for tok in _WORD.findall(part):
            pieces = [p.lower() for p in _PARTS.findall(tok)]
            compound = len(pieces) > 1
            # A code identifier named anywhere in the goal (``HEADER_RE``, ``proxyManager``) is precise.
            ident = compound and ("_" in tok.strip("_") or _CAMEL.search(tok) is not None)
            whole = max(base * 1.3, IDENT_WEIGHT) if ident else base * 1.3
            candidates = [(tok.lower(), whole)] if compound else []
            candidates += [(p, base) for p in pieces]
            for word, w in candidates:
                # Two-letter parts count only inside identifiers (``co`` in ``co_positions``).
                if len(word) < (2 if compound else 3) or word in STOP or word.isdigit():
                    continue
                lit, sufs = _stem(word) if not compound or word != tok.lower() else (word, _SUFFIXES)
                if len(lit) < 2 or (len(lit) == 2 and not compound):
                    continue
                if lit not in terms or terms[lit][0] < w:
                    terms[lit] = (w, sufs)
    return terms


def _match_lines(
    text: str, low: str, offsets: list[int], literal: str, suffixes: tuple[str, ...]
) -> list[int]:
    """Return the line index of every boundary-respecting occurrence of ``literal``."""
    out: list[int] = []
    n = len(text)
    size = len(literal)
    pos = low.find(literal)
    while pos >= 0:
        ok = True
        if pos > 0:
            prev = text[pos - 1]
            cur = text[pos]
            if prev.isalnum():
                ok = (prev.islower() or prev.isdigit()) and cur.isupper() or (
                    prev.isupper() and cur.isupper() and pos + 1 < n and text[pos + 1].islower()
                )
        if ok:
            end = pos + size
            # Allow a short inflection in the same case (``cookies``, ``COOKIES``), then the part must end.
            same = str.isupper if text[pos:end].isupper() else str.islower
            k = end
            while k < n and k - end < 4 and same(text[k]):
                k += 1
            if k < n and same(text[k]) or low[end:k] not in suffixes:
                ok = False
        if ok:
            out.append(bisect.bisect_right(offsets, pos) - 1)
        pos = low.find(literal, pos + size)
    return out




def _blob_lines(lines: Sequence[str]) -> list[int]:
    """Return the long lines that carry a base64/hash/minified blob."""
    return [i for i, line in enumerate(lines) if len(line) > 200 and _BLOB.search(line)]


def _def_extents(lines: Sequence[str], stripped: list[str]) -> list[tuple[int, int]]:
    """Return (def line, end) for each definition: its body is what is indented deeper below it."""
    out: list[tuple[int, int]] = []
    stack: list[tuple[int, int]] = []  # (indent, def line)
    last_code = 0
    for i, s in enumerate(stripped):
        if not s or s[0] in ")]}":
            if s:
                last_code = i
            continue
        line = lines[i]
        ind = len(line) - len(line.lstrip(" \t"))
        while stack and ind <= stack[-1][0]:
            out.append((stack.pop()[1], last_code + 1))
        if s.startswith(DEF_PREFIXES):
            stack.append((ind, i))
        last_code = i
    while stack:
        out.append((stack.pop()[1], last_code + 1))
    return out


def score_lines(lines: Sequence[str], goal: str, source_type: SourceType) -> list[float]:
    """Score each line's relevance to ``goal`` (higher means keep)."""
    return _score(lines, goal, source_type)[0]


def _score(lines: Sequence[str], goal: str, source_type: SourceType) -> tuple[list[float], list[Chunk]]:
    n = len(lines)
    if n == 0:
        return [], []
    text = "\n".join(lines)
    if source_type == "logs" and "\x1b" in text:
        for code in sorted(set(_ANSI.findall(text))):
            text = text.replace(code, " " * len(code))  # same length: offsets stay valid
    low = lowered(text)
    offsets = list(itertools.accumulate(map((1).__add__, map(len, lines)), initial=0))
    stripped = [line.strip() for line in lines]
    chunks = chunk_lines(lines, source_type, CHUNK_TOKENS)
    chunk_of = [0] * n
    for c, ch in enumerate(chunks):
        chunk_of[ch.start : ch.end] = [c] * (ch.end - ch.start)
    n_chunks = len(chunks)

    # Term matches, weighted by rarity over chunks.
    line_terms: dict[int, dict[str, float]] = {}
    chunk_terms: dict[int, dict[str, float]] = {}

    def add_term(literal: str, gw: float, sufs: tuple[str, ...]) -> None:
        hits = _match_lines(text, low, offsets, literal, sufs)
        if not hits:
            return
        df = len({chunk_of[i] for i in hits})
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

    raw = [0.0] * n
    for i, ts in line_terms.items():
        raw[i] = sum(ts.values())
    chunk_score = [0.0] * n_chunks
    for c, ts in chunk_terms.items():
        size = chunks[c].end - chunks[c].start
        chunk_score[c] = sum(ts.values()) * (1.0 + COORD * (len(ts) - 1)) / (1.0 + size / 40.0) ** 0.5
    scores = [r + CHUNK_W * chunk_score[c] for r, c in zip(raw, chunk_of, strict=True)]
    # Neighbours share a decaying part of a line's own matches.
    spread = [(d, SPREAD_DECAY**d) for d in range(1, SPREAD_REACH + 1)]
    for i in line_terms:
        v = raw[i]
        for d, f in spread:
            if i - d >= 0:
                scores[i - d] += v * f
            if i + d < n:
                scores[i + d] += v * f
    if source_type == "logs":
        _log_priors(lines, low, offsets, stripped, scores, chunk_of)
    else:
        _code_priors(lines, text, offsets, stripped, scores, line_terms, source_type)
    return scores, chunks


_TRIPLE = re.compile(r'"""|\'\'\'')


def _docstring_lines(text: str, offsets: list[int], n: int) -> list[bool]:
    """Flag lines inside triple-quoted strings (prose that matches goal words more than code does)."""
    out = [False] * n
    marks = [bisect.bisect_right(offsets, m.start()) - 1 for m in _TRIPLE.finditer(text)]
    for a, b in zip(marks[::2], marks[1::2], strict=False):
        out[a : b + 1] = [True] * (b + 1 - a)
    return out


_DEF_NAME = re.compile(r"(?:def|class|function|func|fn|struct|enum|trait|interface|type)\s+([A-Za-z_]\w*)")
_ASSIGN_NAME = re.compile(r"([A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)")


def _lift_referenced_definitions(lines: Sequence[str], stripped: list[str], scores: list[float]) -> None:
    """Lift the definitions (functions, classes, module constants) that the best lines refer to."""
    n = len(lines)
    defs: dict[str, int] = {}
    for i, s in enumerate(stripped):
        if s.startswith(DEF_PREFIXES):
            m = _DEF_NAME.search(s)
        elif s and lines[i][:1] not in " \t" and s[0].isalpha():
            m = _ASSIGN_NAME.match(s)
        else:
            continue
        if m and m.group(1) not in defs:
            defs[m.group(1)] = i
    if not defs:
        return
    top = sorted(range(n), key=scores.__getitem__, reverse=True)[: max(5, n // CALL_TOP)]
    level = sum(scores[i] for i in top) / len(top)
    seen: set[int] = set(top)
    for i in top:
        for name in _WORD.findall(lines[i]):
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
    scores: list[float],
    line_terms: dict[int, dict[str, float]],
    source_type: SourceType,
) -> None:
    n = len(lines)
    unit = max(max(scores), 1.0)
    if source_type == "code":
        lifts = [0.0] * n
        hit_lines = sorted(line_terms)
        for d_line, end in _def_extents(lines, stripped):
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
            lifts[d_line:end] = [max(x, value) for x in lifts[d_line:end]]
            scores[d_line] += DEFLINE_W * value
        doc = _docstring_lines(text, offsets, n)
        scores[:] = [
            (s + DEF_LIFT * lift) * (DOC_FACTOR if d else 1.0)
            for s, lift, d in zip(scores, lifts, doc, strict=True)
        ]
        if CALL_W:
            _lift_referenced_definitions(lines, stripped, scores)
    header_end = 0
    for i in range(min(n, 60)):
        s = stripped[i]
        if s and not (s.startswith(IMPORT_PREFIXES + COMMENT_PREFIXES) or s.startswith(('"""', "\'\'\'"))):
            if i > 5:
                break
        header_end = i + 1
    for i in range(header_end):
        scores[i] += HEADER_W * unit
    blank = -0.05 * unit
    if source_type == "docs":
        # Headings orient a reader of docs the way signatures do in code.
        scores[:] = [
            sc + blank if not s else sc + HEADER_W * unit if s[0] == "#" else sc
            for sc, s in zip(scores, stripped, strict=True)
        ]
    else:
        comment = COMMENT_FACTOR
        scores[:] = [
            sc + blank if not s else sc * comment if s.startswith(COMMENT_PREFIXES) else sc
            for sc, s in zip(scores, stripped, strict=True)
        ]
        for i in range(min(n, 300)):
            if stripped[i].startswith(IMPORT_PREFIXES) and lines[i][:1] not in " \t":
                scores[i] += IMPORT_W * unit  # commits that add a feature often add an import
    for i in _blob_lines(lines):
        scores[i] -= 0.5 * unit
    # With little signal, keep one contiguous stretch from the top rather than scattered bits.
    pos = POS_W * unit / n
    scores[:] = [sc + pos * (n - i) for i, sc in enumerate(scores)]


def _log_priors(
    lines: Sequence[str],
    low: str,
    offsets: list[int],
    stripped: list[str],
    scores: list[float],
    chunk_of: list[int],
) -> None:
    n = len(lines)
    unit = max(max(scores), 1.0)
    errors = keyword_lines(low, offsets, ERROR_WORDS)
    warns = keyword_lines(low, offsets, _WARN_WORDS) - errors
    for i in errors:
        scores[i] += 1.0 * unit
    for i in warns:
        scores[i] += 0.4 * unit
    for i in keyword_lines(low, offsets, ("%", "###", "===", "\r", "\u2588")):
        if _PROGRESS.search(lines[i]) and len(_WORD.findall(lines[i])) < 6:
            scores[i] -= 0.6 * unit
    for i in _blob_lines(lines):
        scores[i] -= 0.5 * unit
    # Repeated lines (numbers, ids and hashes aside) are noise after their first few occurrences.
    seen: dict[str, int] = {}
    for i, key in enumerate(low.translate(_DIGITS).split("\n")):
        count = seen.get(key, 0)
        seen[key] = count + 1
        if count:
            scores[i] -= min(0.8, 0.2 * count) * unit
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
    for i in range(max(0, n - 20), n):
        scores[i] += 0.5 * unit
    for i in range(min(n, 5)):
        scores[i] += 0.3 * unit


class HeuristicBackend:
    """Local, deterministic pruning: score lines against the goal, then select within budget.

    Never raises on any text; never logs content. Safe to call concurrently (no shared state).
    """

    name = "heuristic"

    async def prune(self, request: PruneRequest) -> Selection:
        """Select the lines of ``request.text`` to keep."""
        lines = request.text.split("\n")
        scores, chunks = _score(lines, request.goal, request.source_type)
        keep = select_lines(lines, scores, request, chunks=chunks)
        return Selection(keep=keep, backend=self.name)

    async def aclose(self) -> None:
        """Release nothing: the heuristic holds no resources."""


