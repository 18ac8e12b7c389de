from __future__ import annotations

import asyncio

from sidecar.pruning.backends.heuristic import HeuristicBackend, score_lines
from sidecar.pruning.engine.imports import bound_names, go_package_name, grouped_imports
from sidecar.pruning.types import PruneOptions, PruneRequest

GO_HEAD = [
    "package remote",
    "",
    "import (",
    '\t"fmt"',
    '\tklogv2 "k8s.io/klog/v2"',
    "",
    '\t"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"',
    '\t"gopkg.in/yaml.v3"',
    ")",
]


def test_grouped_imports_are_the_specs_between_import_and_the_paren() -> None:
    stripped = [s.strip() for s in GO_HEAD] + ["func f() {", "\tx := (", "\t)", "}"]
    assert grouped_imports(stripped) == frozenset({3, 4, 6, 7})
    python = ["import os", "from a import (", "    b,", ")"]  # Python's grouped form is not Go's
    assert grouped_imports(python) == frozenset()


def test_go_package_names_follow_go_rules() -> None:
    assert go_package_name('"k8s.io/klog/v2"') == "klog"
    assert go_package_name('klogv2 "k8s.io/klog/v2"') == "klogv2"
    assert go_package_name('"gopkg.in/yaml.v3"') == "yaml"
    assert go_package_name('"github.com/docker/go-metrics"') == "metrics"
    assert go_package_name('import "net/http"') == "http"
    assert go_package_name('_ "net/http/pprof"') is None and go_package_name('. "fmt"') is None
    assert go_package_name("fmt.Println(x)") is None


def test_bound_names_come_only_from_matched_import_lines() -> None:
    stripped = [s.strip() for s in GO_HEAD]
    got = bound_names(stripped, grouped_imports(stripped), {6: {"opentelemetry": 2.0}, 3: {}})
    assert got == {"otelhttp": 2.0}
    single = ["package main", 'import "go.opentelemetry.io/otel"', "import os"]  # Go's one-line form
    assert bound_names(single, frozenset(), {1: {"opentelemetry": 1.0}, 2: {"os": 1.0}}) == {"otel": 1.0}


def _go_file() -> list[str]:
    body = [f"func helper{i}(a int) int {{\n\treturn a + {i}\n}}\n" for i in range(40)]
    use = (
        "func newClient(t http.RoundTripper) *http.Client {\n"
        "\treturn &http.Client{Transport: otelhttp.NewTransport(t)}\n}\n"
    )
    return "\n".join([*GO_HEAD, "", *body[:20], use, *body[20:]]).split("\n")


def test_a_go_package_the_goal_names_lifts_the_lines_using_it() -> None:
    lines = _go_file()
    at = next(i for i, line in enumerate(lines) if "otelhttp.NewTransport" in line)
    scores = score_lines(lines, "Disable OpenTelemetry tracing", "code")
    plain = score_lines(lines, "Disable tracing", "code")
    assert scores[at] > 2 * plain[at]
    text = "\n".join(lines)
    req = PruneRequest(
        text=text,
        goal="Disable OpenTelemetry tracing",
        source_type="code",
        prune_id="p",
        options=PruneOptions(keep_ratio=0.3),
    )
    keep = asyncio.run(HeuristicBackend().prune(req)).keep
    assert keep[at] and keep[lines.index('\t"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"')]


def test_go_grouped_imports_get_the_import_prior_like_other_languages() -> None:
    lines = _go_file()
    scores = score_lines(lines, "helper7 returns the wrong value", "code")
    spec = lines.index('\t"gopkg.in/yaml.v3"')  # past the first lines, which are header anyway
    assert scores[spec] > 0.9 * scores[lines.index("import (")]
