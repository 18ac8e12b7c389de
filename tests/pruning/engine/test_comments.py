from __future__ import annotations

from sidecar.pruning.engine.comments import MIN_MARKERS, cut_comments
from sidecar.pruning.engine.keepstate import KeepState
from sidecar.pruning.engine.selection import select_lines
from sidecar.pruning.render import render
from sidecar.pruning.types import PruneOptions, PruneRequest, SourceType

PID = "0123456789abcdef0123456789abcdef"
MCOST = 16

LINES = [
    "def load(path):",  # 0
    "    # Read the whole file first: the parser wants one string and",  # 1
    "    # the file is small enough, since configs are a few kilobytes.",  # 2
    "    data = open(path).read()",  # 3
    "    # ok",  # 4: shorter than two markers
    "    return parse(data)",  # 5
]


def _state(keep: list[bool]) -> KeepState:
    state = KeepState(len(LINES), [len(s) + 1 for s in LINES], MCOST)
    for i, k in enumerate(keep):
        if k:
            state.add(i)
    return state


def test_a_kept_comment_block_below_the_cut_is_pruned_and_left_out_of_the_fill_order() -> None:
    state = _state([True] * 6)
    order = [3, 5, 0, 1, 2, 4]
    fill = cut_comments(LINES, state, [1.0, 0.1, 0.1, 1.0, 0.1, 1.0], 0.5, frozenset(), order)
    assert state.keep == [True, False, False, True, True, True]  # "# ok" costs less than two markers
    assert sum(len(LINES[i]) + 1 for i in (1, 2)) >= MIN_MARKERS * MCOST
    assert state.size == sum(len(LINES[i]) + 1 for i in (0, 3, 4, 5))
    assert fill == [3, 5, 0]  # no comment below the cut is picked again to fill the budget


def test_a_comment_that_stands_out_or_orients_stays() -> None:
    state = _state([True] * 6)
    fill = cut_comments(LINES, state, [1.0, 0.9, 0.1, 1.0, 0.1, 1.0], 0.5, frozenset(), list(range(6)))
    assert state.keep[1] and not state.keep[2] and 1 in fill  # the goal names line 1: kept, fills
    state = _state([True] * 6)
    cut_comments(LINES, state, [0.0] * 6, 0.5, frozenset({1, 2}), list(range(6)))
    assert state.keep[1] and state.keep[2]


def test_without_a_comment_below_the_cut_the_order_is_the_same_list() -> None:
    order = list(range(6))
    assert cut_comments(LINES, _state([True] * 6), [1.0] * 6, 0.5, frozenset(), order) is order


def _code(n_functions: int = 30) -> str:
    parts = []
    for k in range(n_functions):
        parts += [
            f"def handler_{k}(request, options):",
            "    # Long explanation of what the handler does and why it does it in this",
            "    # particular order, with the history of the bug that made it necessary.",
            f"    value = request.fetch(options.key_{k}, default=None)",
            f"    return finish_{k}(value, options)",
            "",
        ]
    return "\n".join(parts)


def _select(text: str, goal_line: int, source_type: SourceType = "code") -> list[bool]:
    lines = text.split("\n")
    near = [5.0 if abs(i - goal_line) < 40 else 0.0 for i in range(len(lines))]
    # As the heuristic scores them: a comment at a tenth of the code around it.
    scores = [v / 10 if s.lstrip().startswith("#") else v for s, v in zip(lines, near, strict=True)]
    req = PruneRequest(text=text, goal="g", source_type=source_type, prune_id=PID, options=PruneOptions())
    return select_lines(lines, scores, req)


def test_in_code_the_comments_inside_kept_functions_give_way_to_more_code() -> None:
    text = _code()
    lines = text.split("\n")
    keep = _select(text, 90)
    kept = [s for s, k in zip(lines, keep, strict=True) if k]
    assert not any(s.lstrip().startswith("#") for s in kept)
    assert sum(s.lstrip().startswith("value =") for s in kept) > 15  # more functions' code than with them
    out = render(lines, keep, PID, annotate_lines=False, include_markers=True).text
    assert len(out) <= 0.6 * len(text)  # the default policy's ceiling still holds


def test_other_kinds_keep_their_comment_like_lines() -> None:
    text = _code()
    keep = _select(text, 90, "docs")
    assert any(k and s.lstrip().startswith("#") for s, k in zip(text.split("\n"), keep, strict=True))
