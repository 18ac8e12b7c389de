"""bench/json_lines.py's cases: a log re-emitted as docker records keeps its line numbers and gold."""

from __future__ import annotations

import json

from tests.bench.scripts import load

jl = load("json_lines")


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
