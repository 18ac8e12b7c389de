"""Render a selection: kept lines verbatim, one marker line for each pruned run.

The marker is what the agent sees in place of the cut lines, so it says what was cut and how
to get it back (``recover_text`` with the prune id and the original 1-based range). It is
short and ASCII because the agent pays for it on every turn: the first marker of a text reads
``... [lines 120-180 pruned; recover_text prune_id=ID]``, later ones only ``... [300-340 pruned]``
(the id is the first marker's: one text, one id), and no marker is indented. Markers were 11% of
what a pruned code file printed while they repeated the id; at the same kept share the characters
go to code lines instead (``selection.RUN_WEIGHT_EXTRA``; all gold kept at the default policy 332
-> 344 of 451 held-out cases, bench/prune_quality.py). Indenting them bought no recall and cost
about 6 characters a marker.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

import msgspec


class PrunedBlock(msgspec.Struct, frozen=True, kw_only=True):
    """One pruned run of lines, in original 1-based inclusive numbering."""

    start_line: int
    end_line: int
    count: int
    marker: str  # the marker line as it appears in the text ("" when markers are off)


class Rendered(msgspec.Struct, frozen=True, kw_only=True):
    """The rendered text and the runs it left out."""

    text: str
    blocks: list[PrunedBlock]


def marker_line(prune_id: str, start: int, end: int, indent: str = "", *, first: bool = True) -> str:
    """Return the one-line marker for pruned lines ``start``..``end`` (1-based, inclusive)."""
    if first:
        span = f"line {start}" if start == end else f"lines {start}-{end}"
        return f"{indent}... [{span} pruned; recover_text prune_id={prune_id}]"
    span = f"{start}" if start == end else f"{start}-{end}"
    return f"{indent}... [{span} pruned]"


def marker_cost(prune_id: str, n_lines: int) -> int:
    """Return the characters a later marker line (with its newline) costs at most for ``n_lines``."""
    big = max(n_lines, 1)
    return len(marker_line(prune_id, big, big, first=False)) + 1


def first_marker_extra(prune_id: str, n_lines: int) -> int:
    """Return what the first marker of a text costs at most beyond a later one."""
    big = max(n_lines, 1)
    return len(marker_line(prune_id, big, big)) - len(marker_line(prune_id, big, big, first=False))


def rendered_size(
    lines: Sequence[str],
    keep: Sequence[bool],
    prune_id: str,
    *,
    annotate_lines: bool,
    include_markers: bool,
) -> int:
    """Return ``len(render(...).text)`` without building the text."""
    n = len(lines)
    if n == 0:
        return 0
    last_is_eol = n > 1 and lines[-1] == ""
    flags = bytearray(keep)
    if last_is_eol:
        flags[-1] = 1
    pieces = flags.count(1)
    total = sum(itertools.compress(map(len, lines), flags))
    if annotate_lines:
        numbered = itertools.compress(range(1, n + 1), flags[:-1] if last_is_eol else flags)
        total += sum(len(str(k)) + 1 for k in numbered)
    if include_markers:
        for k, m in enumerate(_PRUNED_RUN.finditer(flags)):
            start, end = m.span()
            total += len(marker_line(prune_id, start + 1, end, first=not k))
            total += 1 if lines[end - 1].endswith("\r") else 0
            pieces += 1
    return total + max(0, pieces - 1)


_PRUNED_RUN = re.compile(rb"\x00+")


def render(
    lines: Sequence[str],
    keep: Sequence[bool],
    prune_id: str,
    *,
    annotate_lines: bool,
    include_markers: bool,
) -> Rendered:
    """Render ``lines`` keeping the flagged ones and replacing each pruned run with one marker."""
    if len(keep) != len(lines):
        raise ValueError("keep must have one flag per line")
    n = len(lines)
    # A text ending in "\n" splits into a last empty element: it carries the trailing newline.
    last_is_eol = n > 1 and lines[-1] == ""
    out: list[str] = []
    blocks: list[PrunedBlock] = []
    i = 0
    while i < n:
        if keep[i] or (last_is_eol and i == n - 1):
            line = lines[i]
            if annotate_lines and not (last_is_eol and i == n - 1):
                line = f"{i + 1}\t{line}"
            out.append(line)
            i += 1
            continue
        j = i
        while j < n and not keep[j] and not (last_is_eol and j == n - 1):
            j += 1
        marker = ""
        if include_markers:
            marker = marker_line(prune_id, i + 1, j, first=not blocks)
            # Keep the text's line endings uniform: CRLF texts get a CRLF marker.
            out.append(marker + "\r" if lines[j - 1].endswith("\r") else marker)
        blocks.append(PrunedBlock(start_line=i + 1, end_line=j, count=j - i, marker=marker))
        i = j
    return Rendered(text="\n".join(out), blocks=blocks)
