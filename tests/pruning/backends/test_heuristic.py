from __future__ import annotations

import asyncio

from sidecar.pruning.backends.base import Backend
from sidecar.pruning.backends.heuristic import HeuristicBackend, score_lines
from sidecar.pruning.render import render
from sidecar.pruning.types import PruneOptions, PruneRequest
from sidecar.tokens import estimate_tokens

PID = "0123456789abcdef0123456789abcdef"


def _module() -> str:
    parts = ['"""A module."""', "import os", "import time", ""]
    for k in range(40):
        parts += [
            f"def unrelated_{k}(a, b):",
            f"    total = a * {k} + b",
            "    for i in range(b):",
            "        total += i",
            "    return total",
            "",
        ]
    parts += [
        "def read_chunk(stream, chunkSize=None):",
        "    if chunkSize is None:",
        "        chunkSize = DEFAULT_CHUNK_SIZE",
        "    return stream.read(chunkSize)",
        "",
    ]
    parts += ["def resize(img):", "    return img", ""]
    return "\n".join(parts)


def _req(text: str, goal: str, source_type="code", **opts) -> PruneRequest:
    opts_ = PruneOptions(**opts)
    return PruneRequest(text=text, goal=goal, source_type=source_type, prune_id=PID, options=opts_)


def test_identifier_aware_matching() -> None:
    lines = ["x = chunkSize", "y = CHUNK_SIZE", "z = resize(1)", "w = sizeof(2)"]
    s = score_lines(lines, "chunk size", "code")
    assert s[0] > s[2] and s[1] > s[2] and s[0] > s[3]


async def test_goal_relevant_function_survives_a_tight_budget() -> None:
    text = _module()
    backend: Backend = HeuristicBackend()
    sel = await backend.prune(_req(text, "Allow None value for chunk_size again", keep_ratio=0.2))
    lines = text.split("\n")
    assert sel.backend == "heuristic" and len(sel.keep) == len(lines)
    start = lines.index("def read_chunk(stream, chunkSize=None):")
    assert all(sel.keep[start : start + 4])
    out = render(lines, sel.keep, PID, annotate_lines=False, include_markers=True).text
    assert 0.15 <= estimate_tokens(out) / estimate_tokens(text) <= 0.2
    await backend.aclose()


async def test_logs_keep_errors_and_traceback_drop_repeats() -> None:
    lines = ["2024-01-01 10:00:00 INFO service starting"]
    for i in range(300):
        lines.append(f"2024-01-01 10:{i // 60:02d}:{i % 60:02d} INFO GET /healthz 200 {i % 9}ms")
        if i == 150:
            lines += [
                "2024-01-01 10:02:30 ERROR payment failed for order 42",
                "Traceback (most recent call last):",
                '  File "pay.py", line 9, in charge',
                "    gateway.charge(order)",
                "TimeoutError: gateway did not answer",
            ]
        if i % 50 == 0:
            lines.append(f"Downloading: [{'#' * (i // 20)}] {i // 3}%")
    text = "\n".join(lines)
    sel = await HeuristicBackend().prune(_req(text, "why did the payment fail", source_type="logs"))
    err = lines.index("2024-01-01 10:02:30 ERROR payment failed for order 42")
    assert all(sel.keep[err : err + 5])
    assert sum(sel.keep) < len(lines) * 0.6
    assert sel.keep[-1]  # the tail orients a reader of logs


async def test_output_is_deterministic_and_concurrency_safe() -> None:
    text = _module()
    backend = HeuristicBackend()
    reqs = [_req(text, "read chunk size", keep_ratio=0.3), _req(text, "unrelated total", keep_ratio=0.5)] * 4
    results = await asyncio.gather(*(backend.prune(r) for r in reqs))
    assert all(r.keep == results[i % 2].keep for i, r in enumerate(results))
    assert results[0].keep != results[1].keep


async def test_default_policy_prunes_a_big_file_but_not_everything() -> None:
    text = _module()
    sel = await HeuristicBackend().prune(_req(text, "read chunk size"))
    share = sum(sel.keep) / len(sel.keep)
    assert 0.1 < share < 0.8


async def test_degenerate_inputs() -> None:
    backend = HeuristicBackend()
    for text in ("", "\n", "one line", "\n\n\n\n\n\n\n\n\n\n\n\n", "x" * 100_000):
        sel = await backend.prune(_req(text, "", keep_ratio=0.3))
        assert len(sel.keep) == len(text.split("\n"))


async def test_docs_keep_the_section_about_the_goal() -> None:
    parts = ["# Manual", "", "Intro text about the product.", ""]
    for k in range(30):
        parts += [f"## Topic {k}", "", f"Paragraph {k} talks about colours, fonts and layout options.", ""]
    parts += ["## Proxy settings", "", "Set HTTPS_PROXY to route traffic through a corporate proxy.", ""]
    text = "\n".join(parts)
    req = _req(text, "configure the proxy", source_type="docs", keep_ratio=0.3)
    sel = await HeuristicBackend().prune(req)
    lines = text.split("\n")
    i = lines.index("## Proxy settings")
    assert sel.keep[i] and sel.keep[i + 2]


async def test_ansi_codes_and_non_ascii_do_not_shift_matches() -> None:
    lines = [f"\x1b[32m2024-01-01 10:00:{i % 60:02d} INFO\x1b[0m İstanbul ok {i}" for i in range(200)]
    lines[120] = "\x1b[31m2024-01-01 10:02:00 ERROR\x1b[0m quota exceeded for bucket photos"
    text = "\n".join(lines)
    req = _req(text, "why is the photos bucket quota exceeded", source_type="logs", keep_ratio=0.2)
    sel = await HeuristicBackend().prune(req)
    assert sel.keep[120]
    s = score_lines(["İİİİ x = 1", "bucket_quota = 2"], "bucket quota", "code")
    assert s[1] > s[0]


async def test_rendered_output_is_byte_identical_across_calls() -> None:
    text = _module()
    outs = set()
    for _ in range(3):
        sel = await HeuristicBackend().prune(_req(text, "read chunk size", keep_ratio=0.25))
        outs.add(render(text.split("\n"), sel.keep, PID, annotate_lines=False, include_markers=True).text)
    assert len(outs) == 1


def test_definitions_referenced_by_the_best_lines_are_lifted() -> None:
    lines = ["import os", ""]
    for k in range(30):
        lines += [f"def filler_{k}(x):", f"    return x + {k}", ""]
    lines += ["def _normalise(v):", "    return v.strip()", ""]
    lines += ["def parse_header(raw):", "    name = _normalise(raw)", "    return name", ""]
    s = score_lines(lines, "parse header", "code")
    helper = lines.index("def _normalise(v):")
    assert s[helper] > max(s[lines.index(f"def filler_{k}(x):")] for k in range(30))


def test_selection_is_identical_across_processes_and_hash_seeds(tmp_path) -> None:
    import os
    import subprocess
    import sys

    text_file = tmp_path / "t.py"
    text_file.write_text(_module())
    script = (
        "import asyncio, sys, hashlib\n"
        "from sidecar.pruning.types import PruneOptions, PruneRequest\n"
        "from sidecar.pruning.backends.heuristic import HeuristicBackend\n"
        "t = open(sys.argv[1]).read()\n"
        "for st, k in (('code', 0.3), ('logs', None), ('docs', 0.5)):\n"
        "    r = PruneRequest(text=t, goal='read chunk size', source_type=st, prune_id='x' * 26,\n"
        "                     options=PruneOptions(keep_ratio=k))\n"
        "    print(hashlib.sha256(bytes(asyncio.run(HeuristicBackend().prune(r)).keep)).hexdigest())\n"
    )
    outs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        p = subprocess.run(
            [sys.executable, "-c", script, str(text_file)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        outs.add(p.stdout)
    assert len(outs) == 1


def _def_extents_by_loop(lines: list[str]) -> list[tuple[int, int]]:
    """The reference: every line visited, the stack of open definitions by indentation."""
    from sidecar.pruning.engine.chunking import DEF_PREFIXES

    out, stack, last_code = [], [], 0
    for i, line in enumerate(lines):
        s = line.strip()
        if not s or s[0] in ")]}":
            if s:
                last_code = i
            continue
        ind = len(line) - len(line.lstrip(" \t"))
        while stack and ind <= stack[-1][0]:
            out.append((stack.pop()[1], last_code + 1))
        if s.startswith(DEF_PREFIXES):
            stack.append((ind, i))
        last_code = i
    while stack:
        out.append((stack.pop()[1], last_code + 1))
    return out


def _lift_by_loop(lines: list[str], scores: list[float]) -> None:
    """The reference for the lift of referenced definitions: every line tried as a definition."""
    from sidecar.pruning.backends.heuristic import _ASSIGN_NAME, _DEF_NAME, CALL_SPAN, CALL_TOP, CALL_W
    from sidecar.pruning.engine.chunking import DEF_PREFIXES
    from sidecar.pruning.engine.terms import WORD

    defs: dict[str, int] = {}
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith(DEF_PREFIXES):
            m = _DEF_NAME.search(s)
        elif s and line[:1] not in " \t" and s[0].isalpha():
            m = _ASSIGN_NAME.match(s)
        else:
            continue
        if m and m.group(1) not in defs:
            defs[m.group(1)] = i
    if not defs:
        return
    n = len(lines)
    top = sorted(range(n), key=scores.__getitem__, reverse=True)[: max(5, n // CALL_TOP)]
    level = sum(scores[i] for i in top) / len(top)
    seen = set(top)
    for i in top:
        for name in WORD.findall(lines[i]):
            d = defs.get(name)
            if d is not None and d not in seen:
                seen.add(d)
                for k in range(d, min(n, d + CALL_SPAN)):
                    scores[k] += CALL_W * level * (1.0 if k == d else 0.5)


def test_definition_extents_and_lifts_match_the_line_by_line_loops() -> None:
    import random

    from sidecar.pruning.backends.heuristic import _def_extents, _lift_referenced_definitions
    from sidecar.pruning.engine.chunking import definition_lines

    pieces = [
        "def f(x):",
        "  def g():",
        "    return g(x)",
        "class C:",
        "X = 1",
        "y: int = 2",
        "",
        "  )",
        "\tpass",
    ]
    pieces += ["async def h():", "f(X)", "  # note", "\x0cdef k():", "é = 3", "    X += C()"]
    for seed in range(300):
        rnd = random.Random(seed)
        lines = rnd.choices(pieces, k=rnd.randint(1, 50))
        stripped = [line.strip() for line in lines]
        defs = definition_lines(stripped)
        assert _def_extents(lines, stripped, defs) == _def_extents_by_loop(lines)
        scores = [rnd.choice([0.0, 1.0, rnd.random()]) for _ in lines]
        expected = list(scores)
        _lift_by_loop(lines, expected)
        _lift_referenced_definitions(lines, stripped, defs, scores)
        assert scores == expected


def test_docstring_lines_match_the_triple_quote_scan() -> None:
    import bisect
    import itertools
    import random
    import re

    from sidecar.pruning.backends.heuristic import _docstring_lines

    rnd = random.Random(3)
    for _ in range(300):
        text = "".join(rnd.choices(['"', "'", "x", "\n", '"""', "'''"], k=rnd.randint(0, 40)))
        lines = text.split("\n")
        offsets = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
        marks = [bisect.bisect_right(offsets, m.start()) - 1 for m in re.finditer(r'"""|\'\'\'', text)]
        expected = [False] * len(lines)
        for a, b in zip(marks[::2], marks[1::2], strict=False):
            expected[a : b + 1] = [True] * (b + 1 - a)
        assert _docstring_lines(text, offsets, len(lines)) == expected
