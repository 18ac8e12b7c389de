"""Orientation lines: what lets a reader place the lines the scores kept."""

from __future__ import annotations

import random

import pytest

from sidecar.pruning.engine.chunking import DEF_PREFIXES
from sidecar.pruning.engine.keepstate import KeepState
from sidecar.pruning.engine.orient import _DEFINES, ORIENT_SCAN, orient
from sidecar.pruning.engine.selection import select_lines
from sidecar.pruning.types import PruneOptions, PruneRequest

PID = "0123456789abcdef0123456789abcdef"


def _module() -> tuple[list[str], list[float]]:
    """A module: filler, a constant and a helper defined early, a body using both scored high at the end."""
    lines = ['"""A module."""', "import re", ""]
    lines += [f"SETTING_{i} = {i}  # unrelated configuration value number {i}" for i in range(60)]
    lines += ['_OctalPatt = re.compile(r"\\\\[0-3][0-7][0-7]")', ""]
    lines += ["def _unquote_helper(text):", "    return text.strip('\"')", ""]
    lines += [f"def filler_{i}(x):\n    return x * {i} + sum(range({i}))" for i in range(60)]
    lines = "\n".join(lines).split("\n")
    body = [
        "def unquote_cookie(s):",
        "    res = []",
        "    m = _OctalPatt.search(s)",
        "    res.append(_unquote_helper(s[: m.start()]))",
        "    return ''.join(res)",
    ]
    scores = [0.0] * len(lines) + [5.0] * len(body)
    return lines + body, scores


def _req(lines: list[str], **opts: float) -> PruneRequest:
    text = "\n".join(lines)
    return PruneRequest(text=text, goal="g", source_type="code", prune_id=PID, options=PruneOptions(**opts))


def test_the_default_policy_keeps_definitions_the_kept_code_uses() -> None:
    lines, scores = _module()
    keep = select_lines(lines, scores, _req(lines))
    kept = {lines[i] for i, k in enumerate(keep) if k}
    assert "    m = _OctalPatt.search(s)" in kept
    assert '_OctalPatt = re.compile(r"\\\\[0-3][0-7][0-7]")' in kept
    assert "def _unquote_helper(text):" in kept
    # The control: the same module whose body uses neither name keeps neither definition.
    plain = [line.replace("_OctalPatt", "pattern").replace("_unquote_helper", "str") for line in lines[-5:]]
    control = lines[:-5] + plain
    keep = select_lines(control, scores, _req(control))
    assert not keep[control.index('_OctalPatt = re.compile(r"\\\\[0-3][0-7][0-7]")')]
    assert not keep[control.index("def _unquote_helper(text):")]


def test_a_fixed_ratio_leaves_the_choice_to_the_scores() -> None:
    lines, scores = _module()
    keep = select_lines(lines, scores, _req(lines, keep_ratio=0.1))
    assert not keep[lines.index('_OctalPatt = re.compile(r"\\\\[0-3][0-7][0-7]")')]


def test_definition_lines_name_what_they_define() -> None:
    cases = {
        "const CHECKPATH = Symbol('checkPath')": "CHECKPATH",
        "_nulljoin = ''.join": "_nulljoin",
        "const _displayItem = (item, searchTerms) => {": "_displayItem",
        "    def _validate_headers(self, headers):": "_validate_headers",
        "func (s *Server) Serve(l net.Listener) error {": "Serve",
        "pub(crate) fn parse_header(buf: &[u8]) -> Result<()> {": "parse_header",
        "#define MAX_DEPTH 1024": "MAX_DEPTH",
        "from os.path import join": "join",
        "TIMEOUT: float = 3.0": "TIMEOUT",
    }
    for line, name in cases.items():
        m = _DEFINES.match(line)
        assert m is not None and next(g for g in m.groups() if g) == name, line
    for line in ("x == 3", "    y = 3", "import os", "return value"):
        assert _DEFINES.match(line) is None, line


def _plain_enclosing(lines: list[str], keep: list[bool]) -> set[int]:
    """The enclosing-definition scan written plainly: up from each run's start, line by line."""
    found: set[int] = set()
    starts = [i for i in range(len(keep)) if keep[i] and (i == 0 or not keep[i - 1])]
    for i in starts:
        ind = len(lines[i]) - len(lines[i].lstrip()) if lines[i].strip() else 1 << 30
        for j in range(i - 1, max(-1, i - 1 - ORIENT_SCAN), -1):
            if ind == 0:
                break
            s = lines[j].strip()
            if s and len(lines[j]) - len(lines[j].lstrip()) < ind:
                ind = len(lines[j]) - len(lines[j].lstrip())
                if s.startswith(DEF_PREFIXES):
                    found.add(j)
    return found


@pytest.mark.parametrize("seed", range(30))
def test_the_enclosing_definitions_jumped_to_are_those_a_line_by_line_scan_finds(seed: int) -> None:
    rnd = random.Random(seed)
    lines, depth = [], 0
    for _ in range(rnd.randint(50, 900)):  # nested blocks, blank lines, runs longer than ORIENT_SCAN
        depth = max(0, min(5, depth + rnd.choice((-2, -1, 0, 0, 1))))
        lines.append(
            "" if rnd.random() < 0.1 else "    " * depth + rnd.choice(("def f():", "class C:", "x = 1"))
        )
    keep = [rnd.random() < 0.15 for _ in lines]
    first = next((i for i, s in enumerate(lines) if s.strip()), 0)
    keep[first] = True  # orient keeps the first line before it scans: start from there on both sides
    state = KeepState(len(lines), [len(s) + 1 for s in lines], 16)
    for i in (i for i, k in enumerate(keep) if k):
        state.add(i)
    text = "\n".join(lines)
    req = PruneRequest(
        text=text, goal="g", source_type="code", prune_id=PID, options=PruneOptions(keep_ratio=0.5)
    )
    added = orient(lines, state, req, 10**9, [0.0] * len(lines))
    assert added == {j for j in _plain_enclosing(lines, keep) if not keep[j]}
