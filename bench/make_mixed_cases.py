#!/usr/bin/env python3
"""Build the mixed-content pruning set: real JSON, logs and test runs, search results and diffs.

usage: make_mixed_cases.py [--set main|holdout] [--out FILE] [--cache bench/.cache/mixed] [--kinds json,logs,...]

Every text is the real output of a real command run here on public material (PyPI sdists and JSON,
the npm registry, this repository's history); nothing is synthesised. Each case is one JSON line:
``id``, ``kind`` (json | logs | search | diff), ``tool`` (the command an agent would have run, or its
tool name), ``goal`` (what the agent is doing: the task plus the command, as the proxy builds it),
``text``, ``gold_lines`` (1-based) and ``rule`` (how the gold lines were chosen, mechanically):

- json: the lines of the records the goal asks about (a release's file objects, an installed
  distribution's entry, a version's publication time, an advisory), whole, brackets included;
- logs: for each failing test, the lines pytest marks (``>`` source line, ``E`` lines, the
  ``file:line: Error`` location) and its ``FAILED`` summary line; for installers, the error lines;
- search: the matches (``path:line:text`` lines) in the file the goal names, or that contain the
  identifier it names;
- diff: the commit header (``commit``, subject) of the commits the goal is about, and the changed
  lines (``+``/``-``) of the hunks that touch the name it gives.

Two sets: ``main`` (``bench/data/mixed/main.jsonl.gz``), on which the per-kind strategies were developed,
and ``holdout`` (``bench/data/mixed/holdout.jsonl.gz``): other packages, commands and commits, built after
that work and scored once. Outputs of the registries change over time (new releases): the committed
files are the sets the benchmarks report on; re-running rebuilds similar ones.
Needs network access to PyPI and the npm registry, ``rg`` (Debian ripgrep), ``npm`` and ``git``.
"""

# ruff: noqa: E501  (the case tables read best one case per line)
from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import tarfile
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
HISTORY_AT = "a1ce7b5"  # this repository's commit the git cases read (fixed, so they rebuild the same)

Case = dict[str, object]


def sh(cmd: str, cwd: Path, env: dict[str, str] | None = None, ok: Iterable[int] = (0,)) -> str:
    """Run ``cmd`` and return stdout plus stderr, as an agent's shell tool shows it."""
    p = subprocess.run(
        cmd, shell=True, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if p.returncode not in ok:
        print(f"  {cmd!r} exited {p.returncode}", file=sys.stderr)
    return p.stdout + p.stderr


def case(kind: str, name: str, tool: str, task: str, text: str, gold: list[int], rule: str) -> Case | None:
    """Return a case, or None when the gold is empty or everything (the command did not do its job)."""
    n = len(text.split("\n"))
    if len(text.splitlines()) != len(text.rstrip("\n").split("\n")):
        print(
            f"  skipped {kind}/{name}: line separators other than \\n (the scorer splits on them)",
            file=sys.stderr,
        )
        return None
    if not gold or len(set(gold)) >= n * 0.5 or len(text) < 2000:
        print(
            f"  skipped {kind}/{name}: {len(set(gold))} gold of {n} lines, {len(text)} chars", file=sys.stderr
        )
        return None
    goal = f"{task}\n{tool}"
    return {"id": f"{kind}/{name}", "kind": kind, "tool": tool, "goal": goal, "text": text,
            "gold_lines": sorted(set(gold)), "rule": rule}  # fmt: skip


def object_lines(lines: list[str], hit: int) -> list[int]:
    """Return the 1-based lines of the innermost pretty-printed JSON object holding line ``hit`` (0-based)."""
    ind = len(lines[hit]) - len(lines[hit].lstrip())
    a = hit
    while a > 0 and not (lines[a].rstrip().endswith("{") and len(lines[a]) - len(lines[a].lstrip()) < ind):
        a -= 1
    open_ind = len(lines[a]) - len(lines[a].lstrip())
    b = hit
    while b < len(lines) - 1 and not (
        lines[b].strip().startswith("}") and len(lines[b]) - len(lines[b].lstrip()) == open_ind
    ):
        b += 1
    return list(range(a + 1, b + 2))


# ---------------------------------------------------------------------------------------------- json


def pypi_json(name: str, cache: Path) -> str:
    path = cache / f"pypi-{name}.json"
    if not path.exists():
        with urllib.request.urlopen(f"https://pypi.org/pypi/{name}/json", timeout=60) as r:
            path.write_bytes(r.read())
    return json.dumps(json.loads(path.read_text()), indent=2)


def json_cases(cache: Path, t: Tables) -> list[Case | None]:
    out: list[Case | None] = []
    for name, version in t.pypi:
        text = pypi_json(name, cache)
        lines = text.split("\n")
        tool = f"curl -s https://pypi.org/pypi/{name}/json | python -m json.tool"
        gold = [
            k for i, s in enumerate(lines) if f'"filename": "{name}-{version}-py' in s.lower()
            for k in object_lines(lines, i)
        ]  # fmt: skip
        task = f"Pin {name} {version} in the lock file: which wheel is it, and what is its sha256 digest?"
        out.append(case("json", f"pypi-{name}-wheel", tool, task, text, gold, "the wheel's file object"))
        yanked = [
            k for i, s in enumerate(lines) if s.strip() == '"yanked": true,' for k in object_lines(lines, i)
        ]
        task = f"Which {name} releases were yanked, and why? Avoid them in our constraints."
        out.append(case("json", f"pypi-{name}-yanked", tool, task, text, yanked, "the yanked file objects"))
    for pkg, version in t.npm_view:
        tool = f"npm view {pkg} --json"
        text = sh(tool, cache)
        lines = text.split("\n")
        gold = [i + 1 for i, s in enumerate(lines) if s.strip().startswith(f'"{version}": "20')]
        deps = [i for i, s in enumerate(lines) if s.strip().startswith('"dependencies": {')]
        for d in deps:
            gold += object_lines(lines, d + 1) if lines[d + 1].strip() != "}," else [d + 1]
        task = f"When was {pkg} {version} published? We are still on it. And what are the dependencies of the latest version?"
        out.append(
            case("json", f"npm-view-{pkg}", tool, task, text, gold, "the version's time entry, dependencies")
        )
    venv = cache / "venv"
    tool = "pip inspect"
    text = sh(f"{venv}/bin/pip inspect", cache)
    lines = text.split("\n")
    for dist in t.inspect:
        hit = [i for i, s in enumerate(lines) if s.strip().lower() == f'"name": "{dist}",']
        gold = [k for i in hit for k in object_lines(lines, i)]
        task = f"Which version of {dist} is installed in the test venv, and what does it require?"
        out.append(
            case("json", f"pip-inspect-{dist}", tool, task, text, gold, "the distribution's metadata object")
        )
    proj = cache / "npm-ls"
    proj.mkdir(exist_ok=True)
    deps = {"express": "4.17.1", "jest": "29.7.0", "webpack": "5.88.2"}
    (proj / "package.json").write_text(
        json.dumps({"name": "ls-demo", "version": "1.0.0", "dependencies": deps})
    )
    if not (proj / "package-lock.json").exists():
        sh("npm install --package-lock-only --ignore-scripts --no-audit --no-fund", proj)
    tool = "npm ls --all --json"
    text = sh(f"{tool} --package-lock-only", proj, ok=(0, 1))
    lines = text.split("\n")
    for dep in t.npm_ls:
        gold = [k for i, s in enumerate(lines) if s.strip() == f'"{dep}": {{' for k in (i + 1, i + 2)]
        task = f"Why is {dep} installed, and in which versions? Which packages pull it in?"
        out.append(
            case("json", f"npm-ls-{dep}", tool, task, text, gold, "the dependency's entries (name, version)")
        )
    return out


# ---------------------------------------------------------------------------------------------- logs

# (sdist, source file, old, new, test command): one injected bug each, failing a few tests.
MUTATIONS = (
    ("toolz==0.12.0", "toolz/itertoolz.py", "        d[item] += 1\n", "        d[item] += 2\n",
     "python -m pytest -v toolz/tests", "The frequencies() counts look wrong since my change to itertoolz; fix it"),
    ("more-itertools==10.1.0", "more_itertools/more.py", "    if strict:\n        if n is None:",
     "    if not strict:\n        if n is None:", "python -m pytest -v tests/test_more.py",
     "chunked() with strict=False started raising; find the regression and fix it"),
    ("click==8.1.7", "src/click/parser.py", "    if opt[1:2] == first:\n        return opt[:2], opt[2:]",
     "    if opt[1:2] == first:\n        return opt[:1], opt[1:]", "python -m pytest -v tests",
     "Long options like --name are parsed wrong after the split_opt refactor; fix the parser"),
    ("six==1.16.0", "six.py", "def ensure_str(s, encoding='utf-8', errors='strict'):\n",
     "def ensure_str(s, encoding='latin-1', errors='strict'):\n", "python -m pytest -v test_six.py",
     "ensure_str mangles non-ASCII text; make the tests pass again"),
    ("idna==3.4", "idna/core.py", "    if len(label) > 63:", "    if len(label) > 62:",
     "python -m pytest -v tests", "idna rejects valid 63-character labels; find why and fix it"),
)  # fmt: skip
_PYTEST_MARK = re.compile(r"^(?:E   |>   |\S+:\d+: \w+)")


def sdist(spec: str, cache: Path) -> Path:
    """Download and unpack a PyPI sdist into the cache; return its directory (left pristine)."""
    name, version = spec.split("==")
    dl = cache / "sdists"
    dl.mkdir(exist_ok=True)
    found = [
        p for p in dl.glob("*.tar.gz") if p.name.lower().replace("_", "-").startswith(f"{name}-{version}")
    ]
    if not found:
        sh(f"pip download --no-binary :all: --no-deps -q -d {dl} {spec}", cache)
        found = [
            p for p in dl.glob("*.tar.gz") if p.name.lower().replace("_", "-").startswith(f"{name}-{version}")
        ]
    src = cache / "src"
    with tarfile.open(found[0]) as tf:
        top = tf.getnames()[0].split("/")[0]
        if not (src / top).exists():
            tf.extractall(src, filter="data")
    return src / top


def pytest_gold(text: str) -> list[int]:
    """Return the lines pytest marks in its FAILURES section, and the FAILED summary lines."""
    lines = text.split("\n")
    gold: list[int] = []
    in_failures = False
    for i, s in enumerate(lines):
        if re.match(r"^=+ FAILURES =+$", s):
            in_failures = True
        elif re.match(r"^=+ .* =+$", s) and in_failures and "FAILURES" not in s:
            in_failures = False
        if (in_failures and _PYTEST_MARK.match(s)) or s.startswith("FAILED "):
            gold.append(i + 1)
    return gold


def log_cases(cache: Path, t: Tables) -> list[Case | None]:
    out: list[Case | None] = []
    venv = cache / "venv"
    for spec, path, old, new, cmd, task in t.mutations:
        root = sdist(spec, cache)
        work = cache / "runs" / root.name
        if not work.exists():
            sh(f"mkdir -p {work.parent} && cp -r {root} {work}", cache)
            f = work / path
            src = f.read_text()
            assert old in src, (spec, old)
            f.write_text(src.replace(old, new, 1))
        own_config = any(
            "pytest" in (work / f).read_text()
            for f in ("setup.cfg", "tox.ini", "pytest.ini", "pyproject.toml")
            if (work / f).exists()
        )  # without one, pytest would climb to this repository's own configuration
        flags = "-p no:cacheprovider" + ("" if own_config else " -c /dev/null --rootdir .")
        text = sh(f"{venv}/bin/{cmd} {flags}", work, env={"PYTHONPATH": str(work / "src")}, ok=(1,))
        text = text.replace(str(work), f"/home/dev/{root.name}")
        out.append(
            case("logs", f"pytest-{root.name}", cmd, task, text, pytest_gold(text), "pytest failure marks")
        )
    for spec, task in t.pip_installs:
        tool = f"pip install -v --no-binary :all: '{spec}'"
        text = sh(f"{venv}/bin/pip install -v --no-cache-dir --no-binary :all: '{spec}'", cache, ok=(1,))
        gold = [
            i + 1 for i, s in enumerate(text.split("\n"))
            if s.startswith(("ERROR:", "error:")) or re.search(r"\w+Error: |pg_config executable not found", s)
        ]  # fmt: skip
        out.append(case("logs", f"pip-install-{spec.split('=')[0]}", tool, task, text, gold, "error lines"))
    proj = cache / "npm-install"
    proj.mkdir(exist_ok=True)
    (proj / "package.json").write_text('{"name": "install-demo", "version": "1.0.0"}')
    for spec, task in t.npm_installs:
        tool = f"npm install --verbose {spec}"
        text = sh(f"{tool} --no-audit --no-fund --dry-run", proj, ok=(1,))
        gold = [
            i + 1 for i, s in enumerate(text.split("\n"))
            if s.startswith("npm error") and re.search(r"ERESOLVE|notarget|Could not resolve|Conflicting peer|"
                                                         r"No matching version|While resolving|Found:", s)
        ]  # fmt: skip
        out.append(
            case(
                "logs",
                f"npm-install-{re.sub(r'[^a-z0-9]+', '-', spec.split()[0])}",
                tool,
                task,
                text,
                gold,
                "npm error lines",
            )
        )
    if not t.self_run:
        return out
    work = cache / "runs" / "sidecar-self"
    if not work.exists():
        work.mkdir(parents=True)
        sh(f"git -C {REPO} archive {HISTORY_AT} | tar -x -C {work}", cache)
        f = work / "sidecar/pruning/render.py"
        src = f.read_text()
        f.write_text(
            src.replace(
                'span = f"line {start}" if start == end else',
                'span = f"line {start}" if start == end - 1 else',
            )
        )
    cmd = "pytest -v tests/pruning tests/chat"
    text = sh(f"{REPO}/.venv/bin/python -m {cmd} -p no:cacheprovider -q -o addopts=''", work, ok=(0, 1))
    text = text.replace(str(work), "/home/dev/sidecar")
    task = "The marker tests started failing after I touched render.py; fix the regression"
    out.append(
        case("logs", "pytest-sidecar-self", cmd, task, text, pytest_gold(text), "pytest failure marks")
    )
    return out


# -------------------------------------------------------------------------------------------- search

# (sdist, command, task, rule): rule "file:PATH" keeps the matches in PATH, "has:WORD" those holding WORD.
SEARCHES = (
    ("requests==2.31.0", "rg -n timeout", "The read timeout is ignored by send() in requests/adapters.py; fix it",
     "file:requests/adapters.py"),
    ("requests==2.31.0", "grep -rn proxy requests", "Proxy auth headers leak on redirect: look at rebuild_proxies in sessions.py",
     "file:requests/sessions.py"),
    ("requests==2.31.0", "rg -n 'def |class ' requests", "Where is should_bypass_proxies defined and what calls it?",
     "has:should_bypass_proxies"),
    ("click==8.1.7", "rg -n width src", "Where is get_terminal_size used for wrapping help text?", "has:terminal_size"),
    ("click==8.1.7", "rg -n 'ctx\\.' src", "ctx.obj is lost in chained commands; where is it set?", "has:ctx.obj"),
    ("click==8.1.7", "grep -rn 'echo(' src", "Colors are stripped by echo in src/click/termui.py; find the call sites there",
     "file:src/click/termui.py"),
    ("toolz==0.12.0", "rg -n 'def '", "Add a merge_with variant that keeps order: where are merge and merge_with?",
     "has:merge_with"),
    ("toolz==0.12.0", "rg -n curry", "curry breaks on keyword-only arguments: see toolz/functoolz.py",
     "file:toolz/functoolz.py"),
    ("more-itertools==10.1.0", "rg -n 'def '", "Where are the windowed helpers (windowed_complete, sliding_window)?",
     "has:window"),
    ("more-itertools==10.1.0", "grep -rn raise more_itertools",
     "The ValueError messages of more_itertools/recipes.py need a consistent wording", "file:more_itertools/recipes.py"),
    ("six==1.16.0", "rg -n 'def '", "Where is ensure_text defined, and which tests cover it?", "has:ensure_text"),
    ("idna==3.4", "rg -n 'def '", "Where does idna check bidi rules (check_bidi) and who calls it?", "has:bidi"),
)  # fmt: skip
_MATCH = re.compile(r"^(?:\./)?([^:\n]+):(\d+):")


def search_cases(cache: Path, t: Tables) -> list[Case | None]:
    out: list[Case | None] = []
    for spec, cmd, task, rule in t.searches:
        root = sdist(spec, cache)
        text = sh(f"{cmd} | sort -t: -k1,1 -k2,2n -s", root, ok=(0, 1))
        lines = text.split("\n")
        how, what = rule.split(":", 1)
        gold = []
        for i, s in enumerate(lines):
            m = _MATCH.match(s)
            if m and (m.group(1) == what if how == "file" else what.lower() in s[m.end() :].lower()):
                gold.append(i + 1)
        name = f"{root.name}-{re.sub(r'[^a-z]+', '-', cmd.lower()).strip('-')}"
        out.append(case("search", name, cmd, task, text, gold, rule))
    return out


# ---------------------------------------------------------------------------------------------- diff

DIFFS = (
    ("git log --stat -n 60", "Which commit moved the pruning modules into subpackages, and what did it touch?",
     "commit:Layout: modules moved into subpackages"),
    ("git log -n 80", "When did we change the consolidation of gaps to use a heap? I need that commit",
     "commit:Consolidation keeps gaps in a heap"),
    ("git show 7d66ace", "Review the change to the Connection-listed header names helper", "hunk:connection_listed"),
    ("git show 3d46d83", "Review how the consolidation of gaps moved to a heap", "hunk:heap"),
    ("git show --stat -p HEAD~1", "Review the move of error_path into jsontypes", "hunk:error_path"),
)  # fmt: skip


def diff_gold(text: str, rule: str) -> list[int]:
    how, what = rule.split(":", 1)
    lines = text.split("\n")
    gold: list[int] = []
    if how == "commit":
        for i, s in enumerate(lines):
            if s.strip().startswith(what) and i >= 4 and lines[i - 4].startswith("commit "):
                gold += [i - 3, i + 1]
        return gold
    hunk: list[int] = []
    for i, s in enumerate(lines + ["@@"]):
        if s.startswith(("@@", "diff --git", "commit ")):
            changed = [
                k
                for k in hunk
                if lines[k - 1].startswith(("+", "-")) and not lines[k - 1].startswith(("+++", "---"))
            ]
            if any(what in lines[k - 1].lower() for k in changed):
                gold += changed
            hunk = []
        else:
            hunk.append(i + 1)
    return gold


def diff_cases(cache: Path, t: Tables) -> list[Case | None]:
    out: list[Case | None] = []
    for cmd, task, rule in t.diffs:
        real = cmd.replace("HEAD", HISTORY_AT).removeprefix("git ")
        if real.startswith("log") and HISTORY_AT not in real:
            real = real.replace("log", f"log {HISTORY_AT}", 1)
        text = sh(f"git -c core.pager=cat {real}", REPO)
        name = re.sub(r"[^a-z0-9]+", "-", cmd.lower()).strip("-")
        out.append(case("diff", name, cmd, task, text, diff_gold(text, rule), rule))
    return out


class Tables(NamedTuple):
    """What one set is built from."""

    pypi: tuple[tuple[str, str], ...]  # (project, version): its wheel's file object; its yanked files
    npm_view: tuple[tuple[str, str], ...]  # (package, version): its publication time, latest dependencies
    inspect: tuple[str, ...]  # distributions of the test venv (pip inspect)
    npm_ls: tuple[str, ...]  # dependencies to explain (npm ls --all --json)
    mutations: tuple[tuple[str, str, str, str, str, str], ...]
    pip_installs: tuple[tuple[str, str], ...]
    npm_installs: tuple[tuple[str, str], ...]
    self_run: bool
    searches: tuple[tuple[str, str, str, str], ...]
    diffs: tuple[tuple[str, str, str], ...]


MAIN = Tables(
    pypi=(("requests", "2.28.2"), ("click", "8.1.3"), ("urllib3", "1.26.15"), ("jinja2", "3.1.2")),
    npm_view=(("lodash", "4.17.15"), ("express", "4.17.1"), ("axios", "0.21.1"), ("chalk", "4.1.2")),
    inspect=("pytest", "requests", "iniconfig"),
    npm_ls=("qs", "semver", "acorn"),
    mutations=MUTATIONS,
    pip_installs=(("pyyaml==5.4.1", "Installing the pinned PyYAML fails in CI on Python 3.11; why?"),),
    npm_installs=(
        ("react-dom@18.2.0 react@17.0.2", "npm install of react-dom fails with a peer dependency error"),
        ("lodash@4.99.0", "npm install lodash fails; which version should we pin?"),
    ),
    self_run=True,
    searches=SEARCHES,
    diffs=DIFFS,
)

# Built after the strategies were tuned on MAIN, and scored once: other packages, commands and commits.
HOLDOUT = Tables(
    pypi=(("flask", "2.2.5"), ("attrs", "23.1.0"), ("packaging", "23.1"), ("certifi", "2023.7.22")),
    npm_view=(("react", "16.14.0"), ("vue", "2.6.14"), ("typescript", "4.9.5"), ("commander", "9.5.0")),
    inspect=("packaging", "urllib3", "certifi"),
    npm_ls=("debug", "ms", "mime-types"),
    mutations=(
        ("itsdangerous==2.1.2", "src/itsdangerous/encoding.py", 'bytestr.rjust(8, b"\\x00")',
         'bytestr.ljust(8, b"\\x00")', "python -m pytest -v tests",
         "Timestamps no longer round-trip through bytes_to_int; find what broke"),
        ("flask==2.3.3", "src/flask/helpers.py", 'return val.lower() in ("0", "false", "no")',
         'return val.lower() in ("1", "false", "no")', "python -m pytest -v tests",
         "FLASK_SKIP_DOTENV is ignored after my helpers change; make the tests pass again"),
    ),
    pip_installs=(),
    npm_installs=(
        ("@testing-library/react@14.0.0 react@17.0.2", "npm install of the testing library fails; why?"),
        ("typescript@99.0.0", "npm install typescript fails in the container; which version exists?"),
    ),
    self_run=False,
    searches=(
        ("flask==2.3.3", "rg -n 'def ' src", "Where is make_response defined, and what wraps it?", "has:make_response"),
        ("flask==2.3.3", "rg -n session src", "The session cookie is not refreshed: check src/flask/sessions.py",
         "file:src/flask/sessions.py"),
        ("pluggy==1.2.0", "rg -n hook src", "Hook wrappers see the wrong result in src/pluggy/_callers.py",
         "file:src/pluggy/_callers.py"),
        ("pluggy==1.2.0", "grep -rn 'def ' src testing", "Where is get_hookcallers defined and tested?",
         "has:get_hookcallers"),
        ("itsdangerous==2.1.2", "rg -n 'def ' src tests", "Where is the max_age check of TimestampSigner.unsign?",
         "has:max_age"),
        ("sortedcontainers==2.4.0", "rg -n 'def '", "Where is bisect_key_left implemented in sortedlist.py?",
         "has:bisect_key_left"),
        ("tomli==2.0.1", "rg -n 'def |raise '", "Unescaped backslash errors: where does parse_basic_str_escape raise?",
         "has:parse_basic_str_escape"),
    ),
    diffs=(
        ("git log --stat -n 90", "Which commit made markers shorter after the first one?",
         "commit:Markers: only the first spells out recovery"),
        ("git log -n 100", "When did the shared keyword scan move into chunking?",
         "commit:Shared text helpers (offset-safe lowering, keyword line scan)"),
        ("git show 5038319", "Review first_marker_extra in the markers change", "hunk:first_marker_extra"),
        ("git show 64ce312", "Review the move of keyword_lines", "hunk:keyword_lines"),
    ),
)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", choices=("main", "holdout"), default="main")
    ap.add_argument("--out", help="default: bench/data/mixed/SET.jsonl.gz")
    ap.add_argument("--cache", default=str(REPO / "bench" / ".cache" / "mixed"))
    ap.add_argument("--kinds", default="json,logs,search,diff")
    a = ap.parse_args()
    cache = Path(a.cache)
    cache.mkdir(parents=True, exist_ok=True)
    venv = cache / "venv"
    if not venv.exists():
        print("creating the test venv", file=sys.stderr)
        pins = "pytest==8.3.3 requests==2.31.0 freezegun==1.2.2 flask==2.3.3"  # what the test runs need
        sh(f"{sys.executable} -m venv {venv} && {venv}/bin/pip install -q {pins}", cache)
    tables = MAIN if a.set == "main" else HOLDOUT
    out = Path(a.out or REPO / "bench" / "data" / "mixed" / f"{a.set}.jsonl.gz")
    out.parent.mkdir(parents=True, exist_ok=True)
    builders: dict[str, Callable[[Path, Tables], list[Case | None]]] = {
        "json": json_cases, "logs": log_cases, "search": search_cases, "diff": diff_cases,
    }  # fmt: skip
    cases: list[Case] = []
    for kind in a.kinds.split(","):
        print(f"building {kind} cases", file=sys.stderr)
        built = [c for c in builders[kind](cache, tables) if c is not None]
        print(f"  {len(built)} cases", file=sys.stderr)
        cases += built
    # gzip: the outputs are repetitive (a JSON document twice, for two goals) and 10x smaller packed
    with gzip.open(out, "wt") if out.suffix == ".gz" else open(out, "w") as fh:
        for c in cases:
            fh.write(json.dumps(c) + "\n")
    print(f"wrote {len(cases)} cases to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
