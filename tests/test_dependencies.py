"""Every third-party module the package imports comes from a dependency it declares.

A module imported by the sidecar but only installed as a dependency of a dependency (or of the dev
tools) works in the test venv and breaks a plain ``pip install .`` the day that chain changes.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import sys
from importlib.metadata import distribution, distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PACKAGE = Path(__file__).resolve().parents[1] / "sidecar"
OPTIONAL = {"grpc": {"opentelemetry-exporter-otlp-proto-grpc"}}  # extra -> what it may bring


def _imported_modules() -> dict[str, set[str]]:
    """Map each absolute third-party module name imported in the package to the files importing it."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from opentelemetry import trace`: the submodule, when it is one (namespace packages).
                names = [_submodule(node.module, alias.name) for alias in node.names]
            for name in names:
                top = name.split(".")[0]
                if top != "sidecar" and top not in sys.stdlib_module_names and top != "__future__":
                    found.setdefault(name, set()).add(str(path.relative_to(PACKAGE.parent)))
    return found


def _submodule(module: str, name: str) -> str:
    top = module.split(".")[0]
    if top == "sidecar" or top in sys.stdlib_module_names or top == "__future__":
        return module
    try:
        return f"{module}.{name}" if importlib.util.find_spec(f"{module}.{name}") is not None else module
    except ModuleNotFoundError:
        return module


@functools.cache
def _owners() -> dict[Path, str]:
    return {
        Path(dist.locate_file(f)).resolve(): canonicalize_name(dist.metadata["Name"])
        for dist in distributions()
        for f in dist.files or ()
        if f.suffix in (".py", ".so")
    }


def _owner(module: str) -> str | None:
    spec = importlib.util.find_spec(module)
    origin = spec.origin if spec is not None else None
    if origin is None or origin in ("built-in", "frozen"):
        return None
    return _owners().get(Path(origin).resolve())


def test_every_imported_distribution_is_declared() -> None:
    requires = [Requirement(r) for r in distribution("sidecar").requires or []]
    runtime = {
        canonicalize_name(r.name) for r in requires if r.marker is None or "extra" not in str(r.marker)
    }
    allowed = runtime | set().union(*OPTIONAL.values())
    undeclared = {}
    for module, files in _imported_modules().items():
        owner = _owner(module)
        assert owner is not None, f"{module} (imported by {sorted(files)}) is not installed"
        if owner not in allowed:
            undeclared[module] = (owner, sorted(files))
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_optional_dependencies_are_imported_lazily() -> None:
    optional = set().union(*OPTIONAL.values())
    for module, files in _imported_modules().items():
        if _owner(module) in optional:
            for rel in files:
                tree = ast.parse((PACKAGE.parent / rel).read_text())
                top_level = {
                    n.module if isinstance(n, ast.ImportFrom) else a.name
                    for n in tree.body
                    if isinstance(n, ast.Import | ast.ImportFrom)
                    for a in (n.names if isinstance(n, ast.Import) else [n])  # type: ignore[attr-defined]
                }
                assert module not in top_level, f"{rel} imports the optional {module} at module level"
