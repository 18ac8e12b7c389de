"""The ``prune`` span: metadata attributes only, and no OpenTelemetry import until telemetry loads it."""

from __future__ import annotations

import subprocess
import sys

from sidecar.pruning.spans import span_attributes
from sidecar.pruning.types import PruneOutcome, PruneStats

SECRET_TEXT = "API_TOKEN = 'sk-live-0123'  # tool output"
SECRET_GOAL = "fix parse_port"


def outcome() -> PruneOutcome:
    stats = PruneStats(
        backend="deepinfra",
        original_lines=120,
        kept_lines=30,
        pruned_lines=90,
        pruned_ratio=0.75,
        tokens_est_before=1000,
        tokens_est_after=260,
        tokens_saved_est=740,
        elapsed_ms=40.0,
        latency_ms=42.5,
        used_fallback=False,
        cost_estimated_usd=0.00002,
        cache_hit=True,
        source_type="logs",
    )
    return PruneOutcome(
        prune_id="fdsuyvelrrikxic4gr7fhzwtj4",
        pruned_text=SECRET_TEXT,
        annotations=[],
        warnings=["deepinfra:timeout", SECRET_GOAL],
        stats=stats,
    )


def test_the_attributes_of_the_readme_table_from_the_outcome():
    assert span_attributes(outcome()) == {
        "sidecar.prune.id": "fdsuyvelrrikxic4gr7fhzwtj4",
        "sidecar.prune.backend": "deepinfra",
        "sidecar.prune.used_fallback": False,
        "sidecar.prune.tokens_before": 1000,
        "sidecar.prune.tokens_after": 260,
        "sidecar.prune.tokens_saved": 740,
        "sidecar.prune.pruned_lines": 90,
        "sidecar.prune.latency_ms": 42.5,
        "sidecar.prune.cost_usd": 0.00002,
        "sidecar.prune.cache_hit": True,
        "sidecar.prune.source_type": "logs",
        "sidecar.prune.warning_count": 2,  # how many, never what they say
    }


def test_no_text_reaches_an_attribute():
    values = [str(v) for v in span_attributes(outcome()).values()]
    assert not any(SECRET_TEXT in v or "sk-live" in v or SECRET_GOAL in v for v in values)


def test_no_tracer_and_no_opentelemetry_import_until_telemetry_loads_it():
    code = (
        "import sys\n"
        "from sidecar.pruning import spans\n"
        "print(spans.get_tracer() is None, 'opentelemetry.trace' in sys.modules)\n"
        "import opentelemetry.trace\n"
        "tracer = spans.get_tracer()\n"
        "print(tracer is not None, spans.get_tracer() is tracer)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert proc.stdout.split() == ["True", "False", "True", "True"]
