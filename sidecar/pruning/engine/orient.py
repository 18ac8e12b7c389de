"""Orientation: the few lines that let a reader place what the scores kept.

Code: the first line, the definition (and class) line above each kept run and, under the default
policy, the line defining a name the kept code uses. Logs: error lines, when the scores are blind to
them (a scorer that ranks them has kept those that matter). Each is spared by trimming until nothing
else is left to drop.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from sidecar.pruning.engine.chunking import DEF_PREFIXES, lowered
from sidecar.pruning.engine.keepstate import KeepState, kept_runs
from sidecar.pruning.engine.listing import anchors
from sidecar.pruning.engine.logs import error_lines
from sidecar.pruning.engine.terms import WORD
from sidecar.pruning.types import PruneRequest

ORIENT_MIN_RATIO = 0.4  # below this budget a signature line costs more recall than it orients (measured)
ORIENT_SCAN = 400  # how far up to look for the definition enclosing a kept run
DEFINITION_SHARE = 10  # definitions of names the kept code uses: at most 1/10 of the budget
DEFINITION_MIN_NAME = 3  # shorter names (``i``, ``fn``) are too common to point at one definition
# A line that defines one name: a function, class or type header (any indent), a module-level
# constant or binding (no indent), an import of a single name.
_DEFINES = re.compile(
    r"\s*(?:export\s+)?(?:default\s+)?(?:pub(?:\([\w:]+\))?\s+)?(?:async\s+)?"
    r"(?:def|class|function\*?|func(?:\s+\([^)]*\))?|fn|struct|enum|trait|interface|type)\s+([A-Za-z_]\w*)"
    r"|(?:export\s+)?(?:const|let|var|static|pub\s+const|pub\s+static)\s+(?:mut\s+)?([A-Za-z_]\w*)"
    r"|([A-Za-z_]\w*)\s*(?::\s*[^=]+)?=(?!=)"
    r"|#define\s+([A-Za-z_]\w*)"
    r"|from\s+[\w.]+\s+import\s+([A-Za-z_]\w*)\s*$"
)
# What an indented line matching ``_DEFINES`` starts with (the only indented lines it can match).
_HEADER_WORDS = (
    "def", "class", "function", "func", "fn", "struct", "enum", "trait", "interface", "type", "export",
    "default", "pub", "async",
)  # fmt: skip


def orient(
    lines: Sequence[str], state: KeepState, request: PruneRequest, target: int, scores: Sequence[float]
) -> frozenset[int]:
    """Keep what orients a reader; return those lines so trimming spares them.

    Code: the definition line (and enclosing class line) above each kept run, and the first
    line of the text. Logs: error lines, within a fifth of the budget, when the scores are blind
    to them. Listings: where each kept row is (``listing.anchors``). Skipped under tight budgets,
    where a lone line plus its marker costs more recall than it orients (measured).
    """
    ratio = request.options.keep_ratio
    if ratio is not None and ratio < ORIENT_MIN_RATIO:
        return frozenset()
    keep, n = state.keep, state.n
    added: set[int] = set()
    if request.source_type == "logs":
        low = lowered("\n".join(lines))
        offsets = list(itertools.accumulate(map((1).__add__, map(len, lines)), initial=0))
        errors = sorted(error_lines(lines, low, offsets))
        if errors and _ranked(errors, scores):
            # The scorer weighed the error lines itself (the heuristic's log priors): it folded
            # seventy "FAILED [ 41%]" progress lines or a "failPeerConflict" stack frame on
            # purpose, and adding them back in text order would crowd out what it kept.
            return frozenset()
        spent = 0
        for i in errors:
            if keep[i]:
                continue
            spent += state.costs[i]
            if spent > target // 5:
                break
            state.add(i)
            added.add(i)
        return frozenset(added)
    if request.source_type == "listing":
        # Where each kept row is: its ls -R heading, its parent rows in a tree.
        parent = anchors(lines)
        for i in [i for i in range(n) if keep[i]]:
            a = parent[i]
            while a >= 0 and not keep[a]:
                state.add(a)
                added.add(a)
                a = parent[a]
        return frozenset(added)
    if request.source_type != "code":
        return frozenset()
    first = next((i for i in range(n) if lines[i].strip()), None)
    if first is not None and not keep[first]:
        state.add(first)
        added.add(first)
    chosen = [i for i in range(n) if keep[i]]  # what the scores chose, and the first line
    starts = [s for s, _ in kept_runs(keep)]
    # Up from each run's start, each line less indented than the last: the enclosing definitions.
    # The scans above nearby runs overlap, so each line's indent is measured once and each enclosing
    # line found is remembered as its child's parent, which the next scan jumps along.
    indents: dict[int, int] = {}
    parents: dict[int, int] = {}
    for i in starts:
        ind = _indent_of(lines, i, indents)
        stop = max(-1, i - 1 - ORIENT_SCAN)
        child = i
        while ind > 0:
            j = _enclosing(lines, child - 1, ind, stop, indents, parents)
            if j is None:
                break
            parents[child] = j
            ind = indents[j]
            if not keep[j] and lines[j].lstrip().startswith(DEF_PREFIXES):
                state.add(j)
                added.add(j)
            child = j
    if ratio is None:  # the proxy's policy; under a fixed ratio the scores alone rank better (measured)
        added.update(_definitions_used(lines, state, chosen, target // DEFINITION_SHARE))
    return frozenset(added)


def _definitions_used(lines: Sequence[str], state: KeepState, chosen: list[int], budget: int) -> list[int]:
    """Keep the line defining a name that kept code uses and the text defines once, elsewhere.

    A kept body that calls ``_displayItem`` or matches ``_OctalPatt`` reads better, and is edited
    more safely, with the line that defines them (a module constant, a symbol, a function's
    signature, an import); names used most by the kept lines come first, within ``budget`` characters.
    """
    sites: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        # Only an unindented line or an indented header can define a name: skip the regex for the rest.
        if (
            not line[:1].isalpha()
            and line[:1] not in ("_", "#")
            and not line.lstrip().startswith(_HEADER_WORDS)
        ):
            continue
        m = _DEFINES.match(line)
        if m is not None:
            name = next(g for g in m.groups() if g)
            sites.setdefault(name, []).append(i)
    if not sites:
        return []
    uses: dict[str, int] = {}
    for i in chosen:
        for name in WORD.findall(lines[i]):
            where = sites.get(name)
            if where is not None and len(where) == 1 and where[0] != i and len(name) >= DEFINITION_MIN_NAME:
                uses[name] = uses.get(name, 0) + 1
    added: list[int] = []
    spent = 0
    for name, _count in sorted(uses.items(), key=lambda kv: -kv[1]):
        i = sites[name][0]
        if state.keep[i]:
            continue
        cost = state.costs[i] + state.delta_runs(i) * state.mcost
        if spent + cost > budget:
            continue
        spent += cost
        state.add(i)
        added.append(i)
    return added


def _ranked(errors: list[int], scores: Sequence[float]) -> bool:
    """Tell whether ``scores`` rank the error lines above the typical line (their median above it)."""
    middle = sorted(scores[i] for i in errors)[len(errors) // 2]
    return sum(map(middle.__gt__, scores)) > len(scores) // 2  # one pass, where a median sorts all


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _enclosing(
    lines: Sequence[str], k: int, ind: int, stop: int, indents: dict[int, int], parents: dict[int, int]
) -> int | None:
    """Return the nearest line from ``k`` up (above ``stop``) indented less than ``ind``, or None.

    A line indented ``ind`` or more can be jumped to its known parent: every line between them is
    indented at least as much as it is, so none of them is the one sought.
    """
    while k > stop:
        if _indent_of(lines, k, indents) < ind:
            return k
        k = parents.get(k, k - 1)
    return None


def _indent_of(lines: Sequence[str], i: int, cache: dict[int, int]) -> int:
    """Return line ``i``'s indent, or a huge one for a blank line (it never encloses anything), cached."""
    got = cache.get(i)
    if got is None:
        line = lines[i]
        got = cache[i] = _indent(line) if line.strip() else 1 << 30
    return got
