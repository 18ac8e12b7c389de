"""deploy/prometheus/: the scrape config targets /sidecar/metrics on the sidecar port; manifests validate."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from kubernetes_validate.utils import validate  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"


def sidecar_port() -> dict:
    deployment = yaml.safe_load((ROOT / "deploy/k8s/base/deployment.yaml").read_text())
    containers = deployment["spec"]["template"]["spec"]["initContainers"]
    sidecar = next(c for c in containers if c["name"] == "sidecar")
    return sidecar["ports"][0]


def test_scrape_config_targets_the_metrics_path_and_the_sidecar_port() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {job["metrics_path"] for job in jobs.values()} == {"/sidecar/metrics"}
    assert jobs["sidecar-local"]["static_configs"][0]["targets"] == ["127.0.0.1:8787"]
    pods = jobs["sidecar-pods"]
    assert pods["authorization"]["type"] == "Bearer" and "credentials_file" in pods["authorization"]
    port = sidecar_port()
    keep = [r for r in pods["relabel_configs"] if r.get("action") == "keep"]
    assert any(
        re.fullmatch(r["regex"], f"sidecar;{port['containerPort']}")
        for r in keep
        if r["source_labels"][0] == "__meta_kubernetes_pod_container_name"
    )


def test_podmonitor_uses_the_named_port_and_a_secret_reference() -> None:
    monitor = yaml.safe_load((PROMETHEUS / "podmonitor.yaml").read_text())
    assert monitor["kind"] == "PodMonitor"
    endpoint = monitor["spec"]["podMetricsEndpoints"][0]
    assert endpoint["port"] == sidecar_port()["name"] and endpoint["path"] == "/sidecar/metrics"
    assert set(endpoint["authorization"]["credentials"]) == {"name", "key"}  # a reference, never a value


def test_networkpolicy_validates_and_opens_only_the_sidecar_port() -> None:
    policy = yaml.safe_load((PROMETHEUS / "networkpolicy.yaml").read_text())
    validate(policy, "1.30.0", strict=True)
    ports = [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]]
    assert ports == [sidecar_port()["containerPort"]]
