"""/sidecar/metrics: parsed by Prometheus' own text parser, its counters equal /sidecar/health's."""

from __future__ import annotations

import math

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from sidecar.dashboard.metrics import COUNTERS, GAUGES, LABELLED

from .conftest import send_traffic

# Change with every request, /sidecar/health's own included: compared for presence, not value.
MOVING = {"sidecar_uptime_seconds", "sidecar_requests", "sidecar_requests_in_flight"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_match_health_and_parse(sidecar) -> None:
    client = await sidecar()
    await send_traffic(client)
    health = await (await client.get("/sidecar/health")).json()
    resp = await client.get("/sidecar/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found = samples(await resp.text())

    compared = 0
    for section, field, name, _ in (*COUNTERS, *GAUGES):
        value = health[section][field]
        key = (name + ("_total" if (section, field, name, _) in COUNTERS else ""), ())
        assert key in found, key
        if name not in MOVING:
            assert found[key] == float(value), (section, field)
            compared += 1
    for section, field, name, label, _ in LABELLED:
        for key, value in health[section][field].items():
            assert found[(name + "_total", ((label, key),))] == value
            compared += 1
    assert compared >= 35
    assert health["middleware"]["tokens_saved_total"] > 0

    # The breakdown adds up to the totals, and says which agent saved what (reduced, no email).
    by_agent: dict[str, float] = {}
    for (name, labels), value in found.items():
        if name == "sidecar_saved_tokens_total":
            by_agent[dict(labels)["agent"]] = by_agent.get(dict(labels)["agent"], 0) + value
    assert (
        sum(by_agent.values())
        == health["middleware"]["tokens_saved_total"]
        == health["savings"]["tokens_saved"]
    )
    assert set(by_agent) == {"OpenAI/Python", "claude-cli/2.1.4"}
    usd = sum(
        v
        for (n, labels), v in found.items()
        if n == "sidecar_saved_usd_total" and ("estimate", "raw") in labels
    )
    assert math.isclose(usd, health["savings"]["usd_saved_raw"], rel_tol=1e-6)

    # The histogram of the time pruning added counts every chat request that had segments.
    count = found[("sidecar_prune_added_seconds_count", ())]
    assert count == health["savings"]["requests"] == 3
    assert found[("sidecar_prune_added_seconds_bucket", (("le", "+Inf"),))] == count


async def test_openmetrics_when_the_scraper_asks(sidecar) -> None:
    client = await sidecar()
    await send_traffic(client)
    resp = await client.get(
        "/sidecar/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    text = await resp.text()
    assert text.endswith("# EOF\n")
    names = {f.name for f in openmetrics_families(text)}
    assert {"sidecar_segment_tokens_saved", "sidecar_prune_added_seconds", "sidecar_saved_tokens"} <= names


async def test_metrics_carry_no_secret_and_no_raw_user_agent(sidecar) -> None:
    client = await sidecar()
    await send_traffic(client)
    text = await (await client.get("/sidecar/metrics")).text()
    assert "sk-test" not in text and "AWS_SECRET" not in text
    assert "jane.doe" not in text and "@" not in text and "external, cli" not in text
