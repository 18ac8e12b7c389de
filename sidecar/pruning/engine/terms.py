"""Goal terms: what to look for in a text, and where it occurs.

A goal (a task, a commit message, an issue title) becomes search literals with weights:
identifiers split on camelCase/snake_case with the whole identifier kept too; stop words, links,
e-mail addresses, commit hashes and advisory ids (GHSA, CVE) dropped; light stemming (plural,
-ed, -ing; a noun in -ion also finds its verb, at half weight); the first line of the goal weighs
more than its body, a code identifier named anywhere weighs fully and so do its tails (a goal
naming ``_UnsafeNoResource`` is about the ``NoResource`` it replaces). Matching is a literal scan
of the lowercased text per term, checked for identifier boundaries on the original (so ``size``
matches ``chunkSize`` and ``CHUNK_SIZE`` but not ``resize``).
"""

from __future__ import annotations

import bisect
import math
import re
import string

BODY_WEIGHT = 0.5  # words of a goal's body, relative to its first line
BODY_WORDS = 30  # a longer body shares this many words' worth of weight (it is mostly narrative)
TAIL_W = 1.0  # an identifier's tail (``NoResource`` of ``_UnsafeNoResource``), as a plain word
IDENT_WEIGHT = 1.5  # a code identifier named in the goal (``HEADER_RE``), wherever it appears

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PARTS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")

STOP = frozenset(
    """
a an the and or but if then else of to in on at by for with from into onto over under as is are was were be
been being this that these those it its it's there here we you they he she i me my our your their them do does
did done not no yes so than too very can could should would will shall may might must also just only more most
some any all each every other such same own both few many much via per about after before again when where why
how what which who whom while during once now used uses using makes made allows allowed adds added removes
removed fixes fixed fixing changes changed updates updated supports supported correctly properly issue issues
bug bugs see pr closes ref refs merged instead still already like way need needs needed want wants let lets
able thing things don't doesn't isn't can't won't e.g i.e etc rather since because whether yet ever
don doesn didn won isn aren wasn weren shouldn couldn wouldn hasn haven hadn
""".split()
)

SUFFIXES = ("", "s", "es", "ed", "d", "ing", "er", "ers")
_E_SUFFIXES = ("e", "es", "ed", "ing", "er", "ers", "ion", "ions")
_ING_SUFFIXES = (*SUFFIXES, "e", "es")
_Y_SUFFIXES = ("y", "ies", "ied", "ie", "ying")
# The verb behind a noun in -ion: its forms (``decompress``, ``recursive``); in -ation, ``validate``'s.
ROOT_WEIGHT = 0.5  # a share of the noun's weight: the noun itself stays the stronger match
# At most 4 letters each: match_lines reads no further (so ``validating`` is not found from ``valid``).
_ION_SUFFIXES = ("", "e", "s", "es", "ed", "ing", "ive", "or", "ors", "er")
_ATE_SUFFIXES = ("ate", "ates", "ated", "ator", "e", "es", "ed", "ing")


def stem(word: str) -> tuple[str, tuple[str, ...]]:
    """Return the literal to search and the suffixes it may carry."""
    w = word
    if len(w) > 5 and w.endswith(("ies", "ied")):
        return w[:-3], _Y_SUFFIXES
    if len(w) > 5 and w.endswith("ing") or len(w) > 4 and w.endswith("ed"):
        # ``parsing``/``parsed`` lost an ``e`` that ``parse`` has: allow it back.
        w = w[:-3] if w.endswith("ing") else w[:-2]
        if len(w) > 4 and w[-1] == w[-2] and w[-1] not in "lsz":
            # ``stopped``, ``running``: the stem, and the doubled consonant the typed word had.
            w = w[:-1]
            return w, (*_ING_SUFFIXES, *(w[-1] + end for end in ("ed", "ing", "er", "ers")))
        if len(w) > 3 and w.endswith("y"):
            return w[:-1], _Y_SUFFIXES
        return w, _ING_SUFFIXES
    if len(w) > 4 and w.endswith("es") and w[-3] in "sxz":
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    if len(w) > 3 and w.endswith("y"):
        return w[:-1], _Y_SUFFIXES
    if len(w) > 3 and w.endswith("e"):
        return w[:-1], _E_SUFFIXES
    return w, SUFFIXES


_CAMEL = re.compile(r"[a-z][A-Z]")
_HEX = re.compile(r"\b0x[0-9a-f]+\b", re.I)  # a hex number is one term (not "x3f800000" after its "0")
# A number the goal names (order 1187, port 8000, status 502): a term of its own, matched whole. Not a
# version's or an address's part (``3.11``, ``10.0.1.12``: dotted), nor shorter (``v2``, "2 tests").
_NUMBER = re.compile(r"(?<![\w.])(\d{3,})s?(?![\w]|\.\d)")  # "502s" is 502
_CODE_PLURAL = re.compile(r"(?<=\d)s$")  # "B904s", "TS2322s": the code B904, TS2322
# An HTTP status the goal names by its reason ("bad gateway errors"): the text shows its code.
_REASONS = {
    "bad request": "400", "unauthorized": "401", "forbidden": "403", "not found": "404",
    "too many requests": "429", "internal server error": "500", "bad gateway": "502",
    "service unavailable": "503", "gateway timeout": "504",
}  # fmt: skip
# Links and addresses are tried only where a word starts: tried at every character, "\S+" rescanned a
# long word to its end from each one (a 50 KB word: 8 s).
_URL = re.compile(
    r"(?<!\S)\S+://\S+|(?<!\S)[^\s@]+@[^\s@]+\.\w+|\b[0-9a-f]{7,40}\b|\bcherry picked from commit\b"
    r"|\bGHSA(?:-\w{4}){3}\b|\bCVE-\d{4}-\d+\b",
    re.I,
)


# A goal asking why something fails: its words rarely name the error ("cell 7 fails", the text "KeyError";
# "the build is broken", the text "error:").
_FAILURE_GOAL = re.compile(
    r"\b(?:fail\w*|errors?|errored|crash\w*|broken|breaks|exceptions?|traceback|panic\w*"
    r"|(?:won'?t|doesn'?t|does not|will not|can'?t|cannot)(?: \w+)? (?:build|compile|start|run|install|work)"
    r")\b",
    re.I,
)


def asks_about_failure(goal: str) -> bool:
    """Tell whether ``goal`` asks why something fails (what the error says, not which words)."""
    return _FAILURE_GOAL.search(goal) is not None


# What a question sets aside ("Ignore black, what else fails?", "ignoring the long lines, is there
# anything real?", "Apart from line length, what errors?"): the words up to the next punctuation. A
# verb "ignore" counts only where a sentence or clause starts (not "why does pip ignore my pins"), and
# only in a question: "Ignore case in header names" is a change about ignoring case.
_SET_ASIDE = re.compile(
    r"(?:(?:^|[.,;:!?(]\s*)(?:ignore|ignoring|skip|skipping|leaving aside)"
    r"|\b(?:apart from|aside from|other than|except for|excluding|besides|not counting))"
    r"\s+((?:[^\s,.;:!?]++\s*+){1,5})(?=[,.;:!?\n]|$)"  # possessive: a word is never split (no backtracking)
    # ... and the other order: "Leaving line length aside, what else?", "Setting the flaky ones aside, ..."
    r"|(?:^|[.,;:!?(]\s*)(?:leaving|setting|putting)\s+((?:[^\s,.;:!?]++\s++){1,5}?)aside\b",
    re.I | re.M,
)


def set_aside(goal: str) -> tuple[str, list[list[tuple[str, tuple[str, ...]]]]]:
    """Return ``goal`` without what a question sets aside, and those spans' terms (one list per span).

    A line holding every term of a span is what the asker does not want (the heuristic ranks it low).
    """
    if "?" not in goal:
        return goal, []
    spans: list[list[tuple[str, tuple[str, ...]]]] = []

    def drop(m: re.Match[str]) -> str:
        g = 1 if m.group(1) is not None else 2  # which order matched
        span = [(lit, sufs) for lit, (_, sufs) in _goal_terms(m.group(g)).items()]
        if span:
            spans.append(span)
        start, end = m.start(g) - m.start(0), m.end(g) - m.start(0)
        return m.group(0)[:start] + m.group(0)[end:]

    return _SET_ASIDE.sub(drop, goal), spans


def goal_terms(goal: str) -> dict[str, tuple[float, tuple[str, ...]]]:
    """Return the goal's search literals with their goal-side weights and allowed suffixes."""
    return _goal_terms(set_aside(goal)[0])


def _goal_terms(goal: str) -> dict[str, tuple[float, tuple[str, ...]]]:
    terms: dict[str, tuple[float, tuple[str, ...]]] = {}
    goal = _URL.sub(" ", goal)  # links, e-mail addresses and commit hashes say nothing about the text
    subject = goal.strip().split("\n", 1)[0]
    body = goal.strip()[len(subject) :]
    n_body = len(WORD.findall(body))
    # A long body is mostly narrative: its words share a fixed total weight.
    body_weight = BODY_WEIGHT * min(1.0, BODY_WORDS / max(n_body, 1))
    for k, part in enumerate((subject, body)):
        base = 1.0 if k == 0 else body_weight
        for hexnum in _HEX.findall(part):
            if len(hexnum) > 4:  # 0x00, 0xff and the like are everywhere
                terms[hexnum.lower()] = max(terms.get(hexnum.lower(), (0.0, ("",))), (base * 1.3, ("",)))
        part = _HEX.sub(" ", part)
        low_part = part.lower()
        numbers = _NUMBER.findall(part) + [code for reason, code in _REASONS.items() if reason in low_part]
        for number in numbers:
            terms[number] = max(terms.get(number, (0.0, ("",))), (base, ("",)))
        for tok in WORD.findall(part):
            tok = _CODE_PLURAL.sub("", tok)
            pieces = [p.lower() for p in _PARTS.findall(tok)]
            compound = len(pieces) > 1
            # A code identifier named anywhere in the goal (``HEADER_RE``, ``proxyManager``) is precise.
            ident = compound and ("_" in tok.strip("_") or _CAMEL.search(tok) is not None)
            whole = max(base * 1.3, IDENT_WEIGHT) if ident else base * 1.3
            candidates = [(tok.lower(), whole)] if compound else []
            if ident and TAIL_W:
                # The identifier without its leading parts (``_UnsafeNoResource`` names ``NoResource``).
                starts = [m.start() for m in _PARTS.finditer(tok)][1:-1]
                candidates += [(tok[i:].lower().lstrip("_"), base * TAIL_W) for i in starts]
            whole_words = {c for c, _ in candidates}
            candidates += [(p, base) for p in pieces]
            for word, w in candidates:
                # Two-letter parts count only inside identifiers (``co`` in ``co_positions``).
                if len(word) < (2 if compound else 3) or word in STOP or word.isdigit():
                    continue
                lit, sufs = (word, SUFFIXES) if word in whole_words else stem(word)
                if len(lit) < 2 or (len(lit) == 2 and not compound):
                    continue
                if lit not in terms or terms[lit][0] < w:
                    terms[lit] = (w, sufs)
                root = None if word in whole_words else derived_root(word)
                if root is not None and (root[0] not in terms or terms[root[0]][0] < w * ROOT_WEIGHT):
                    terms[root[0]] = (w * ROOT_WEIGHT, root[1])
    return terms


def derived_root(word: str) -> tuple[str, tuple[str, ...]] | None:
    """Return the verb behind a long noun in -ion(s), with its endings, or None.

    ``decompression`` -> ``decompress`` (``decompressed``, ``decompressor``), ``recursion`` -> ``recurs``
    (``recurse``, ``recursive``), ``validation`` -> ``valid`` + ``ate`` (``validate``, ``validated``).
    Code names the action where prose names the noun: a goal "limit decompression" is about ``decompress``.
    """
    if not word.endswith(("ion", "ions")):
        return None
    root = word[: -4 if word.endswith("s") else -3]
    if root.endswith("at") and len(root) >= 5:
        return root[:-2], _ATE_SUFFIXES
    # Shorter roots are other words (``vers`` of ``versions``, ``quest`` of ``question``).
    return (root, _ION_SUFFIXES) if len(root) >= 6 else None


def match_lines(
    text: str, low: str, offsets: list[int], literal: str, suffixes: tuple[str, ...]
) -> list[int]:
    """Return the line index of every boundary-respecting occurrence of ``literal``."""
    out: list[int] = []
    n = len(text)
    size = len(literal)
    bare = "" in suffixes
    number = literal.isdigit()
    find, at = low.find, bisect.bisect_right
    line = 0  # the line of the previous hit: later hits are at or after it
    pos = find(literal)
    while pos >= 0:
        ok = True
        if pos > 0:
            prev = text[pos - 1]
            cur = text[pos]
            if prev.isalnum():
                ok = (
                    (prev.islower() or prev.isdigit())
                    and cur.isupper()
                    or (prev.isupper() and cur.isupper() and pos + 1 < n and text[pos + 1].islower())
                )
        if ok:
            end = pos + size
            if end == n or text[end] in _CASELESS:
                # The part ends right here (the common case: no case to compare); a number, not glued
                # to more digits ("502" is not "5020").
                ok = bare and not (end < n and number and text[end].isdigit())
            else:
                # A short inflection in the same case (``cookies``, ``COOKIES``), then the part must end.
                same = str.isupper if text[pos:end].isupper() else str.islower
                k = end
                while k < n and k - end < 4 and same(text[k]):
                    k += 1
                if k < n and same(text[k]) or low[end:k] not in suffixes:
                    ok = False
        if ok:
            line = at(offsets, pos, line) - 1
            out.append(line)
        pos = find(literal, pos + size)
    return out


# ASCII characters that are neither upper nor lower case: after a match, the word has ended.
_CASELESS = frozenset(map(chr, range(128))) - frozenset(string.ascii_letters)


# Versions, advisory ids and dotted names a goal names verbatim: in code they say little, in JSON, logs
# and search results they are the keys of the record that matters ("2.28.2", "CVE-2024-35195",
# "ctx.obj", "sessions.py").
_LITERAL = re.compile(
    r"(?<![\w.])v?\d+(?:\.\d+)+(?:[-.]?(?:a|b|rc|post|dev|alpha|beta)\d*)?(?![\w])"
    r"|\bCVE-\d{4}-\d+\b|\bGHSA(?:-\w{4}){3}\b"
    r"|(?<![\w.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?![\w(])",  # dotted names: ctx.obj, sessions.py
    re.I,
)
_SHORT = re.compile(r"(?<![\w.\-/])[a-z]{2}(?![\w.\-/])")
LITERAL_WEIGHT = 2.0


def goal_literals(goal: str) -> list[str]:
    """Return the versions, advisory ids and dotted names ``goal`` names, lowercased, in order."""
    out: list[str] = []
    goal = set_aside(goal)[0]  # "ignoring setup.py, what else fails?" does not ask for setup.py
    for m in _LITERAL.finditer(goal):
        lit = m.group(0).lower().rstrip(".")
        if lit in out or lit[0].isalpha() and max(map(len, lit.split("."))) < 2:
            continue  # "e.g", "i.e"
        out.append(lit)
    # Two-letter names are no goal terms in prose, but here they may be the record asked about ("qs").
    out += [w for w in dict.fromkeys(_SHORT.findall(goal.lower())) if w not in STOP and w not in out]
    return out


def literal_lines(low: str, offsets: list[int], literal: str) -> list[int]:
    """Return the lines where ``literal`` occurs not glued to a longer number or word."""
    out: list[int] = []
    n = len(low)
    pos = low.find(literal)
    while pos >= 0:
        end = pos + len(literal)
        before = low[pos - 1] if pos else " "
        after = low[end] if end < n else " "
        glued = before.isalnum() or before == "_" or before == "." and pos > 1 and low[pos - 2].isdigit()
        if (
            not glued
            and not (after.isalnum() or after == "_")
            and not (after == "." and low[end + 1 : end + 2].isdigit())
        ):
            out.append(bisect.bisect_right(offsets, pos) - 1)
        pos = low.find(literal, end)
    return out


def weighted_matches(
    text: str, low: str, offsets: list[int], goal: str, group_of: list[int], n_groups: int, *, literals: bool
) -> dict[int, dict[str, float]]:
    """Return, per matching line, each goal term's weight there: goal weight x rarity over the groups."""
    found: dict[int, dict[str, float]] = {}

    def add(literal: str, gw: float, hits: list[int]) -> None:
        if not hits:
            return
        df = len(set(map(group_of.__getitem__, hits)))
        idf = math.log((n_groups + 1) / (df + 0.5))
        if idf <= 0.05:
            return
        w = idf**1.5 * gw
        for i in hits:
            found.setdefault(i, {})[literal] = w

    for literal, (gw, sufs) in goal_terms(goal).items():
        add(literal, gw, match_lines(text, low, offsets, literal, sufs))
    if literals:
        for literal in goal_literals(goal):
            add(literal, LITERAL_WEIGHT, literal_lines(low, offsets, literal))
    return found
