"""The plan model: validation with JSON paths, dependency checks, priority order.

A plan is the JSON a planning agent writes (``task_id``, ``description``, ``metadata``, ``steps[]``).
Errors name the JSON path (``$.steps[2].complexity: expected ≤ 1, got 1.5``). Reading a plan
incrementally, while it is still being written, is :mod:`sidecar.plan.stream`'s job.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, cast

import msgspec

from sidecar.errors import SidecarError

StepType = Literal["code_generation", "refactoring", "analysis", "patch"]
STEP_TYPES: tuple[StepType, ...] = ("code_generation", "refactoring", "analysis", "patch")
_STEP_KEYS = frozenset(
    {
        "id",
        "description",
        "type",
        "complexity",
        "estimated_tokens",
        "dependencies",
        "validation_criteria",
        "context",
    }
)
_ID_PREFIX = "step_"


class PlanError(SidecarError):
    """An invalid plan; ``errors`` holds one line per problem, each starting with its JSON path."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)


class StepContext(msgspec.Struct, frozen=True, kw_only=True):
    """What a step works on; keys other than ``files`` and ``language`` are kept in ``extra``."""

    files: tuple[str, ...] = ()
    language: str | None = None
    extra: dict[str, object] = msgspec.field(default_factory=dict)


class Step(msgspec.Struct, frozen=True, kw_only=True):
    """One step of a plan, validated."""

    id: str
    description: str
    type: StepType
    complexity: float
    estimated_tokens: int
    dependencies: tuple[str, ...] = ()
    validation_criteria: tuple[str, ...] = ()
    context: StepContext = msgspec.field(default_factory=StepContext)

    def fingerprint(self) -> str:
        """Return a short hash of the step's content (a changed step is not 'already done')."""
        return hashlib.sha256(msgspec.json.encode(self)).hexdigest()[:16]


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """A whole plan, validated."""

    task_id: str
    description: str
    steps: tuple[Step, ...]
    metadata: dict[str, object] = msgspec.field(default_factory=dict)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _string_list(value: object, path: str, errors: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list):
        errors.append(f"{path}: expected an array of strings")
        return ()
    out: list[str] = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            out.append(item)
        else:
            errors.append(f"{path}[{i}]: expected a string")
    return tuple(out)


def _context(value: object, path: str, errors: list[str]) -> StepContext:
    if not isinstance(value, dict):
        errors.append(f"{path}: expected an object")
        return StepContext()
    raw = cast(dict[str, object], value)
    files = _string_list(raw["files"], f"{path}.files", errors) if "files" in raw else ()
    language = raw.get("language")
    if language is not None and not isinstance(language, str):
        errors.append(f"{path}.language: expected a string")
        language = None
    extra = {k: v for k, v in raw.items() if k not in ("files", "language")}
    return StepContext(files=files, language=language, extra=extra)


def validate_step(value: object, path: str) -> tuple[Step | None, list[str]]:
    """Validate one step object; return the step (or None) and the errors found, with JSON paths."""
    if not isinstance(value, dict):
        return None, [f"{path}: expected an object"]
    raw = cast(dict[str, object], value)
    errors: list[str] = [f"{path}.{key}: unknown field" for key in raw if key not in _STEP_KEYS]
    for key in ("id", "description", "type", "complexity", "estimated_tokens"):
        if key not in raw:
            errors.append(f"{path}: missing required field '{key}'")
    step_id, description, step_type = raw.get("id"), raw.get("description"), raw.get("type")
    if "id" in raw and not (isinstance(step_id, str) and _valid_id(step_id)):
        errors.append(f"{path}.id: expected a string like 'step_1', got {_show(step_id)}")
    if "description" in raw and not (isinstance(description, str) and description.strip()):
        errors.append(f"{path}.description: expected a non-empty string")
    if "type" in raw and step_type not in STEP_TYPES:
        errors.append(f"{path}.type: expected one of {', '.join(STEP_TYPES)}, got {_show(step_type)}")
    complexity = raw.get("complexity")
    if "complexity" in raw:
        if not _is_number(complexity):
            errors.append(f"{path}.complexity: expected a number, got {_show(complexity)}")
        elif cast(float, complexity) < 0:
            errors.append(f"{path}.complexity: expected ≥ 0, got {complexity}")
        elif cast(float, complexity) > 1:
            errors.append(f"{path}.complexity: expected ≤ 1, got {complexity}")
    tokens = raw.get("estimated_tokens")
    if "estimated_tokens" in raw:
        if not (_is_number(tokens) and float(cast(float, tokens)).is_integer()):
            errors.append(f"{path}.estimated_tokens: expected an integer, got {_show(tokens)}")
        elif cast(float, tokens) < 0:
            errors.append(f"{path}.estimated_tokens: expected ≥ 0, got {tokens}")
    deps = _string_list(raw["dependencies"], f"{path}.dependencies", errors) if "dependencies" in raw else ()
    criteria: tuple[str, ...] = ()
    if "validation_criteria" in raw:
        criteria = _string_list(raw["validation_criteria"], f"{path}.validation_criteria", errors)
    context = _context(raw["context"], f"{path}.context", errors) if "context" in raw else StepContext()
    if errors:
        return None, errors
    step = Step(
        id=cast(str, step_id),
        description=cast(str, description),
        type=cast(StepType, step_type),
        complexity=float(cast(float, complexity)),
        estimated_tokens=int(cast(float, tokens)),
        dependencies=deps,
        validation_criteria=criteria,
        context=context,
    )
    return step, []


def _valid_id(step_id: str) -> bool:
    return (
        step_id.startswith(_ID_PREFIX)
        and step_id[len(_ID_PREFIX) :].isascii()
        and (step_id[len(_ID_PREFIX) :].isdigit())
    )


def _show(value: object) -> str:
    """Render a bad value for an error message: JSON, short (plans hold no secrets, but keep lines short)."""
    text = json.dumps(value, ensure_ascii=False) if value is not None else "null"
    return text if len(text) <= 40 else text[:37] + "..."


def validate_header(raw: Mapping[str, object]) -> list[str]:
    """Check the plan's top-level fields other than ``steps``."""
    errors: list[str] = []
    for key in ("task_id", "description"):
        if key not in raw:
            errors.append(f"$: missing required field '{key}'")
        elif not isinstance(raw[key], str):
            errors.append(f"$.{key}: expected a string, got {_show(raw[key])}")
    if "metadata" in raw and not isinstance(raw["metadata"], dict):
        errors.append("$.metadata: expected an object")
    if "steps" not in raw:
        errors.append("$: missing required field 'steps'")
    return errors


def check_graph(steps: Sequence[Step]) -> list[str]:
    """Report duplicate ids, unknown dependencies and dependency cycles, with JSON paths."""
    errors: list[str] = []
    index: dict[str, int] = {}
    for i, step in enumerate(steps):
        if step.id in index:
            errors.append(f"$.steps[{i}].id: duplicate id '{step.id}' (first at $.steps[{index[step.id]}])")
        else:
            index[step.id] = i
    for i, step in enumerate(steps):
        for j, dep in enumerate(step.dependencies):
            if dep not in index:
                errors.append(f"$.steps[{i}].dependencies[{j}]: unknown step '{dep}'")
    errors.extend(_cycles(steps, index))
    return errors


def _cycles(steps: Sequence[Step], index: Mapping[str, int]) -> list[str]:
    by_id = {s.id: s for s in steps}
    state: dict[str, int] = {}  # 1 = on the DFS stack, 2 = finished
    errors: list[str] = []
    for root in by_id:
        if root in state:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = [root]
        state[root] = 1
        while stack:
            node, k = stack[-1]
            deps = [d for d in by_id[node].dependencies if d in by_id]
            if k == len(deps):
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            stack[-1] = (node, k + 1)
            dep = deps[k]
            if state.get(dep) == 1:
                cycle = path[path.index(dep) :] + [dep]
                errors.append(
                    f"$.steps[{index[dep]}].dependencies: cycle {' -> '.join(cycle)} (-> = depends on)"
                )
            elif dep not in state:
                state[dep] = 1
                stack.append((dep, 0))
                path.append(dep)
    return errors


def priority_key(step: Step, seq: int) -> tuple[float, int, int]:
    """Sort key among ready steps: most complex first, then most tokens, then plan order."""
    return (-step.complexity, -step.estimated_tokens, seq)


def execution_order(steps: Sequence[Step]) -> list[Step]:
    """Return a topological order of a checked plan, taking ready steps by priority."""
    seq = {s.id: i for i, s in enumerate(steps)}
    done: set[str] = set()
    remaining = list(steps)
    order: list[Step] = []
    while remaining:
        ready = [s for s in remaining if all(d in done for d in s.dependencies)]
        if not ready:
            raise PlanError(["$.steps: dependency cycle"])
        best = min(ready, key=lambda s: priority_key(s, seq[s.id]))
        order.append(best)
        done.add(best.id)
        remaining.remove(best)
    return order


def plan_from_object(value: object) -> Plan:
    """Validate a decoded plan object completely, raising PlanError with every problem found."""
    if not isinstance(value, dict):
        raise PlanError(["$: expected an object"])
    raw = cast(dict[str, object], value)
    errors = validate_header(raw)
    steps: list[Step] = []
    raw_steps = raw.get("steps", [])
    if not isinstance(raw_steps, list):
        errors.append("$.steps: expected an array")
    elif "steps" in raw and not raw_steps:
        errors.append("$.steps: expected at least 1 step")
    else:
        for i, item in enumerate(raw_steps):
            step, step_errors = validate_step(item, f"$.steps[{i}]")
            errors.extend(step_errors)
            if step is not None:
                steps.append(step)
    if not errors:
        errors.extend(check_graph(steps))
    if errors:
        raise PlanError(errors)
    return make_plan(raw, steps)


def make_plan(header: Mapping[str, object], steps: Iterable[Step]) -> Plan:
    """Build a Plan from checked header fields and steps."""
    metadata = header.get("metadata")
    return Plan(
        task_id=cast(str, header["task_id"]),
        description=cast(str, header["description"]),
        steps=tuple(steps),
        metadata=cast(dict[str, object], metadata) if isinstance(metadata, dict) else {},
    )


def parse_plan(data: bytes | str) -> Plan:
    """Decode and validate a whole plan document."""
    try:
        value: object = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        if isinstance(exc, json.JSONDecodeError):
            raise PlanError([f"$: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"]) from exc
        raise PlanError(["$: invalid UTF-8"]) from exc
    return plan_from_object(value)
