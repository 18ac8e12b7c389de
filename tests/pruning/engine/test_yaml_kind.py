"""YAML read as code: told by its content, its keys and items as units, the block a goal names kept."""

from __future__ import annotations

from sidecar.pruning.engine.chunking import chunk_lines
from sidecar.pruning.engine.kinds import detect_kind
from sidecar.pruning.engine.yaml_kind import Tree, looks_like_yaml
from tests.pruning.engine.samples import prune

WORKFLOW = """name: check
on:
  push:
    branches: ["main"]
  pull_request:
jobs:
  test:
    name: test ${{ matrix.py }} on ${{ matrix.os.name }}
    runs-on: ${{ matrix.os.image }}
    strategy:
      fail-fast: false
      matrix:
        py:
          - "3.14"
          - "3.13"
          - "3.12"
          - "3.11"
          - "3.10"
        os:
          - {image: ubuntu-24.04, name: ubuntu}
          - {image: macos-15, name: macos}
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - name: Install the latest version of uv
        uses: astral-sh/setup-uv@v5
      - name: Install tox@self
        run: uv tool install --python ${{ matrix.py }} tox@.
      - name: Setup test suite
        run: tox run -vv --notest -e ${{ matrix.py }}
      - name: Run test suite
        run: tox run --skip-pkg-install -e ${{ matrix.py }}
        env:
          PYTEST_ADDOPTS: "-vv --durations=20"
  check:
    name: tox env ${{ matrix.tox_env }} on ubuntu
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Install tox@self
        run: uv tool install --python 3.14 tox@.
      - name: Setup check suite
        run: tox r -vv --notest -e ${{ matrix.tox_env }}
      - name: Run check for ${{ matrix.tox_env }}
        run: tox r --skip-pkg-install -e ${{ matrix.tox_env }}
"""


SUFFIXES = ("a1b2c", "d3e4f", "g5h6i", "j7k8l", "m9n0p", "zt4wq", "r1s2t", "u3v4w")


def pods(n: int = 8, crashing: int = 5) -> str:
    """``kubectl get pods -o yaml``: a list of pods, one of them restarting (OOMKilled)."""
    out = ["apiVersion: v1", "items:"]
    for k in range(n):
        name = f"api-7d9f8c6b5-{SUFFIXES[k]}"
        bad = k == crashing
        out += [
            "- apiVersion: v1",
            "  kind: Pod",
            "  metadata:",
            f'    creationTimestamp: "2026-12-05T21:03:{k:02d}Z"',
            "    generateName: api-7d9f8c6b5-",
            "    labels:",
            "      app: api",
            f"    name: {name}",
            "    namespace: prod",
            f'    resourceVersion: "88{k:04d}"',
            f"    uid: 0c1d2e3f-4a5b-6c7d-8e9f-{k:012d}",
            "  spec:",
            "    containers:",
            "    - env:",
            "      - name: LOG_LEVEL",
            "        value: info",
            "      image: registry.example.com/api:1.8.2",
            "      imagePullPolicy: IfNotPresent",
            "      name: api",
            "      ports:",
            "      - containerPort: 8080",
            "        protocol: TCP",
            "      resources:",
            "        limits:",
            "          cpu: 500m",
            "          memory: 256Mi",
            "    dnsPolicy: ClusterFirst",
            f"    nodeName: node-{k % 3}.prod.internal",
            "    restartPolicy: Always",
            "  status:",
            "    containerStatuses:",
            f"    - containerID: containerd://{k:02d}ab34cd56ef",
            "      image: registry.example.com/api:1.8.2",
            f"      imageID: registry.example.com/api@sha256:{k:02d}4f1e2d3c4b5a69788796a5b4c3d2e1f0",
            "      state:",
        ]
        if bad:
            out += [
                "        waiting:",
                f"          message: back-off 5m0s restarting failed container=api pod={name}_prod",
                "          reason: CrashLoopBackOff",
                "      lastState:",
                "        terminated:",
                "          containerID: containerd://9f8e7d6c5b4a",
                "          exitCode: 137",
                '          finishedAt: "2026-12-06T03:10:02Z"',
                "          reason: OOMKilled",
                '          startedAt: "2026-12-06T03:09:41Z"',
            ]
        else:
            out += ["        running:", '          startedAt: "2026-12-05T21:04:11Z"', "      lastState: {}"]
        out += [
            "      name: api",
            f"      ready: {'false' if bad else 'true'}",
            f"      restartCount: {14 if bad else 0}",
            f"    hostIP: 10.0.{k % 3}.1{k}",
            "    phase: Running",
            f"    podIP: 10.244.{k % 3}.3{k}",
            "    qosClass: Burstable",
        ]
    out += ["kind: List", "metadata:", '  resourceVersion: ""', ""]
    return "\n".join(out)


def test_yaml_is_told_by_its_content() -> None:
    assert looks_like_yaml(WORKFLOW.split("\n"))
    assert looks_like_yaml(pods().split("\n"))
    python = "\n".join(
        ["from dataclasses import dataclass", "", "", "@dataclass", "class Config:"]
        + [f"    field_{k}: int = {k}" for k in range(12)]
        + ["", "    def total(self) -> int:", "        return sum(vars(self).values())", ""]
    )
    markdown = "# Changes\n\n" + "\n".join(f"- fixed the parser for case {k}." for k in range(20))
    log = "\n".join(f"2026-12-06 03:10:{k:02d} INFO worker: job {k} done in {k}ms" for k in range(20))
    headers = "\n".join(["HTTP/1.1 200 OK", "Content-Type: text/html", "Content-Length: 42", "Server: x"])
    tree = "- /srv/app/\n" + "".join(
        f"  - pkg{k}/\n" + "".join(f"    - f{j}.py\n" for j in range(3)) for k in range(9)
    )
    for text in (python, markdown, log, headers, tree):  # tree: an agent's LS, a listing
        assert not looks_like_yaml(text.split("\n"))


def test_undeclared_yaml_read_as_a_list_of_bullets_is_read_as_code() -> None:
    # A list of hosts: its "- " items are a document's bullets to the line counts alone.
    text = "hosts:\n" + "".join(f"  - host-{k}.example.com\n" for k in range(30)) + "port: 22\n"
    assert detect_kind(text) == "code"
    assert (
        detect_kind("# Notes\n\n" + "\n".join(f"- item number {k} of the list" for k in range(30))) != "code"
    )


def test_a_key_with_a_short_list_is_one_unit() -> None:
    lines = WORKFLOW.split("\n")
    stripped = [s.strip() for s in lines]
    chunks = chunk_lines(lines, "code", 48, yaml=Tree(lines, stripped))
    py = lines.index("        py:")
    unit = next(c for c in chunks if c.start <= py < c.end)
    assert (unit.start, unit.end) == (py, py + 6)  # py: and its five versions
    # Every line is in exactly one unit, in order.
    assert [c.start for c in chunks] == sorted({c.start for c in chunks})
    assert chunks[0].start == 0 and chunks[-1].end == len(lines)
    assert all(a.end == b.start for a, b in zip(chunks, chunks[1:], strict=False))


def test_the_list_under_the_key_the_goal_names_is_kept_whole() -> None:
    goal = "Which Python versions does the CI test matrix run the tox test suite on?"
    for keep in (None, 0.3):
        _, out = prune(WORKFLOW, goal, "code", keep=keep)
        kept = out.split("\n")
        for version in ("3.14", "3.13", "3.12", "3.11", "3.10"):
            assert f'          - "{version}"' in kept, (keep, version)


def test_the_pod_the_goal_names_keeps_its_status_fields() -> None:
    text = pods()
    goal = "Why is the api pod api-7d9f8c6b5-zt4wq restarting?\nkubectl get pods -n prod -o yaml"
    _, out = prune(text, goal, detect_kind(text), keep=0.1)
    kept = out.split("\n")
    for line in (
        "          exitCode: 137",
        "          reason: OOMKilled",
        "          reason: CrashLoopBackOff",
    ):
        assert line in kept, line
    assert "    name: api-7d9f8c6b5-zt4wq" in kept
