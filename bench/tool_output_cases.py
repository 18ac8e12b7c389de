#!/usr/bin/env python3
# ruff: noqa: E501  (realistic tool outputs written inline have long lines)
"""The tool-output cases of ``tool_outputs.py``: how each output is made, its task and its gold lines.

usage: tool_output_cases.py [--only NAME,...]    # rebuild bench/data/tool_outputs/cases.jsonl.gz

Each case is the command an agent would run (its hint, as the proxy's ``call_hints`` reads it), a task
sentence, the output text and its gold lines (regexes: every line one matches is gold, each must match
one). ``real`` says whether the text comes from running the command here or was written by hand:
``curl -v`` against the package's fake upstream and a local http.server, ``pip``, ``ps``, ``git``
(``git status``, ``git log --stat`` of a mirrored httpx), ``mypy``/``ruff`` over mirrored projects
(tqdm, arrow, lark), ``gcc``/``make`` and ``cargo`` on small broken programs, pytest's JUnit XML,
``sqlite3 .dump``, files of mirrored projects (a netty pom, tox's workflow, falcon's tox.ini, mkdocs'
docs); Kubernetes outputs, ``env``, ``go test -v``, ``tsc`` and ``eslint`` are written by hand (no
cluster or toolchain here). Rebuilding needs those tools and the mirrors (``/work/.mirror``, fetched
from GitHub): the stored cases are what ``tool_outputs.py`` scores, and a rebuild changes the few
outputs that carry times or process ids.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from harness import Procs, free_port, wait_port

REPO = Path(__file__).resolve().parent.parent
CASES = REPO / "bench" / "data" / "tool_outputs" / "cases.jsonl.gz"
MIRROR = Path("/work/.mirror")
VENV = REPO / ".venv" / "bin"


def sh(cmd: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run ``cmd`` in bash, stdout and stderr merged as an agent's shell tool shows them."""
    p = subprocess.run(
        ["bash", "-c", cmd], cwd=cwd, capture_output=False, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})},
    )  # fmt: skip
    return p.stdout


def git_show(repo: str, path: str) -> str:
    return sh(f"git --git-dir={MIRROR / repo / 'repo'} show HEAD:{path}")


def checkout(repo: str, dest: Path) -> Path:
    """Extract the mirror's HEAD tree into ``dest`` (bare mirrors have no work tree)."""
    dest.mkdir(parents=True, exist_ok=True)
    sh(f"git --git-dir={MIRROR / repo / 'repo'} archive HEAD | tar -x -C {dest}")
    return dest


# ---------------------------------------------------------------- real outputs


def curl_sse(tmp: Path) -> str:
    with Procs() as procs:
        port = free_port()
        procs.start([str(VENV / "sidecar"), "fake-upstream", "--port", str(port)], tmp / "fake.log")
        wait_port(port)
        body = (
            '{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},'
            '"messages":[{"role":"user","content":"Write parse_port"}]}'
        )
        out = sh(
            f"curl -sNv http://127.0.0.1:{port}/v1/chat/completions -H 'content-type: application/json' "
            f"-H 'authorization: Bearer sk-test-000' -d '{body}' 2>&1"
        )
    return re.sub(r"Date: .*", "Date: Sun, 06 Dec 2026 03:13:18 GMT", out)


def curl_pretty(tmp: Path) -> str:
    """curl -v of a local server's JSON document (pip inspect's), piped through json.tool."""
    site = tmp / "www"
    site.mkdir()
    inv = json.loads(sh(f"{VENV / 'pip'} inspect --local 2>/dev/null"))
    for item in inv["installed"]:  # the long descriptions make a 1 MB document: an API would not send them
        item["metadata"].pop("description", None)
        item["metadata"].pop("classifier", None)
    (site / "inventory.json").write_text(json.dumps(inv))
    with Procs() as procs:
        port = free_port()
        procs.start([sys.executable, "-m", "http.server", str(port), "-d", str(site)], tmp / "http.log")
        wait_port(port)
        url = f"http://127.0.0.1:{port}/inventory.json"
        # The stderr head first, then the body, as a shell tool merges them.
        head = sh(f"curl -sv -o /dev/null {url} 2>&1")
        body = sh(f"curl -s {url} | python3 -m json.tool --indent 2")
    head = re.sub(r"Date: .*", "Date: Sun, 06 Dec 2026 03:13:18 GMT", head)
    head = re.sub(r"(?i)last-modified: .*", "Last-Modified: Sun, 06 Dec 2026 03:13:17 GMT", head)
    return head + body


def pip_list(tmp: Path) -> str:
    return sh(f"{VENV / 'pip'} list 2>/dev/null")


def pip_freeze(tmp: Path) -> str:
    return sh(f"{VENV / 'pip'} freeze 2>/dev/null")


def pip_show(tmp: Path) -> str:
    out = sh(f"{VENV / 'pip'} show -f aiohttp 2>/dev/null")
    return out.replace(str(REPO), "/home/dev/sidecar")


def ps_aux(tmp: Path) -> str:
    """ps aux with a process the goal asks about (a sleep we start), command lines cut to 160 chars."""
    proc = subprocess.Popen(["sleep", "4242"])
    try:
        time.sleep(0.2)
        out = sh("ps aux")
    finally:
        proc.terminate()
        proc.wait()
    # Keep only this case's sleep and anonymise the rest's command lines (other sessions' arguments).
    rows = []
    for i, line in enumerate(out.splitlines()):
        f = line.split(None, 10)
        if i and len(f) == 11 and "sleep 4242" not in line:
            line = line[: line.index(f[10])] + f[10].split()[0][:60]
        rows.append(line)
    return "\n".join(rows) + "\n"


def git_status(tmp: Path) -> str:
    """A refactor in progress in a clone of httpx: staged, unstaged and untracked files."""
    repo = tmp / "httpx"
    sh(f"git clone -q {MIRROR / 'encode+httpx' / 'repo'} {repo}")
    files = sh("git ls-files 'httpx/*.py' 'tests/*.py'", cwd=repo).split()
    for i, f in enumerate(files[:90]):
        with open(repo / f, "a") as fh:
            fh.write("\n# refactor\n")
        if i % 3 == 0:
            sh(f"git add {f}", cwd=repo)
    for f in ("tests/test_timeouts_new.py", "httpx/_transports/retry.py", "notes.txt"):
        (repo / f).write_text("x\n")
    sh("git rm -q --cached tests/test_exported_members.py", cwd=repo)
    return sh("git status", cwd=repo)


def git_log_stat(tmp: Path) -> str:
    return sh(f"git --git-dir={MIRROR / 'encode+httpx' / 'repo'} log --stat -n 40")


def mypy_out(tmp: Path) -> str:
    src = checkout("tqdm+tqdm", tmp / "tqdm")
    return sh(
        f"{VENV / 'mypy'} --strict --no-incremental --cache-dir=/dev/null --ignore-missing-imports tqdm/",
        cwd=src,
    )


def mypy_pretty(tmp: Path) -> str:
    """arrow's config sets ``pretty = true``: each error wraps and shows its source line and a caret."""
    src = checkout("arrow-py+arrow", tmp / "arrow")
    return sh(
        f"{VENV / 'mypy'} --strict --no-incremental --cache-dir=/dev/null --ignore-missing-imports arrow/",
        cwd=src,
    )


def ruff_out(tmp: Path) -> str:
    src = checkout("lark-parser+lark", tmp / "lark")
    return sh(f"{VENV / 'ruff'} check --isolated --select F,B --no-cache lark/", cwd=src)


def gcc_make(tmp: Path) -> str:
    d = tmp / "cproj"
    d.mkdir()
    (d / "Makefile").write_text(
        "CFLAGS=-Wall -Wextra -O2 -g\nOBJS=main.o buffer.o parse.o net.o config.o log.o\n"
        "server: $(OBJS)\n\t$(CC) $(CFLAGS) -o $@ $(OBJS)\n%.o: %.c util.h\n\t$(CC) $(CFLAGS) -c $<\n"
    )
    (d / "util.h").write_text(
        "#include <stddef.h>\ntypedef struct { char *data; size_t len, cap; } buffer_t;\n"
        "int buf_append(buffer_t *b, const char *s, size_t n);\nint parse_port(const char *s);\n"
        "int net_listen(int port);\n"
    )
    (d / "buffer.c").write_text(
        '#include <stdlib.h>\n#include <string.h>\n#include "util.h"\n'
        "int buf_append(buffer_t *b, const char *s, size_t n) {\n  int unused;\n"
        "  if (b->len + n > b->cap) {\n    size_t cap = b->cap ? b->cap * 2 : 64;\n"
        "    while (cap < b->len + n) cap *= 2;\n    char *p = realloc(b->data, cap);\n"
        "    if (!p) return -1;\n    b->data = p; b->cap = cap;\n  }\n"
        "  memcpy(b->data + b->len, s, n);\n  b->len += n;\n  return 0;\n}\n"
    )
    (d / "parse.c").write_text(
        '#include <stdlib.h>\n#include "util.h"\nint parse_port(const char *s) {\n'
        "  char *end;\n  long v = strtol(s, &end, 10);\n  if (*end != '\\0' || v <= 0 || v > 65535)\n"
        "    return -1\n  return (int)v;\n}\n"
    )
    (d / "net.c").write_text(
        '#include <sys/socket.h>\n#include <netinet/in.h>\n#include "util.h"\n'
        "int net_listen(int port) {\n  int fd = socket(AF_INET, SOCK_STREAM, 0);\n"
        "  struct sockaddr_in a = {0};\n  a.sin_family = AF_INET;\n  a.sin_port = htons(port);\n"
        "  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) return -1;\n"
        "  listen(fd, 16);\n  return fd;\n}\n"
    )
    (d / "config.c").write_text(
        '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include "util.h"\n'
        "struct config { int port; int workers; char *root; };\n"
        "static int read_int(const char *key, const char *val, int fallback) {\n"
        "  if (!val) return fallback;\n  return atoi(val);\n}\n"
        "int load_config(struct config *c, FILE *f) {\n  char line[256];\n  int n = 0;\n"
        "  while (fgets(line, sizeof line, f)) {\n    char *eq = strchr(line, '=');\n"
        "    if (!eq) continue;\n    *eq = 0;\n"
        '    if (strcmp(line, "port") == 0) c->port = read_int(line, eq + 1, 8080);\n'
        '    else if (strcmp(line, "workers") == 0) c->worker = read_int(line, eq + 1, 4);\n'
        '    else if (strcmp(line, "root") == 0) c->root = strdup(eq + 1);\n    n++;\n  }\n'
        "  for (size_t i = 0; i < n; i++) ;\n  return n;\n}\n"
    )
    (d / "log.c").write_text(
        '#include <stdio.h>\n#include <stdarg.h>\n#include <time.h>\n#include "util.h"\n'
        "void log_msg(int level, const char *fmt, ...) {\n  va_list ap;\n  char stamp[32];\n"
        '  time_t t = time(NULL);\n  strftime(stamp, sizeof stamp, "%H:%M:%S", localtime(&t));\n'
        '  fprintf(stderr, "%s ", stamp);\n  va_start(ap, fmt);\n  vfprintf(stderr, fmt, ap);\n'
        "  va_end(ap);\n}\n"
        'int log_open(const char *path, int flags) {\n  FILE *f = fopen(path, "a");\n'
        "  return f;\n}\n"
    )
    (d / "main.c").write_text(
        '#include <stdio.h>\n#include "util.h"\nint main(int argc, char **argv) {\n'
        '  buffer_t b = {0};\n  int port = parse_port(argc > 1 ? argv[1] : "8080");\n'
        "  int fd = net_listen(port);\n"
        '  buf_append(&b, "hello", 5);\n  printf("listening on %d (fd %d), %s\\n", port, fd);\n'
        "  return conn_count;\n}\n"
    )
    return sh("make -k 2>&1", cwd=d).replace(str(d), "/home/dev/cproj")


def cargo_test(tmp: Path) -> str:
    d = tmp / "portparse"
    sh(f"cargo new -q --lib --offline {d}")
    tests = []
    for i in range(36):
        tests.append(
            f"    #[test]\n    fn parses_port_{i}() {{\n"
            f'        assert_eq!(parse_port("{1000 + i}"), Ok({1000 + i}));\n    }}\n'
        )
    tests.append(
        "    #[test]\n    fn rejects_negative() {\n"
        '        assert_eq!(parse_port("-1"), Err(PortError::Range));\n    }\n'
    )
    tests.append(
        "    #[test]\n    fn rejects_empty() {\n"
        '        assert_eq!(parse_port(""), Err(PortError::Empty));\n    }\n'
    )
    (d / "src" / "lib.rs").write_text(
        "#[derive(Debug, PartialEq)]\npub enum PortError { Empty, Range, Syntax }\n\n"
        "pub fn parse_port(s: &str) -> Result<u16, PortError> {\n"
        "    if s.is_empty() { return Err(PortError::Empty); }\n"
        "    let v: i64 = s.parse().map_err(|_| PortError::Syntax)?;\n"
        "    if v < 0 { return Err(PortError::Syntax); }\n"
        "    u16::try_from(v).map_err(|_| PortError::Range)\n}\n\n"
        "#[cfg(test)]\nmod tests {\n    use super::*;\n\n" + "\n".join(tests) + "}\n"
    )
    out = sh("cargo test --offline 2>&1", cwd=d, env={"CARGO_TERM_COLOR": "never"})
    return re.sub(r"\d+\.\d\ds", "0.42s", out).replace(str(d), "/home/dev/portparse")


def py_traceback_log(tmp: Path) -> str:
    script = tmp / "worker.py"
    script.write_text(
        textwrap.dedent(
            """\
            import logging, random, sys
            logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                                format="2026-12-06 03:%(msecs)03d %(levelname)s %(name)s: %(message)s")
            log = logging.getLogger("worker")
            random.seed(7)

            class Invoice:
                def __init__(self, job, lines):
                    self.job, self.lines = job, lines

            def total(inv):
                return sum(l["qty"] * l["unit_price"] for l in inv.lines)

            def apply_discount(inv, code):
                rate = {"SPRING": 0.1, "VIP": 0.2}[code]
                return total(inv) * (1 - rate)

            def process(job):
                lines = [{"qty": random.randint(1, 5), "unit_price": random.randint(5, 90)}
                         for _ in range(3)]
                if job == 1234:
                    lines[1]["unit_price"] = None
                inv = Invoice(job, lines)
                return apply_discount(inv, random.choice(["SPRING", "VIP"]))

            for job in range(1100, 1400):
                log.info("picked job %d from queue billing (attempt 1)", job)
                try:
                    amount = process(job)
                    log.info("job %d done: invoice total %.2f", job, amount)
                except Exception:
                    log.exception("job %d failed", job)
                if job % 50 == 0:
                    log.warning("queue billing lag %d ms", random.randint(200, 900))
            """
        )
    )
    return sh(f"{sys.executable} {script}").replace(str(tmp), "/srv/billing")


def junit_xml(tmp: Path) -> str:
    d = tmp / "jt"
    d.mkdir()
    body = ["import pytest", ""]
    for i in range(45):
        body.append(f"def test_roundtrip_{i}():\n    assert int(str({i})) == {i}\n")
    body.append(
        "def test_discount_vip():\n    price, rate = 100, 0.2\n"
        "    assert round(price * (1 - rate), 2) == 85.0, 'VIP discount should be 15%'\n"
    )
    body.append("@pytest.mark.skip(reason='flaky on CI')\ndef test_network():\n    pass\n")
    (d / "test_billing.py").write_text("\n".join(body))
    sh(f"{VENV / 'python'} -m pytest -q -p no:cacheprovider --junitxml=report.xml", cwd=d)
    xml = (d / "report.xml").read_text()
    xml = re.sub(r'timestamp="[^"]+"', 'timestamp="2026-12-06T03:13:18"', xml)
    xml = re.sub(r'time="[\d.]+"', 'time="0.001"', xml)
    xml = re.sub(r'hostname="[^"]+"', 'hostname="ci-runner-7"', xml)
    # pytest writes one line; CI tools and agents pretty-print it (xmllint --format).
    from xml.dom import minidom

    return minidom.parseString(xml).toprettyxml(indent="  ").replace(str(d), "/home/dev/billing")


def sqlite_dump(tmp: Path) -> str:
    db = tmp / "shop.db"
    stmts = [
        "CREATE TABLE customers (\n  id INTEGER PRIMARY KEY,\n  email TEXT NOT NULL UNIQUE,\n"
        "  name TEXT,\n  created_at TEXT DEFAULT CURRENT_TIMESTAMP\n);",
        "CREATE TABLE products (\n  id INTEGER PRIMARY KEY,\n  sku TEXT NOT NULL UNIQUE,\n"
        "  title TEXT NOT NULL,\n  price_cents INTEGER NOT NULL CHECK (price_cents >= 0)\n);",
        "CREATE TABLE orders (\n  id INTEGER PRIMARY KEY,\n"
        "  customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,\n"
        "  status TEXT NOT NULL DEFAULT 'pending',\n  total_cents INTEGER NOT NULL,\n"
        "  placed_at TEXT NOT NULL\n);",
        "CREATE TABLE order_items (\n  order_id INTEGER NOT NULL REFERENCES orders(id),\n"
        "  product_id INTEGER NOT NULL REFERENCES products(id),\n  qty INTEGER NOT NULL,\n"
        "  PRIMARY KEY (order_id, product_id)\n);",
        "CREATE INDEX idx_orders_customer ON orders(customer_id);",
    ]
    import random
    import sqlite3

    rnd = random.Random(3)
    con = sqlite3.connect(db)
    for s in stmts:
        con.execute(s)
    for i in range(1, 41):
        con.execute("INSERT INTO customers VALUES (?,?,?,?)",
                    (i, f"user{i}@example.com", f"User {i}", f"2026-0{1 + i % 9}-1{i % 9} 10:00:00"))  # fmt: skip
    for i in range(1, 31):
        con.execute("INSERT INTO products VALUES (?,?,?,?)",
                    (i, f"SKU-{1000 + i}", f"Widget model {i}", rnd.randint(199, 9999)))  # fmt: skip
    for i in range(1, 81):
        st = rnd.choice(["pending", "paid", "shipped"])
        con.execute("INSERT INTO orders VALUES (?,?,?,?,?)",
                    (i, rnd.randint(1, 40), st, rnd.randint(500, 50000), f"2026-11-{1 + i % 28:02d}"))  # fmt: skip
        con.execute(
            "INSERT OR IGNORE INTO order_items VALUES (?,?,?)", (i, rnd.randint(1, 30), rnd.randint(1, 4))
        )
    con.commit()
    con.close()
    return sh(f"sqlite3 {db} .dump")


def kubectl_deploy(tmp: Path) -> str:
    """kubectl's own client-side YAML (deployment + service), no cluster needed."""
    a = sh("kubectl create deployment web --image=registry.example.com/web:1.8.2 --replicas=3 --port=8080 "
           "--dry-run=client -o yaml")  # fmt: skip
    b = sh("kubectl create service clusterip web --tcp=80:8080 --dry-run=client -o yaml")
    return a + "---\n" + b


# ---------------------------------------------------------------- synthesized outputs


def pods_yaml(tmp: Path) -> str:
    """``kubectl get pods -o yaml``: a List of pods, one of them crash-looping (OOMKilled)."""
    items = []
    names = (
        [f"api-7d9f8c6b5-{s}" for s in ("a1b2c", "d3e4f", "xk2pq", "m8n9r")]
        + [f"worker-5f6c7d8e9-{s}" for s in ("q1w2e", "r3t4y", "u5i6o")]
        + [f"web-6b7c8d9f0-{s}" for s in ("z9x8c", "v7b6n", "h5j4k", "l3k2j")]
    )
    for n, name in enumerate(names):
        app = name.split("-")[0]
        bad = name.endswith("xk2pq")
        state = (
            "      state:\n        waiting:\n          message: back-off 5m0s restarting failed container=api "
            f"pod={name}_prod(0c1d2e3f-4a5b-6c7d-8e9f-{n:012d})\n          reason: CrashLoopBackOff\n"
            "      lastState:\n        terminated:\n          containerID: containerd://9f8e7d6c5b4a\n"
            '          exitCode: 137\n          finishedAt: "2026-12-06T03:10:02Z"\n          reason: OOMKilled\n'
            '          startedAt: "2026-12-06T03:09:41Z"\n'
            if bad
            else '      state:\n        running:\n          startedAt: "2026-12-05T21:04:11Z"\n      lastState: {}\n'
        )
        items.append(
            f"""- apiVersion: v1
  kind: Pod
  metadata:
    creationTimestamp: "2026-12-05T21:03:5{n % 10}Z"
    generateName: {name.rsplit("-", 1)[0]}-
    labels:
      app: {app}
      pod-template-hash: {name.split("-")[1]}
    name: {name}
    namespace: prod
    ownerReferences:
    - apiVersion: apps/v1
      blockOwnerDeletion: true
      controller: true
      kind: ReplicaSet
      name: {name.rsplit("-", 1)[0]}
      uid: 5a6b7c8d-1e2f-3a4b-5c6d-{n:012d}
    resourceVersion: "{884120 + n * 17}"
    uid: 0c1d2e3f-4a5b-6c7d-8e9f-{n:012d}
  spec:
    containers:
    - env:
      - name: LOG_LEVEL
        value: info
      - name: DATABASE_URL
        valueFrom:
          secretKeyRef:
            key: url
            name: {app}-db
      image: registry.example.com/{app}:1.8.2
      imagePullPolicy: IfNotPresent
      name: {app}
      ports:
      - containerPort: 8080
        protocol: TCP
      readinessProbe:
        failureThreshold: 3
        httpGet:
          path: /healthz
          port: 8080
          scheme: HTTP
        periodSeconds: 10
      resources:
        limits:
          cpu: 500m
          memory: {"256Mi" if app == "api" else "512Mi"}
        requests:
          cpu: 100m
          memory: 128Mi
      terminationMessagePath: /dev/termination-log
      volumeMounts:
      - mountPath: /var/run/secrets/kubernetes.io/serviceaccount
        name: kube-api-access-{n:05d}
        readOnly: true
    dnsPolicy: ClusterFirst
    nodeName: node-{n % 3 + 1}.prod.internal
    restartPolicy: Always
    schedulerName: default-scheduler
    serviceAccountName: default
  status:
    conditions:
    - lastTransitionTime: "2026-12-05T21:03:59Z"
      status: "True"
      type: Initialized
    - lastTransitionTime: "2026-12-06T03:10:02Z"
      status: "{"False" if bad else "True"}"
      type: Ready
    containerStatuses:
    - containerID: containerd://{n:02d}ab34cd56ef
      image: registry.example.com/{app}:1.8.2
      imageID: registry.example.com/{app}@sha256:{n:02d}4f1e2d3c4b5a69788796a5b4c3d2e1f0
{state.replace(chr(10) + "      ", chr(10) + "      ")}      name: {app}
      ready: {"false" if bad else "true"}
      restartCount: {14 if bad else 0}
      started: {"false" if bad else "true"}
    hostIP: 10.0.{n % 3}.{10 + n}
    phase: Running
    podIP: 10.244.{n % 3}.{30 + n}
    qosClass: Burstable
    startTime: "2026-12-05T21:03:59Z"
"""
        )
    return "apiVersion: v1\nitems:\n" + "".join(items) + 'kind: List\nmetadata:\n  resourceVersion: ""\n'


def describe_pod(tmp: Path) -> str:
    return textwrap.dedent(
        """\
        Name:             worker-5f6c7d8e9-q1w2e
        Namespace:        prod
        Priority:         0
        Service Account:  default
        Node:             node-2.prod.internal/10.0.1.12
        Start Time:       Sun, 06 Dec 2026 03:01:12 +0000
        Labels:           app=worker
                          pod-template-hash=5f6c7d8e9
        Annotations:      kubectl.kubernetes.io/restartedAt: 2026-12-06T03:00:58Z
        Status:           Pending
        IP:               10.244.1.41
        IPs:
          IP:           10.244.1.41
        Controlled By:  ReplicaSet/worker-5f6c7d8e9
        Containers:
          worker:
            Container ID:
            Image:          registry.example.com/worker:1.9.0-rc1
            Image ID:
            Port:           9000/TCP
            Host Port:      0/TCP
            Args:
              --queue=billing
              --concurrency=4
            State:          Waiting
              Reason:       ImagePullBackOff
            Ready:          False
            Restart Count:  0
            Limits:
              cpu:     1
              memory:  512Mi
            Requests:
              cpu:      250m
              memory:   256Mi
            Liveness:   http-get http://:9000/healthz delay=10s timeout=1s period=10s #success=1 #failure=3
            Readiness:  http-get http://:9000/ready delay=5s timeout=1s period=10s #success=1 #failure=3
            Environment:
              LOG_LEVEL:     info
              QUEUE_URL:     <set to the key 'url' in secret 'worker-queue'>  Optional: false
              DATABASE_URL:  <set to the key 'url' in secret 'worker-db'>     Optional: false
              OTEL_EXPORTER_OTLP_ENDPOINT:  http://otel-collector.observability:4317
            Mounts:
              /etc/worker from config (ro)
              /var/run/secrets/kubernetes.io/serviceaccount from kube-api-access-8kq2d (ro)
        Conditions:
          Type                        Status
          PodReadyToStartContainers   True
          Initialized                 True
          Ready                       False
          ContainersReady             False
          PodScheduled                True
        Volumes:
          config:
            Type:      ConfigMap (a volume populated by a ConfigMap)
            Name:      worker-config
            Optional:  false
          kube-api-access-8kq2d:
            Type:                    Projected (a volume that contains injected data from multiple sources)
            TokenExpirationSeconds:  3607
            ConfigMapName:           kube-root-ca.crt
            ConfigMapOptional:       <nil>
            DownwardAPI:             true
        QoS Class:                   Burstable
        Node-Selectors:              <none>
        Tolerations:                 node.kubernetes.io/not-ready:NoExecute op=Exists for 300s
                                     node.kubernetes.io/unreachable:NoExecute op=Exists for 300s
        Events:
          Type     Reason     Age                  From               Message
          ----     ------     ----                 ----               -------
          Normal   Scheduled  12m                  default-scheduler  Successfully assigned prod/worker-5f6c7d8e9-q1w2e to node-2.prod.internal
          Normal   Pulling    10m (x4 over 12m)    kubelet            Pulling image "registry.example.com/worker:1.9.0-rc1"
          Warning  Failed     10m (x4 over 12m)    kubelet            Failed to pull image "registry.example.com/worker:1.9.0-rc1": rpc error: code = NotFound desc = failed to pull and unpack image "registry.example.com/worker:1.9.0-rc1": failed to resolve reference "registry.example.com/worker:1.9.0-rc1": registry.example.com/worker:1.9.0-rc1: not found
          Warning  Failed     10m (x4 over 12m)    kubelet            Error: ErrImagePull
          Normal   BackOff    2m (x42 over 12m)    kubelet            Back-off pulling image "registry.example.com/worker:1.9.0-rc1"
          Warning  Failed     2m (x42 over 12m)    kubelet            Error: ImagePullBackOff
        """
    )


def compose(tmp: Path) -> str:
    svc = []
    for name, image, port in (
        ("api", "build: ./api", "8000:8000"), ("worker", "build: ./worker", None),
        ("web", "image: nginx:1.27-alpine", "8080:80"), ("redis", "image: redis:7.4-alpine", "6379:6379"),
        ("mailhog", "image: mailhog/mailhog:v1.0.1", "8025:8025"),
        ("otel-collector", "image: otel/opentelemetry-collector-contrib:0.115.0", "4317:4317"),
        ("jaeger", "image: jaegertracing/all-in-one:1.64", "16686:16686"),
        ("minio", "image: minio/minio:RELEASE.2024-11-07T00-52-20Z", "9000:9000"),
    ):  # fmt: skip
        env = ""
        if name in ("api", "worker"):
            env = (
                "    environment:\n      DATABASE_URL: postgresql://app:app@db:5432/shop\n"
                "      REDIS_URL: redis://redis:6379/0\n      S3_ENDPOINT: http://minio:9000\n"
                "      OTEL_EXPORTER_OTLP_ENDPOINT: http://otel-collector:4317\n      LOG_LEVEL: debug\n"
                "    depends_on:\n      db:\n        condition: service_healthy\n      redis:\n"
                "        condition: service_started\n"
            )
        ports = f'    ports:\n      - "{port}"\n' if port else ""
        cmd = "    command: celery -A shop.tasks worker -l info --concurrency 4\n" if name == "worker" else ""
        svc.append(
            f"  {name}:\n    {image}\n{cmd}{env}{ports}    restart: unless-stopped\n"
            f"    networks:\n      - backend\n    logging:\n      driver: json-file\n"
            f'      options:\n        max-size: "10m"\n        max-file: "3"\n'
        )
    db = (
        "  db:\n    image: postgres:16.4\n    environment:\n      POSTGRES_USER: app\n"
        '      POSTGRES_PASSWORD: app\n      POSTGRES_DB: shop\n    ports:\n      - "5433:5432"\n'
        "    volumes:\n      - pgdata:/var/lib/postgresql/data\n      - ./db/init:/docker-entrypoint-initdb.d:ro\n"
        '    healthcheck:\n      test: ["CMD-SHELL", "pg_isready -U app -d shop"]\n      interval: 5s\n'
        "      timeout: 3s\n      retries: 10\n    networks:\n      - backend\n"
    )
    return (
        'name: shop\n\nservices:\n' + svc[0] + db + "".join(svc[1:])
        + "\nvolumes:\n  pgdata:\n  miniodata:\n\nnetworks:\n  backend:\n    driver: bridge\n"
    )  # fmt: skip


def env_out(tmp: Path) -> str:
    """A developer shell's ``env`` (written by hand: the real one may hold secrets)."""
    rows = {
        "SHELL": "/bin/bash", "COLORTERM": "truecolor", "PYENV_SHELL": "bash", "HISTCONTROL": "ignoreboth",
        "HISTSIZE": "10000", "HOSTNAME": "devbox", "JAVA_HOME": "/usr/lib/jvm/java-17-openjdk-amd64",
        "LANGUAGE": "en_US:en", "PWD": "/home/dev/sidecar", "LOGNAME": "dev", "XDG_SESSION_TYPE": "tty",
        "MOTD_SHOWN": "pam", "HOME": "/home/dev", "LANG": "en_US.UTF-8",
        "LS_COLORS": "rs=0:di=01;34:ln=01;36:mh=00:pi=40;33:so=01;35:do=01;35:bd=40;33;01:cd=40;33;01:"
        "or=40;31;01:mi=00:su=37;41:sg=30;43:ca=00:tw=30;42:ow=34;42:st=37;44:ex=01;32:*.tar=01;31:"
        "*.tgz=01;31:*.arc=01;31:*.arj=01;31:*.taz=01;31:*.lha=01;31:*.lz4=01;31:*.lzh=01;31:*.lzma=01;31:"
        + ":".join(f"*.{e}=01;{c}" for c, es in ((31, "tlz txz tzo t7z zip z dz gz lrz lz lzo xz zst tzst bz2 bz tbz "
                   "tbz2 tz deb rpm jar war ear sar rar alz ace zoo cpio 7z rz cab wim swm dwm esd".split()),
                   (35, "avif jpg jpeg mjpg mjpeg gif bmp pbm pgm ppm tga xbm xpm tif tiff png svg svgz mng "
                   "pcx mov mpg mpeg m2v mkv webm webp ogm mp4 m4v mp4v vob qt nuv wmv asf rm rmvb flc avi "
                   "fli flv gl dl xcf xwd yuv cgm emf ogv ogx".split()),
                   (36, "aac au flac m4a mid midi mka mp3 mpc ogg ra wav oga opus spx xspf".split()))
                   for e in es),
        "VIRTUAL_ENV": "/home/dev/sidecar/.venv", "SSH_CONNECTION": "10.0.0.5 51234 10.0.0.9 22",
        "LESSCLOSE": "/usr/bin/lesspipe %s %s", "XDG_SESSION_CLASS": "user", "TERM": "xterm-256color",
        "LESSOPEN": "| /usr/bin/lesspipe %s", "USER": "dev", "SHLVL": "2", "NVM_DIR": "/home/dev/.nvm",
        "XDG_SESSION_ID": "42", "XDG_RUNTIME_DIR": "/run/user/1000", "SSH_CLIENT": "10.0.0.5 51234 22",
        "PYENV_ROOT": "/home/dev/.pyenv", "DEBUGINFOD_URLS": "https://debuginfod.ubuntu.com ",
        "XDG_DATA_DIRS": "/usr/local/share:/usr/share:/var/lib/snapd/desktop",
        "PATH": "/home/dev/sidecar/.venv/bin:/home/dev/.pyenv/shims:/home/dev/.pyenv/bin:/home/dev/.nvm/versions/"
        "node/v20.18.0/bin:/home/dev/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus", "SSH_TTY": "/dev/pts/0",
        "OLDPWD": "/home/dev", "EDITOR": "vim", "PAGER": "less", "GOPATH": "/home/dev/go",
        "SIDECAR_UPSTREAM_URL": "https://api.openai.com", "SIDECAR_PORT": "8787",
        "SIDECAR_MIN_CHARS_TO_PRUNE": "2000", "SIDECAR_LOG_LEVEL": "debug",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4317", "OTEL_SERVICE_NAME": "sidecar-dev",
        "PIP_INDEX_URL": "https://pypi.org/simple", "UV_CACHE_DIR": "/home/dev/.cache/uv",
        "DOCKER_HOST": "unix:///run/user/1000/docker.sock", "KUBECONFIG": "/home/dev/.kube/config",
        "AWS_PROFILE": "dev", "AWS_REGION": "eu-west-1", "TZ": "UTC", "_": "/usr/bin/env",
    }  # fmt: skip
    return "".join(f"{k}={v}\n" for k, v in rows.items())


def go_test(tmp: Path) -> str:
    """``go test -v ./...`` (written by hand: no Go toolchain here), one failing subtest."""
    out = []
    for pkg, tests in (("config", 9), ("store", 12), ("httpapi", 14)):
        for i in range(tests):
            name = f"Test{pkg.capitalize()}Case{i}"
            out.append(f"=== RUN   {name}")
            if pkg == "httpapi" and i == 6:
                out.append("=== RUN   TestHttpapiCase6/rejects_expired_token")
                out.append("=== RUN   TestHttpapiCase6/accepts_fresh_token")
                out.append("    handler_test.go:88: status = 401, want 200")
                out.append('    handler_test.go:89: body = {"error":"token expired"}')
                out.append(f"--- FAIL: {name} (0.01s)")
                out.append("    --- PASS: TestHttpapiCase6/rejects_expired_token (0.00s)")
                out.append("    --- FAIL: TestHttpapiCase6/accepts_fresh_token (0.00s)")
            else:
                out.append(f"--- PASS: {name} (0.0{i % 10}s)")
        if pkg == "httpapi":
            out += ["FAIL", f"FAIL\texample.com/shop/internal/{pkg}\t0.412s"]
        else:
            out += ["PASS", f"ok  \texample.com/shop/internal/{pkg}\t0.1{tests}s"]
    out.append("FAIL")
    return "\n".join(out) + "\n"


def tsc_out(tmp: Path) -> str:
    """``tsc --noEmit`` (written by hand: no TypeScript here)."""
    files = ["src/api/client.ts", "src/api/types.ts", "src/components/Cart.tsx", "src/components/Checkout.tsx",
             "src/store/cart.ts", "src/utils/money.ts", "src/pages/orders.tsx"]  # fmt: skip
    msgs = [
        "error TS2322: Type 'string | undefined' is not assignable to type 'string'.",
        "error TS2345: Argument of type 'number' is not assignable to parameter of type 'string'.",
        "error TS7006: Parameter 'item' implicitly has an 'any' type.",
        "error TS2339: Property 'quantity' does not exist on type 'CartLine'.",
        "error TS6133: 'useEffect' is declared but its value is never read.",
    ]
    out = []
    for i in range(38):
        f = files[i % len(files)]
        out.append(f"{f}({10 + i * 7 % 90},{3 + i % 20}): {msgs[i % len(msgs)]}")
        if i % 5 == 3:
            out.append("  Type 'undefined' is not assignable to type 'string'.")
    out.append("src/utils/money.ts(42,10): error TS2554: Expected 2 arguments, but got 1.")
    out.append("")
    out.append(f"Found {len(out)} errors in {len(files)} files.")
    out.append("")
    out.append("Errors  Files")
    for f in files:
        out.append(f"     {5 + len(f) % 3}  {f}:10")
    return "\n".join(out) + "\n"


def eslint_out(tmp: Path) -> str:
    """``eslint src`` in its default stylish format (written by hand)."""
    rules = [("error", "'useState' is defined but never used", "no-unused-vars"),
             ("warning", "Unexpected console statement", "no-console"),
             ("error", "React Hook useEffect has a missing dependency: 'load'", "react-hooks/exhaustive-deps"),
             ("error", "Expected '===' and instead saw '=='", "eqeqeq"),
             ("warning", "Missing return type on function", "@typescript-eslint/explicit-function-return-type")]  # fmt: skip
    files = ["/home/dev/shop/src/api/client.ts", "/home/dev/shop/src/components/Cart.tsx",
             "/home/dev/shop/src/components/Checkout.tsx", "/home/dev/shop/src/store/cart.ts",
             "/home/dev/shop/src/utils/money.ts", "/home/dev/shop/src/pages/orders.tsx"]  # fmt: skip
    out, k = [], 0
    for f in files:
        out.append(f)
        for j in range(7):
            sev, msg, rule = rules[(k + j) % len(rules)]
            if f.endswith("Checkout.tsx") and j == 4:
                sev, msg, rule = (
                    "error",
                    "'total' is possibly 'undefined'",
                    "@typescript-eslint/no-unsafe-argument",
                )
            out.append(f"  {10 + j * 11}:{5 + j}  {sev:<7}  {msg}  {rule}")
        k += 3
        out.append("")
    out.append("\u2716 42 problems (25 errors, 17 warnings)")
    out.append("  6 errors and 0 warnings potentially fixable with the `--fix` option.")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- file contents


def pom(tmp: Path) -> str:
    return Path(
        "/root/.m2/repository/io/netty/netty-parent/4.1.118.Final/netty-parent-4.1.118.Final.pom"
    ).read_text()


def html_page(tmp: Path) -> str:
    return Path("/usr/share/doc/python3/python-policy.html").read_text()


def mkdocs_md(tmp: Path) -> str:
    return git_show("mkdocs+mkdocs", "docs/user-guide/configuration.md")


def workflow(tmp: Path) -> str:
    return git_show("tox-dev+tox", ".github/workflows/check.yaml")


def pyproject(tmp: Path) -> str:
    return git_show("tox-dev+tox", "pyproject.toml")


def tox_ini(tmp: Path) -> str:
    return git_show("falconry+falcon", "tox.ini")


# ---------------------------------------------------------------- the cases

# name, maker, real?, command (the call's hint), task, gold regexes
SPECS: list[tuple[str, Callable[[Path], str], bool, str, str, list[str]]] = [
    ("curl -v SSE stream", curl_sse, True,
     "curl -sNv http://127.0.0.1:8000/v1/chat/completions -d @req.json 2>&1",
     "Check that the streamed chat completion ends with a usage chunk and the [DONE] sentinel.",
     [r'"usage":\{"prompt_tokens"', r"^data: \[DONE\]", r"^< HTTP/1.1 200"]),
    ("curl -v + pretty JSON", curl_pretty, True,
     "curl -v http://127.0.0.1:8000/inventory.json | python3 -m json.tool",
     "Which version of msgspec is in the installed inventory the server returns?",
     [r'^\s+"name": "msgspec",$', r'^\s+"version": "0\.\d+\.\d+",$(?<=msgspec_version_placeholder)']),
    ("kubectl get pods -o yaml", pods_yaml, False, "kubectl get pods -n prod -o yaml",
     "Why is the api pod api-7d9f8c6b5-xk2pq restarting?",
     [r"reason: CrashLoopBackOff", r"reason: OOMKilled", r"exitCode: 137", r"restartCount: 14",
      r"^    name: api-7d9f8c6b5-xk2pq"]),
    ("kubectl describe pod", describe_pod, False, "kubectl describe pod worker-5f6c7d8e9-q1w2e -n prod",
     "Why is the worker pod stuck and not starting?",
     [r"Reason:\s+ImagePullBackOff", r"Failed to pull image .*not found", r"^Status:\s+Pending"]),
    ("docker-compose.yml", compose, False, "cat docker-compose.yml",
     "Which host port is postgres published on, and what DATABASE_URL does the api service get?",
     [r'"5433:5432"', r"^  api:", r"^  db:", r"1:DATABASE_URL"]),
    ("GitHub workflow", workflow, True, "cat .github/workflows/check.yaml",
     "Which Python versions does the CI test matrix run the tox test suite on?",
     [r'^          - "3\.1\d"', r"^        py:$"]),
    ("pip list", pip_list, True, "pip list", "Which version of aiohttp is installed in the venv?",
     [r"^aiohttp\s"]),
    ("pip freeze", pip_freeze, True, "pip freeze", "Which version of msgspec is pinned in the environment?",
     [r"^msgspec=="]),
    ("pip show -f", pip_show, True, "pip show -f aiohttp",
     "Where is aiohttp installed and which packages does it require?",
     [r"^Location:", r"^Requires:", r"^Version:"]),
    ("ps aux", ps_aux, True, "ps aux", "Is the sleep 4242 job still running, and what is its PID?",
     [r"sleep 4242", r"^USER\s+PID"]),
    ("env", env_out, False, "env", "Which Python virtualenv and which sidecar port are configured in this shell?",
     [r"^VIRTUAL_ENV=", r"^SIDECAR_PORT="]),
    ("git status", git_status, True, "git status",
     "Did I forget to stage my change to httpx/_config.py, and is the new retry transport tracked?",
     [r"modified:\s+httpx/_config\.py", r"httpx/_transports/retry\.py", r"^Changes not staged",
      r"^Untracked files"]),
    ("git log --stat", git_log_stat, True, "git log --stat -n 40",
     "Which recent commits changed httpx/_transports/default.py, and what were their messages?",
     [r"^ httpx/_transports/default\.py"]),
    ("mypy --strict", mypy_out, True, "mypy --strict tqdm/",
     "Fix the mypy errors reported in tqdm/contrib/discord.py.", [r"^tqdm/contrib/discord\.py:\d+: error"]),
    ("mypy --strict (pretty)", mypy_pretty, True, "mypy --strict arrow/",
     "Fix the mypy errors reported in arrow/parser.py.", [r"^arrow/parser\.py:\d+: error"]),
    ("ruff check", ruff_out, True, "ruff check lark/",
     "Fix the B904 findings: raise ... from err inside except blocks.", [r"^B904"]),
    ("gcc via make -k", gcc_make, True, "make -k",
     "Fix the compile errors so the server builds.", [r"error:", r"^make: \*\*\*"]),
    ("cargo test", cargo_test, True, "cargo test",
     "Why does the rejects_negative test fail?",
     [r"panicked at", r"left: Err\(Syntax\)", r"right: Err\(Range\)", r"^    tests::rejects_negative$"]),
    ("go test -v", go_test, False, "go test -v ./...",
     "Why does the TestHttpapiCase6 test fail?",
     [r"handler_test\.go:8[89]", r"--- FAIL: TestHttpapiCase6/accepts_fresh_token"]),
    ("tsc --noEmit", tsc_out, False, "npx tsc --noEmit",
     "Fix the TypeScript errors in src/utils/money.ts.", [r"^src/utils/money\.ts\("]),
    ("eslint stylish", eslint_out, False, "npx eslint src",
     "Fix the eslint errors in Checkout.tsx.",
     [r"Checkout\.tsx$", r"'total' is possibly 'undefined'"]),
    ("traceback in long log", py_traceback_log, True, "python worker.py",
     "Why did the billing worker fail on job 1234?",
     [r"job 1234 failed", r"^TypeError", r'line 12, in total', r"^Traceback"]),
    ("JUnit XML (pretty)", junit_xml, True, "cat report.xml",
     "Which test failed in the JUnit report and why?",
     [r'testcase .*name="test_discount_vip"', r"<failure message=.*VIP discount"]),
    ("sqlite .dump", sqlite_dump, True, "sqlite3 shop.db .dump",
     "What columns and foreign keys does the orders table have?",
     [r"^CREATE TABLE orders", r"^  customer_id INTEGER NOT NULL REFERENCES", r"^  status TEXT",
      r"^  total_cents", r"^  placed_at"]),
    ("maven pom.xml", pom, True, "cat pom.xml",
     "Which version of brotli4j does this netty build depend on?",
     [r"<brotli4j\.version>", r"<artifactId>brotli4j</artifactId>"]),
    ("HTML page", html_page, True, "curl -s file:///usr/share/doc/python3/python-policy.html",
     "Where must public Python modules be installed according to the Debian Python policy?",
     [r"/usr/lib/python3/dist-packages"]),
    ("Markdown doc", mkdocs_md, True, "cat docs/user-guide/configuration.md",
     "What does the use_directory_urls setting do and what is its default?",
     [r"^### use_directory_urls", r"\*\*default\*\*: `true`(?=.*)(?<=.)"]),
    ("pyproject.toml", pyproject, True, "cat pyproject.toml",
     "Which pytest options (addopts, filterwarnings) does tox configure?",
     [r"^\[tool\.pytest", r"addopts", r"filterwarnings"]),
    ("tox.ini", tox_ini, True, "cat tox.ini",
     "What does the mypy tox environment install and run?",
     [r"^\[testenv:mypy\]", r"^deps = mypy$", r"^\s+types-jsonschema", r"^commands = python .*clean", r"^\s+mypy --strict falcon"]),
]  # fmt: skip


def gold_lines(text: str, patterns: list[str]) -> list[int]:
    lines = text.split("\n")
    gold: set[int] = set()
    for p in patterns:
        if p.startswith("@L"):
            gold.add(int(p[2:]))
            continue
        first, p = p.startswith("1:"), p.removeprefix("1:")
        hit = [i + 1 for i, line in enumerate(lines) if re.search(p, line)][: 1 if first else None]
        if not hit:
            raise SystemExit(f"gold pattern matches nothing: {p!r}")
        gold.update(hit)
    return sorted(gold)


def make(only: set[str] | None) -> None:
    CASES.parent.mkdir(parents=True, exist_ok=True)
    old = {}
    if CASES.exists():
        old = {c["name"]: c for c in map(json.loads, gzip.open(CASES, "rt"))}
    out = []
    for name, fn, real, cmd, task, pats in SPECS:
        if only and name not in only and name in old:
            out.append(old[name])
            continue
        tmp = Path(tempfile.mkdtemp(prefix="tool-outputs-"))
        try:
            text = fn(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        pats = fix_patterns(name, text, pats)
        try:
            gold = gold_lines(text, pats)
        except SystemExit as e:
            print(f"{name}: {e}", file=sys.stderr)
            gold = []
        out.append({"name": name, "real": real, "tool": cmd, "task": task, "text": text, "gold_lines": gold})
        print(f"{name}: {len(text)} chars, {text.count(chr(10))} lines, {len(gold)} gold", file=sys.stderr)
    with open(CASES, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write("".join(json.dumps(c) + "\n" for c in out).encode())


def fix_patterns(name: str, text: str, pats: list[str]) -> list[str]:
    """Gold that depends on the generated text (the version line under msgspec's name)."""
    if name == "curl -v + pretty JSON":
        lines = text.split("\n")
        i = next(i for i, line in enumerate(lines) if re.search(pats[0], line))
        j = next(j for j in range(i, i + 10) if '"version":' in lines[j])
        return [pats[0], f"@L{j + 1}"]
    if name == "git log --stat":  # each such commit's hash line and subject too
        lines = text.split("\n")
        out = []
        for i, line in enumerate(lines):
            if re.search(pats[0], line):
                c = max(k for k in range(i) if lines[k].startswith("commit "))
                out += [f"@L{i + 1}", f"@L{c + 1}", f"@L{c + 5}"]
        return out
    if name == "tox.ini":  # the mypy env's own lines (other envs have "deps = mypy" too)
        i = text.split("\n").index("[testenv:mypy]")
        return [f"@L{i + 1}"] + [f"@L{i + k}" for k in (4, 5, 6, 7)]
    if name == "ruff check":
        lines = text.split("\n")
        return [pats[0]] + [
            "^" + re.escape(lines[i + 1]) + "$"
            for i, line in enumerate(lines[:-1])
            if re.search(pats[0], line)
        ]
    if name == "Markdown doc":  # the first "**default**: `true`" after the setting's heading
        lines = text.split("\n")
        i = next(i for i, line in enumerate(lines) if re.search(pats[0], line))
        j = next(j for j in range(i, len(lines)) if lines[j].startswith("**default**: `true`"))
        return [pats[0], r"^The default style of `use_directory_urls", f"@L{j + 1}"]
    return pats


def main() -> None:
    ap = argparse.ArgumentParser(description="rebuild the tool-output cases")
    ap.add_argument("--only", default="", help="rebuild only these cases (comma-separated names)")
    make({s for s in ap.parse_args().only.split(",") if s} or None)


if __name__ == "__main__":
    main()
