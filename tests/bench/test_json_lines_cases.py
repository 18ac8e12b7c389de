"""bench/json_lines.py's cases: a log re-emitted as docker records keeps its line numbers and gold."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _module() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_json_lines", BENCH / "json_lines.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


jl = _module()


def test_each_line_becomes_the_record_at_its_line_number() -> None:
    plain = 'collecting\nE   assert 1 == 2\n\nFAILED tests/a.py::t - "quoted"\n'
    case = jl.json_lines_case({"id": "x", "text": plain, "goal": "g", "tool": "pytest", "gold_lines": [2, 4]})
    records = case["text"].splitlines()
    assert len(records) == len(plain.splitlines())
    assert [json.loads(r)["log"] for r in records] == [line + "\n" for line in plain.splitlines()]
    assert case["tool"] == jl.KUBECTL
    kept = records[1]  # an output keeping only gold line 2's record
    assert jl.content_recall(case, kept) == 0.5
    assert jl.content_recall(case, "\n".join(records)) == 1.0
