"""The local heuristic backend: goal-conditioned line scores, no network, one CPU pass.

Scoring, in order:
1. goal terms: identifiers split on camelCase/snake_case (the whole identifier kept too),
   stop words dropped, light stemming (plural, -ed, -ing); subject-line terms weigh more;
2. matches found on the lowercased text with a literal scan per term, then checked for
   identifier boundaries on the original text (so ``size`` matches ``chunkSize`` and
   ``CHUNK_SIZE`` but not ``resize``);
3. rare-term weighting: IDF over the text's own structural chunks (``sidecar.chunking``);
4. structure: a line scores its own matches, plus its chunk's, plus a decaying share of its
   neighbours'; a definition whose name matches the goal lifts its whole body; a body's lines
   lift its definition line; imports and the header get a small prior;
5. noise: comment and blank lines, long blobs (base64, hashes, minified strings), repeated lines;
   for logs ANSI codes and progress bars are ignored, errors and their tracebacks and the tail kept.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Sequence

from ..chunking import COMMENT_PREFIXES, DEF_PREFIXES, IMPORT_PREFIXES, chunk_lines
from ..selection import select_lines
from .base import PruneRequest, Selection, SourceType

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PARTS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_BLOB = re.compile(r"[A-Za-z0-9+/=_\-]{80,}")
_LEVEL_ERR = re.compile(r"\b(?:ERROR|ERR|FATAL|CRITICAL|SEVERE|PANIC|Traceback|Exception|Error|FAILED|FAIL|"
                        r"panic|fatal|error|failed|failure|exception)\b")
_LEVEL_WARN = re.compile(r"\b(?:WARN|WARNING|Warning|warning|deprecated|DEPRECATED)\b")
_PROGRESS = re.compile(r"\d{1,3}%|[#=>█▏▎▍▌▋▊▉-]{10,}|\r.")
_NUM = re.compile(r"\d+|0x[0-9a-fA-F]+|[0-9a-f]{8,}")

STOP = frozenset("""
a an the and or but if then else of to in on at by for with from into onto over under as is are was were be
been being this that these those it its it's there here we you they he she i me my our your their them do does
did done not no yes so than too very can could should would will shall may might must also just only more most
some any all each every other such same own both few many much via per about after before again when where why
how what which who whom while during up down out off once new now use used uses using make makes made allow
allows allowed add adds added remove removes removed fix fixes fixed fixing change changes changed update
updates updated support supports supported handle handles handled correctly properly issue issues bug bugs
see pr closes close closed ref refs merge merged instead still already like get gets set sets way case cases
work works working need needs needed want wants one two let lets able thing things don't doesn't isn't can't
won't e.g i.e etc rather since because whether yet ever
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


def goal_terms(goal: str) -> dict[str, tuple[float, tuple[str, ...]]]:
    """Return the goal's search literals with their goal-side weights and allowed suffixes."""
    terms: dict[str, tuple[float, tuple[str, ...]]] = {}
    subject = goal.split("\n", 1)[0]
    for k, part in enumerate((subject, goal[len(subject):])):
        base = 1.0 if k == 0 else BODY_WEIGHT
        for tok in _WORD.findall(part):
            pieces = [p.lower() for p in _PARTS.findall(tok)]
            compound = len(pieces) > 1
            candidates = [(tok.lower(), base * 1.3)] if compound else []
            candidates += [(p, base) for p in pieces]
            for word, w in candidates:
                if len(word) < 3 or word in STOP or word.isdigit():
                    continue
                lit, sufs = _stem(word) if not compound or word != tok.lower() else (word, _SUFFIXES)
                if len(lit) < 3:
                    continue
                if lit not in terms or terms[lit][0] < w:
                    terms[lit] = (w, sufs)
    return terms


def _match_lines(text: str, low: str, offsets: list[int], literal: str, suffixes: tuple[str, ...]) -> list[int]:
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
            # Allow a short inflection, then require the identifier part to end.
            k = end
            while k < n and k - end < 4 and text[k].islower():
                k += 1
            if k < n and text[k].islower():
                ok = False
            elif low[end:k] not in suffixes:
                ok = False
        if ok:
            out.append(bisect.bisect_right(offsets, pos) - 1)
        pos = low.find(literal, pos + size)
    return out




def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _def_extents(lines: Sequence[str], stripped: list[str]) -> list[tuple[int, int]]:
    """Return (def line, end) for each definition, its body ending where the indentation returns."""
    out: list[tuple[int, int]] = []
    n = len(lines)
    for i, s in enumerate(stripped):
        if not s.startswith(DEF_PREFIXES):
            continue
        ind = _indent(lines[i])
        j = i + 1
        # A signature may span lines; the body is whatever is indented deeper after it.
        while j < n and (not stripped[j] or _indent(lines[j]) > ind or stripped[j][:1] in ")]}"):
            if stripped[j][:1] in ")]}" and _indent(lines[j]) <= ind and not stripped[j].endswith((":", "{")):
                j += 1
                break
            j += 1
        while j > i + 1 and not stripped[j - 1]:
            j -= 1
        out.append((i, j))
    return out


def score_lines(lines: Sequence[str], goal: str, source_type: SourceType) -> list[float]:
    """Score each line's relevance to ``goal`` (higher means keep)."""
    n = len(lines)
    if n == 0:
        return []
    text = "\n".join(lines)
    if source_type == "logs" and "\x1b" in text:
        text = _ANSI.sub(lambda m: " " * len(m.group()), text)  # same length: offsets stay valid
    low = text.lower()
    offsets = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    stripped = [line.strip() for line in lines]
    chunks = chunk_lines(lines, source_type, 128)
    chunk_of = [0] * n
    for c, ch in enumerate(chunks):
        chunk_of[ch.start : ch.end] = [c] * (ch.end - ch.start)
    n_chunks = len(chunks)

    # Term matches, weighted by rarity over chunks.
    line_terms: dict[int, dict[str, float]] = {}
    chunk_terms: dict[int, dict[str, float]] = {}
    for literal, (gw, sufs) in goal_terms(goal).items():
        hits = _match_lines(text, low, offsets, literal, sufs)
        if not hits:
            continue
        df = len({chunk_of[i] for i in hits})
        idf = math.log((n_chunks + 1) / (df + 0.5))
        if idf <= 0.05:
            continue
        w = idf * gw
        for i in hits:
            line_terms.setdefault(i, {})[literal] = w
            chunk_terms.setdefault(chunk_of[i], {})[literal] = w

    raw = [0.0] * n
    for i, ts in line_terms.items():
        raw[i] = sum(ts.values())
    chunk_score = [0.0] * n_chunks
    for c, ts in chunk_terms.items():
        size = chunks[c].end - chunks[c].start
        chunk_score[c] = sum(ts.values()) * (1.0 + 0.25 * (len(ts) - 1)) / (1.0 + size / 40.0) ** 0.5

    scores = [raw[i] + 0.6 * chunk_score[chunk_of[i]] for i in range(n)]
    # Neighbours share a decaying part of a line's own matches.
    for i, r in line_terms.items():
        v = raw[i]
        for d, f in ((1, 0.5), (2, 0.3), (3, 0.2), (4, 0.1)):
            if i - d >= 0:
                scores[i - d] += v * f
            if i + d < n:
                scores[i + d] += v * f
        _ = r

    if source_type == "logs":
        _log_priors(lines, text, stripped, scores, chunks, chunk_of)
    else:
        _code_priors(lines, stripped, scores, line_terms, source_type)
    return scores


def _docstring_lines(stripped: list[str]) -> list[bool]:
    """Flag lines inside triple-quoted strings (prose that matches goal words more than code does)."""
    out = [False] * len(stripped)
    inside = False
    for i, s in enumerate(stripped):
        quotes = s.count('"""') + s.count("'''")
        if inside or quotes:
            out[i] = True
        if quotes % 2:
            inside = not inside
    return out


def _code_priors(
    lines: Sequence[str],
    stripped: list[str],
    scores: list[float],
    line_terms: dict[int, dict[str, float]],
    source_type: SourceType,
) -> None:
    n = len(lines)
    top = max(scores) if scores else 0.0
    unit = max(top, 1.0)
    if source_type == "code":
        doc = _docstring_lines(stripped)
        lifts = [0.0] * n
        for d_line, end in _def_extents(lines, stripped):
            terms: dict[str, float] = {}
            for k in range(d_line, end):
                ts = line_terms.get(k)
                if ts:
                    terms.update(ts)
            if not terms:
                continue
            own = sum(line_terms.get(d_line, {}).values())
            size = end - d_line
            # The definition a goal is about: its name matches, or its body gathers many goal terms.
            value = (own + sum(terms.values()) * (1.0 + 0.3 * (len(terms) - 1))) / (1.0 + size / 25.0) ** 0.5
            for k in range(d_line, end):
                if value > lifts[k]:
                    lifts[k] = value
            scores[d_line] += 0.5 * value
        for k in range(n):
            scores[k] += DEF_LIFT * lifts[k]
            if doc[k]:
                scores[k] *= DOC_FACTOR
    header_end = 0
    for i in range(min(n, 60)):
        s = stripped[i]
        if s and not (s.startswith(IMPORT_PREFIXES + COMMENT_PREFIXES) or s.startswith(('"""', "'''"))):
            if i > 5:
                break
        header_end = i + 1
    for i in range(n):
        s = stripped[i]
        if i < header_end:
            scores[i] += 0.15 * unit
        if not s:
            scores[i] -= 0.05 * unit
        elif s.startswith(IMPORT_PREFIXES) and i < 200:
            scores[i] += 0.05 * unit
        elif s.startswith(COMMENT_PREFIXES):
            scores[i] *= COMMENT_FACTOR
        elif source_type == "code":
            scores[i] += CODE_PRIOR * unit
        if len(s) > 200 and _BLOB.search(s):
            scores[i] -= 0.5 * unit


DEF_LIFT = 0.5
BODY_WEIGHT = 0.5
DOC_FACTOR = 0.5
COMMENT_FACTOR = 0.6
CODE_PRIOR = 0.02


def _log_priors(
    lines: Sequence[str],
    text: str,
    stripped: list[str],
    scores: list[float],
    chunks: Sequence[object],
    chunk_of: list[int],
) -> None:
    n = len(lines)
    unit = max(max(scores), 1.0)
    seen: dict[str, int] = {}
    for i in range(n):
        s = stripped[i]
        if not s:
            scores[i] -= 0.1 * unit
            continue
        if _LEVEL_ERR.search(s):
            scores[i] += 1.0 * unit
        elif _LEVEL_WARN.search(s):
            scores[i] += 0.4 * unit
        if _PROGRESS.search(s) and len(_WORD.findall(s)) < 6:
            scores[i] -= 0.6 * unit
        key = _NUM.sub("0", s)
        count = seen.get(key, 0)
        seen[key] = count + 1
        if count:
            scores[i] -= min(0.8, 0.2 * count) * unit
        if len(s) > 200 and _BLOB.search(s):
            scores[i] -= 0.5 * unit
    # A traceback is kept whole: every line gets its best line's score.
    best: dict[int, float] = {}
    for i in range(n):
        c = chunk_of[i]
        best[c] = max(best.get(c, -1e9), scores[i])
    for i in range(n):
        c = chunk_of[i]
        if best[c] >= unit:
            scores[i] = max(scores[i], 0.9 * best[c])
    for i in range(max(0, n - 20), n):
        scores[i] += 0.5 * unit
    for i in range(min(n, 5)):
        scores[i] += 0.3 * unit
    _ = text, chunks


class HeuristicBackend:
    """Local, deterministic pruning: score lines against the goal, then select within budget.

    Never raises on any text; never logs content. Safe to call concurrently (no shared state).
    """

    name = "heuristic"

    async def prune(self, request: PruneRequest) -> Selection:
        """Select the lines of ``request.text`` to keep."""
        lines = request.text.split("\n")
        scores = score_lines(lines, request.goal, request.source_type)
        keep = select_lines(lines, scores, request)
        return Selection(keep=keep, backend=self.name)

    async def aclose(self) -> None:
        """Release nothing: the heuristic holds no resources."""


import os as _os  # TUNING-ONLY

for _k in ("BODY_WEIGHT", "DEF_LIFT", "DOC_FACTOR", "COMMENT_FACTOR", "CODE_PRIOR"):
    if "T_" + _k in _os.environ:
        globals()[_k] = float(_os.environ["T_" + _k])
