"""The plan model: validation paths, the JSON Schema agreeing with it, graph checks, priority order."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from sidecar.plan.model import (
    Plan,
    PlanError,
    execution_order,
    parse_plan,
    plan_from_object,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plan.example.json"


def step(n: int, **kw: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "id": f"step_{n}",
        "description": f"do thing {n}",
        "type": "code_generation",
        "complexity": 0.5,
        "estimated_tokens": 100,
    }
    doc.update(kw)
    return doc


def plan_doc(*steps: dict[str, object]) -> dict[str, object]:
    return {"task_id": "t1", "description": "a task", "metadata": {"by": "test"}, "steps": list(steps)}


def schema() -> dict[str, object]:
    text = resources.files("sidecar").joinpath("data/plan.schema.json").read_text(encoding="utf-8")
    doc: dict[str, object] = json.loads(text)
    return doc


def test_example_plan_is_valid_and_keeps_unknown_context_keys() -> None:
    plan = parse_plan(EXAMPLE.read_bytes())
    assert plan.task_id == "add-token-bucket-rate-limiting"
    assert 6 <= len(plan.steps) <= 8
    first = plan.steps[0]
    assert first.context.files == ("api/app.py", "api/middleware.py")
    assert first.context.language == "python"
    assert first.context.extra == {"framework": "aiohttp"}
    jsonschema.validate(json.loads(EXAMPLE.read_text()), schema())


S, P = step, plan_doc
NO_TYPE = {k: v for k, v in step(1).items() if k != "type"}
CYCLE = P(S(1, dependencies=["step_3"]), S(2, dependencies=["step_1"]), S(3, dependencies=["step_2"]))

# (name, document, expected error, structural: the schema must reject it too)
INVALID: list[tuple[str, dict[str, object], str, bool]] = [
    ("complexity>1", P(S(1), S(2), S(3, complexity=1.5)), "$.steps[2].complexity: expected ≤ 1", True),
    ("complexity<0", P(S(1, complexity=-0.1)), "$.steps[0].complexity: expected ≥ 0", True),
    ("complexity str", P(S(1, complexity="high")), "$.steps[0].complexity: expected a number", True),
    ("bad type", P(S(1, type="deploy")), "$.steps[0].type: expected one of", True),
    ("bad id", P(S(1, id="first")), "$.steps[0].id: expected a string like 'step_1'", True),
    ("tokens float", P(S(1, estimated_tokens=1.5)), "$.steps[0].estimated_tokens: expected an integer", True),
    ("tokens neg", P(S(1, estimated_tokens=-3)), "$.steps[0].estimated_tokens: expected ≥ 0", True),
    ("no desc", {"task_id": "t", "steps": [S(1)]}, "$: missing required field 'description'", True),
    ("no steps", {"task_id": "t", "description": "d"}, "$: missing required field 'steps'", True),
    ("empty steps", P(), "$.steps: expected at least 1 step", True),
    ("steps object", {"task_id": "t", "description": "d", "steps": {}}, "$.steps: expected an array", True),
    ("deps not list", P(S(1, dependencies="step_0")), "$.steps[0].dependencies: expected an array", True),
    ("dep not str", P(S(1, dependencies=[1])), "$.steps[0].dependencies[0]: expected a string", True),
    ("typo field", P(S(1, dependancies=[])), "$.steps[0].dependancies: unknown field", True),
    ("missing type", P(NO_TYPE), "$.steps[0]: missing required field 'type'", True),
    ("files str", P(S(1, context={"files": "a.py"})), "$.steps[0].context.files: expected an array", True),
    ("blank desc", P(S(1, description="  ")), "$.steps[0].description: expected a non-empty", True),
    ("metadata list", {**P(S(1)), "metadata": []}, "$.metadata: expected an object", True),
    (
        "unknown dep",
        P(S(1), S(2, dependencies=["step_9"])),
        "$.steps[1].dependencies[0]: unknown step",
        False,
    ),
    ("cycle", CYCLE, "$.steps[0].dependencies: cycle step_1 -> step_3 -> step_2 -> step_1", False),
    (
        "self cycle",
        P(S(1, dependencies=["step_1"])),
        "$.steps[0].dependencies: cycle step_1 -> step_1",
        False,
    ),
    ("duplicate id", P(S(1), S(1)), "$.steps[1].id: duplicate id 'step_1'", False),
]

VALID: list[tuple[str, dict[str, object]]] = [
    ("minimal", plan_doc(step(1))),
    ("no metadata", {"task_id": "t", "description": "d", "steps": [step(1)]}),
    ("extra top-level", {**plan_doc(step(1)), "version": 2}),
    ("integral float tokens", plan_doc(step(1, estimated_tokens=10.0))),
    ("bounds", plan_doc(step(1, complexity=0), step(2, complexity=1, estimated_tokens=0))),
    ("full", plan_doc(step(1), step(2, dependencies=["step_1"], validation_criteria=["x"],
                                    context={"files": ["a.py"], "language": "python", "k": {"n": 1}}))),
]  # fmt: skip


@pytest.mark.parametrize(("name", "doc", "expected", "structural"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_plans_name_the_json_path(
    name: str, doc: dict[str, object], expected: str, structural: bool
) -> None:
    with pytest.raises(PlanError) as info:
        plan_from_object(copy.deepcopy(doc))
    assert any(expected in e for e in info.value.errors), info.value.errors
    # The schema covers the structure; graph errors (dependencies, ids) need the runner's checks.
    assert jsonschema.Draft202012Validator(schema()).is_valid(doc) is not structural


@pytest.mark.parametrize(("name", "doc"), VALID, ids=[c[0] for c in VALID])
def test_valid_plans_agree_with_schema(name: str, doc: dict[str, object]) -> None:
    assert isinstance(plan_from_object(copy.deepcopy(doc)), Plan)
    jsonschema.Draft202012Validator(schema()).validate(doc)


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    doc = schema()
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(doc)


def test_all_errors_are_reported_at_once() -> None:
    with pytest.raises(PlanError) as info:
        plan_from_object(plan_doc(step(1, complexity=2), step(2, type="x")))
    assert len(info.value.errors) == 2


def test_invalid_json_names_line_and_column() -> None:
    with pytest.raises(PlanError, match=r"invalid JSON at line 2 column"):
        parse_plan(b'{"task_id": "t",\n "steps": [}')


def test_execution_order_respects_dependencies_then_priority() -> None:
    plan = plan_from_object(
        plan_doc(
            step(1, complexity=0.1),
            step(2, complexity=0.9, dependencies=["step_1"]),
            step(3, complexity=0.5, estimated_tokens=50),
            step(4, complexity=0.5, estimated_tokens=500),
        )
    )
    assert [s.id for s in execution_order(plan.steps)] == ["step_4", "step_3", "step_1", "step_2"]


def test_fingerprint_changes_with_content() -> None:
    a = plan_from_object(plan_doc(step(1))).steps[0]
    b = plan_from_object(plan_doc(step(1, description="other"))).steps[0]
    assert a.fingerprint() == plan_from_object(plan_doc(step(1))).steps[0].fingerprint()
    assert a.fingerprint() != b.fingerprint()
