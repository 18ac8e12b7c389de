"""Import lines as the scorer reads them: which lines are imports, and which names they bind.

Most languages import one statement per line (``import x``, ``from x import y``, ``use x``); Go groups
them (``import (`` ... ``)``), one indented spec per line, which the line-start test in the scorer
misses. And a Go import binds exactly one name, the package's, used as ``name.Func`` everywhere
below: when the goal matches an import ("Disable OpenTelemetry" and ``"go.opentelemetry.io/.../
otelhttp"``), the lines using ``otelhttp`` are what the goal is about, though they never spell it.
(Python's ``from m import a, b, c`` binds many common names at once, which measured as noise.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

IMPORT_SCAN = 300  # imports sit at the top: the lines read for them
_GO_SPEC = re.compile(r'^(?:import\s+)?(?:([A-Za-z_]\w*|\.)\s+)?"([^"\s]+)"$')
_VERSION = re.compile(r"v\d+")


def grouped_imports(stripped: Sequence[str]) -> frozenset[int]:
    """Return the (non-blank) lines inside Go's grouped imports, ``import (`` ... ``)``, near the top."""
    out: set[int] = set()
    inside = False
    for i, s in enumerate(stripped[:IMPORT_SCAN]):
        if inside:
            if s == ")":
                inside = False
            elif s:
                out.add(i)
        elif s == "import (":
            inside = True
    return frozenset(out)


def go_package_name(spec: str) -> str | None:
    """Return the name a Go import spec binds (``klog`` of ``"k8s.io/klog/v2"``), or None."""
    m = _GO_SPEC.match(spec)
    if m is None:
        return None
    alias, path = m.group(1), m.group(2)
    if alias is not None:
        return None if alias in ("_", ".") else alias
    parts = path.split("/")
    last = parts[-1]
    if _VERSION.fullmatch(last) and len(parts) > 1:
        last = parts[-2]  # "k8s.io/klog/v2" is package klog
    last = last.split(".v")[0]  # "gopkg.in/yaml.v3" is package yaml
    if last.startswith("go-"):
        last = last[3:]
    if last.endswith("-go"):
        last = last[:-3]
    return last.replace("-", "_").replace(".", "_") or None


def bound_names(
    stripped: Sequence[str], grouped: frozenset[int], line_terms: Mapping[int, Mapping[str, float]]
) -> dict[str, float]:
    """Return the Go package names bound by import lines the goal matched, each with its best match."""
    out: dict[str, float] = {}
    for i, ts in line_terms.items():
        if i >= IMPORT_SCAN or not ts:
            continue
        s = stripped[i]
        if i in grouped or s.startswith("import "):
            name = go_package_name(s)
            if name is not None and len(name) >= 3:
                key = name.lower()
                out[key] = max(out.get(key, 0.0), max(ts.values()))
    return out
