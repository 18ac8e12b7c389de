from __future__ import annotations

import itertools

import pytest

from sidecar.pruning.backends.heuristic import score_lines
from sidecar.pruning.engine.chunking import lowered
from sidecar.pruning.engine.idioms import goal_families, idiom_lines

PY2 = [
    "import os",
    "import urllib2",
    "from StringIO import StringIO",
    "",
    "def fetch(url):",
    "    try:",
    "        data = urllib2.urlopen(url).read()",
    "    except IOError, e:",
    '        print "failed", e',
    "        raise ValueError, 'bad url'",
    "    if options.has_key('debug'):",
    "        print >>sys.stderr, data",
    "    for k, v in options.iteritems():",
    "        pass",
    "    return unicode(data)",
]

PY3_OLD = [
    "import distutils.core",
    "from collections import Mapping",
    "import inspect",
    "",
    "def args_of(f):",
    "    spec = inspect.getargspec(f)",
    "    pattern = re.compile('\\d+')",
    "    if spec.varargs is 'args':",
    "        self.assertEquals(1, 1)",
    "    return spec",
    "",
    "def load(name):",
    "    code = readf(name, m='rU')",
    "    with open(name, 'rb') as f:",
    "        return f.read()",
]


def found(text_lines: list[str], goal: str) -> dict[str, list[int]]:
    text = "\n".join(text_lines)
    offsets = list(itertools.accumulate(map((1).__add__, map(len, text_lines)), initial=0))
    hits = idiom_lines(goal, text, text_lines, lowered(text), offsets)
    return {name: lines for name, lines in hits.items() if lines}


@pytest.mark.parametrize(
    "goal", ["Port to Python 3", "Use 2to3 to port to Python3", "py3: fix dat2drv.py", "Fix python3 errors."]
)
def test_a_python_3_port_goal_asks_for_the_python_2_idioms(goal: str) -> None:
    assert any(name.startswith("py2:") for name in goal_families(goal, "print x"))


@pytest.mark.parametrize(
    "goal",
    [
        "Make 'waflib' compatible with Python3.11",
        "Fix tests with new Python",
        "replace distutils for python 3.12",
        'py3.8: Fix SyntaxWarning: "is"/"is not" with a literal',
        "Fix invalid escape sequence in docstrings",
    ],
)
def test_a_newer_python_goal_asks_for_removed_apis(goal: str) -> None:
    assert any(name.startswith("py3:") for name in goal_families(goal, "print x"))


@pytest.mark.parametrize(
    "goal", ["Fix header parsing", "Add retry on 503", "Support Go 1.21", "pythonic names"]
)
def test_other_goals_ask_for_nothing(goal: str) -> None:
    assert goal_families(goal, "print x") == {}


def test_python_2_idioms_are_found_on_their_lines() -> None:
    hits = found(PY2, "Port to Python 3")
    assert hits["py2:modules"] == [1, 2, 6]
    assert hits["py2:except"] == [7]
    assert hits["py2:print"] == [8, 11]
    assert hits["py2:raise"] == [9]
    assert hits["py2:has_key"] == [10]
    assert hits["py2:dict"] == [12]
    assert hits["py2:builtins"] == [14]


def test_python_3_code_holds_no_python_2_idiom() -> None:
    py3 = [
        "import io",
        "from urllib.request import urlopen",
        "",
        "def fetch(url, file=None):",
        "    try:",
        "        data = urlopen(url).read()",
        "    except (IOError, ValueError) as e:",
        "        print('failed', e, file=sys.stderr)",
        "        raise ValueError('bad url') from e",
        "    long_name = 'x'",
        "    return str(data)",
    ]
    assert found(py3, "Port to Python 3") == {}


def test_removed_apis_and_warned_syntax_are_found() -> None:
    hits = found(PY3_OLD, "Make it compatible with Python 3.12")
    assert hits["py3:modules"] == [0]
    assert hits["py3:abcs"] == [1]
    assert hits["py3:apis"] == [5]
    assert hits["py3:escapes"] == [6]
    assert hits["py3:is_literal"] == [7]
    assert hits["py3:unittest"] == [8]
    assert hits["py3:open_mode"] == [12]  # 'rU', refused by open() since 3.11; 'rb' is fine


def test_a_port_goal_ranks_the_idioms_above_the_rest() -> None:
    filler = [f"    value_{i} = compute_{i}(value_{i - 1})" for i in range(1, 60)]
    lines = ["def helper():", *filler, *PY2]
    before = score_lines(lines, "Port the code", "code")
    after = score_lines(lines, "Port to Python 3", "code")
    idiom = len(filler) + 1 + 8  # the print statement
    assert after[idiom] > before[idiom]
    assert after[idiom] > max(after[1 : len(filler) + 1])


def test_a_text_that_runs_on_both_pythons_gets_no_python_2_idioms() -> None:
    compat = ["import sys", "PY2 = sys.version_info[0] == 2", "if PY2:", "    text_type = unicode"]
    assert not any(name.startswith("py2:") for name in goal_families("Port to Python 3", "\n".join(compat)))
    assert any(name.startswith("py3:") for name in goal_families("Support Python 3.12", "\n".join(compat)))


@pytest.mark.parametrize(
    "goal",
    [
        "Fix CVE-2025-64486",
        "Merge pull request from GHSA-g4mx-q9vg-27p4",
        "fix: prevent path traversal in archive extraction",
        "Security fix: Prevent class pollution and remote code execution",
    ],
)
def test_a_security_goal_asks_for_the_sinks(goal: str) -> None:
    assert {"security:exec", "security:paths"} <= set(goal_families(goal, "x"))


def test_security_sinks_are_found_in_any_language() -> None:
    lines = [
        "def unpack(archive, dest):",
        "    target = os.path.join(dest, member.name)",
        "    tar.extractall(dest)",
        "    config = yaml.load(stream)",
        "    subprocess.run(cmd, shell=True)",
        "function run(cmd) {",
        "  const child = child_process.exec(cmd);",
        "  el.innerHTML = html;",
        "}",
        "func open(p string) {",
        "\tp = filepath.Join(root, p)",
        "}",
    ]
    hits = found(lines, "Fix CVE-2026-1234")
    assert hits["security:paths"] == [1, 2, 10]
    assert hits["security:exec"] == [3, 4, 6, 7]


def test_an_idiom_is_a_whole_identifier_of_the_text() -> None:
    assert found(["if unsafe.Sizeof(x) > 8 {"], "Fix CVE-2024-1") == {"security:exec": [0]}
    assert found(["mark_unsafe(x)", "unsafe_html = 1"], "Fix CVE-2024-1") == {}
