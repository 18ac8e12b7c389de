"""Realistic tool outputs for the per-kind tests: JSON, a pytest run, search results, a git log, a table."""

from __future__ import annotations

import asyncio
import json

from sidecar.pruning.backends.heuristic import HeuristicBackend
from sidecar.pruning.render import render
from sidecar.pruning.types import PruneOptions, PruneRequest, SourceType

PID = "abcdefghijklmnopqrstuvwxyz"


def releases_json() -> str:
    """A PyPI-like releases document: many versions, two files each, one version yanked."""
    releases: dict[str, list[dict[str, object]]] = {}
    for minor in range(40):
        version = f"2.{minor}.0"
        releases[version] = [
            {
                "digests": {"md5": f"{minor:032x}", "sha256": f"{minor * 7919:064x}"},
                "filename": f"example-{version}{suffix}",
                "packagetype": kind,
                "size": 60000 + minor * 13,
                "upload_time": f"2021-{minor % 12 + 1:02d}-01T10:00:00",
                "yanked": minor == 17,
                "yanked_reason": "broken metadata" if minor == 17 else None,
            }
            for suffix, kind in (("-py3-none-any.whl", "bdist_wheel"), (".tar.gz", "sdist"))
        ]
    doc = {"info": {"name": "example", "version": "2.39.0", "summary": "An example."}, "releases": releases}
    return json.dumps(doc, indent=2)


def pytest_run(failing: int = 140) -> str:
    """A ``pytest -v`` session: 300 passing tests, one failure with its traceback, the summaries."""
    out = ["============================= test session starts ==============================", ""]
    for i in range(300):
        status = "FAILED" if i == failing else "PASSED"
        out.append(f"tests/test_core.py::test_case_{i} {status}{' ' * 20}[{i * 100 // 300:3d}%]")
    out += [
        "",
        "=================================== FAILURES ===================================",
        f"_________________________________ test_case_{failing} _________________________________",
        "",
        f"    def test_case_{failing}():",
        "        data = build_payload(size=3)",
        ">       assert frequencies(data) == {'cat': 2, 'dog': 1}",
        "E       AssertionError: assert {'cat': 4, 'dog': 2} == {'cat': 2, 'dog': 1}",
        "E         Differing items:",
        "E         {'cat': 4} != {'cat': 2}",
        "",
        "tests/test_core.py:233: AssertionError",
        "=========================== short test summary info ============================",
        f"FAILED tests/test_core.py::test_case_{failing} - AssertionError: assert {{'cat': 4, 'dog': 2}}...",
        "======================== 1 failed, 299 passed in 3.09s =========================",
        "",
    ]
    return "\n".join(out)


def rg_output() -> str:
    """``rg -n timeout`` over a project: several files, many matches each."""
    out = []
    for f in (
        "src/pkg/api.py",
        "src/pkg/adapters.py",
        "src/pkg/sessions.py",
        "docs/usage.rst",
        "tests/test_x.py",
    ):
        for k in range(25):
            out.append(f"{f}:{10 + k * 7}:    value = call(timeout=timeout, retries={k})  # step {k}")
    return "\n".join(out) + "\n"


def git_log() -> str:
    """``git log`` of 40 commits."""
    out = []
    subjects = [f"Refactor module number {k} for readability" for k in range(40)]
    subjects[23] = "Consolidation keeps gaps in a heap instead of rescanning every run"
    for k, subject in enumerate(subjects):
        out += [
            f"commit {k:040x}",
            "Author: Dev <dev@example.com>",
            f"Date:   Sat Nov {k % 28 + 1} 13:19:36 2026 +0000",
            "",
            f"    {subject}",
            "",
            f"    Body of commit {k}: more words about the change, nothing specific here.",
            "",
        ]
    return "\n".join(out)


def mime_table() -> str:
    """A JavaScript module with a long sorted table of extensions."""
    exts = sorted(
        "aac abw arc avi azw bin bmp bz bz2 cda csh css csv doc docx eot epub gz gif htm html ico ics jar "
        "jpeg jpg js json jsonld mid midi mjs mp3 mp4 mpeg mpkg odp ods odt oga ogv ogx opus otf png pdf php "
        "ppt pptx rar rtf sh svg tar tif tiff ts ttf txt vsd wav weba webm webp woff woff2 xhtml xls xlsx "
        "xml xul zip".split()
    )
    lines = ["'use strict';", "", "// Extension to MIME type.", "const types = {"]
    lines += [f"  '{e}': 'application/x-{e}'," for e in exts]
    lines += ["};", ""]
    for k in range(30):
        lines += [
            f"function helper{k}(value) {{",
            f"  const result = transform(value, {k});",
            "  return result;",
            "}",
            "",
        ]
    lines += ["module.exports = { types };", ""]
    return "\n".join(lines)


def dpkg_listing() -> str:
    """``dpkg -l`` as Debian prints it: five header lines, then a row per package."""
    head = [
        "Desired=Unknown/Install/Remove/Purge/Hold",
        "| Status=Not/Inst/Conf-files/Unpacked/halF-conf/Half-inst/trig-aWait/Trig-pend",
        "|/ Err?=(none)/Reinst-required (Status,Err: uppercase=bad)",
        "||/ Name           Version        Architecture Description",
        "+++-==============-==============-============-=================================",
    ]
    rows = [
        f"ii  {f'lib{k}':<14} {f'1.{k}-1':<14} amd64        library number {k} of the set" for k in range(80)
    ]
    return (
        "\n".join(
            head + rows + ["ii  openssl        3.0.19-1       amd64        Secure Sockets Layer toolkit"]
        )
        + "\n"
    )


def ls_recursive(long: bool) -> str:
    """``ls -R`` (or ``ls -lR``) of eight directories of four files."""
    rows = [
        f"-rw-r--r-- 1 root root {'9' * (k + 1)} Dec  5 03:29 f{j}.py" if long else f"f{j}.py"
        for j in range(4)
        for k in [0]
    ]
    return (
        "\n\n".join(f"./d{k}:\n" + ("total 8\n" if long else "") + "\n".join(rows) for k in range(8)) + "\n"
    )


# What Codex CLI prints before a command's output in its exec tool's result (the proxy takes it off;
# ``sidecar prune`` and the MCP tool may be given it).
CODEX_HEADER = (
    "Chunk ID: 1a2b\nWall time: 0.3 seconds\nProcess exited with code 0\nOriginal token count: 900\nOutput:\n"
)


def prune(text: str, goal: str, kind: SourceType, keep: float | None = None) -> tuple[list[bool], str]:
    """Run the heuristic on ``text``; return the kept flags and the rendered text."""
    req = PruneRequest(
        text=text, goal=goal, source_type=kind, prune_id=PID, options=PruneOptions(keep_ratio=keep)
    )
    sel = asyncio.run(HeuristicBackend().prune(req))
    rendered = render(text.split("\n"), sel.keep, PID, annotate_lines=False, include_markers=True)
    return sel.keep, rendered.text


ESLINT_FILES = (
    "src/api/client.ts", "src/components/Cart.tsx", "src/components/Checkout.tsx", "src/store/cart.ts",
    "src/utils/money.ts", "src/pages/orders.tsx", "src/pages/account.tsx", "src/api/types.ts",
)  # fmt: skip
ESLINT_ROWS = (
    ("error", "'useState' is defined but never used", "no-unused-vars"),
    ("warning", "Unexpected console statement", "no-console"),
    ("error", "React Hook useEffect has a missing dependency: 'load'", "react-hooks/exhaustive-deps"),
    ("error", "Expected '===' and instead saw '=='", "eqeqeq"),
    ("warning", "Missing return type on function", "@typescript-eslint/explicit-function-return-type"),
)


def eslint_stylish() -> str:
    """``npx eslint src`` (stylish): each file's path alone, then its rows; most rows say error."""
    out = []
    for k, path in enumerate(ESLINT_FILES):
        out.append(f"/home/dev/shop/{path}")
        for j in range(7):
            level, message, rule = ESLINT_ROWS[(j + k) % len(ESLINT_ROWS)]
            out.append(f"  {10 + 11 * j}:{5 + j}  {level:7}  {message}  {rule}")
        out.append("")
    out += ["✖ 56 problems (34 errors, 22 warnings)", ""]
    return "\n".join(out)


def tsc_output() -> str:
    """``npx tsc --noEmit``: ``path(line,col): error TS…`` rows of seven files interleaved, then the count."""
    files = (
        "src/api/client.ts", "src/api/types.ts", "src/components/Cart.tsx", "src/components/Checkout.tsx",
        "src/store/cart.ts", "src/utils/money.ts", "src/pages/orders.tsx",
    )  # fmt: skip
    messages = (
        "TS2322: Type 'string | undefined' is not assignable to type 'string'.",
        "TS2345: Argument of type 'number' is not assignable to parameter of type 'string'.",
        "TS7006: Parameter 'item' implicitly has an 'any' type.",
    )
    out = [f"{files[k % 7]}({10 + k * 3},{k % 9 + 2}): error {messages[k % 3]}" for k in range(42)]
    return "\n".join(out + ["", "Found 42 errors in 7 files.", ""])


def gcc_make() -> str:
    """``make -k``: gcc's warnings and errors with code frames, make's ``***`` lines."""
    out = []
    for k, name in enumerate(("main", "buffer", "parse", "config", "log", "net")):
        out += [f"cc -Wall -Wextra -O2 -g -c {name}.c", f"{name}.c: In function ‘{name}_init’:"]
        for j in range(3):
            out += [
                f"{name}.c:{5 + j * 4}:{7 + j}: warning: unused variable ‘tmp{j}’ [-Wunused-variable]",
                f"    {5 + j * 4} |   int tmp{j};",
                "      |       ^~~~",
            ]
        if k in (2, 4):
            out += [
                f"{name}.c:{30 + k}:14: error: ‘{name}_count’ undeclared (first use in this function)",
                f"   {30 + k} |     return {name}_count;",
                "      |            ^~~~~~~~~~",
                f"make: *** [Makefile:6: {name}.o] Error 1",
            ]
    return "\n".join(out + ["make: Target 'server' not remade because of errors.", ""])


def ruff_full() -> str:
    """``ruff check`` (full format): each finding's message, its ``-->`` location, a code frame."""
    out = []
    for k in range(12):
        code, message = ("B904", "Within an `except` clause, raise exceptions with `raise ... from err`")
        if k % 3:
            code, message = ("F401", f"`typing.Name{k}` imported but unused")
        path = f"lark/{('lexer', 'parser', 'tree', 'common')[k % 4]}.py"
        line = 100 + k * 17
        out += [f"{code} {message}", f"  --> {path}:{line}:13", "   |"]
        out += [
            f"{line - 1} |         except KeyError as e:",
            f"{line} |             raise AttributeError(e)",
        ]
        out += ["   |             ^^^^^^^^^^^^^^^^^^^^^^^", "   |", ""]
    return "\n".join(out + ["Found 12 errors.", ""])
