#!/usr/bin/env python3
# ruff: noqa: E501  (realistic tool outputs written inline have long lines)
"""The tool-output cases of ``tool_outputs.py``: how each output is made, its task and its gold lines.

usage: tool_output_cases.py [--only NAME,...]              # rebuild bench/data/tool_outputs/cases.jsonl.gz
       tool_output_cases.py --heldout [--only NAME,...]    # build the held-out cases into heldout/

Each case is the command an agent would run (its hint, as the proxy's ``call_hints`` reads it), a task
sentence, the output text and its gold lines (regexes: every line one matches is gold, each must match
one). ``real`` says whether the text comes from running the command here or was written by hand:
``curl -v`` against the package's fake upstream and a local http.server, ``pip``, ``ps``, ``git``
(``git status``, ``git log --stat`` of a mirrored httpx), ``mypy``/``ruff`` over mirrored projects
(tqdm, arrow, lark), ``gcc``/``make`` and ``cargo`` on small broken programs, pytest's JUnit XML,
``sqlite3 .dump``, files of mirrored projects (a netty pom, tox's workflow, falcon's tox.ini, mkdocs'
docs); Kubernetes outputs, ``env``, ``go test -v``, ``tsc`` and ``eslint`` are written by hand (no
cluster or toolchain here). A second survey added ``npm`` (an ERESOLVE debug log, ``npm ci`` out of sync,
a package-lock.json from the registry), pip's resolver, pytest ``-l`` and ``--durations``, ``coverage
report`` (lark), warnings, ``git blame``/``branch -vv``/``reflog``, ``strace``, ``sqlite3 -column``,
``openssl x509``, ``terraform plan`` (built-in resources), a Makefile, a CHANGELOG and a poetry.lock of
mirrored projects; a journal, an nginx access log, ``lsof``, a BuildKit log, a CSV file and a notebook
are written by hand (seeded). Rebuilding needs those tools and the mirrors (``/work/.mirror``, fetched
from GitHub): the stored cases are what ``tool_outputs.py`` scores, and a rebuild changes the few
outputs that carry times or process ids.

``HELDOUT_SPECS`` (``--heldout``) is a third survey kept apart, in ``heldout/cases.jsonl.gz`` (outside the
default glob), to be scored once as a fresh measure: npm outdated/ls (registry), jest, eslint's JSON, du,
pytest's collection, cProfile, valgrind, git shortlog/cherry and PostgreSQL's EXPLAIN ANALYZE are real;
docker ps, kubectl events, npm audit, mvn dependency:tree, gradle, gh run/issue, aws JSON and ss are
written by hand. Its builds also need npm with the registry, gcc, valgrind and PostgreSQL 15 (run as the
``postgres`` user).
"""

from __future__ import annotations

import argparse
import contextlib
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
from collections.abc import Callable, Iterator
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


def git(repo: str, args: str) -> str:
    """A git command on a mirrored repository (``/work/.mirror``: bare, no work tree)."""
    return sh(f"git --git-dir={MIRROR / repo / 'repo'} {args}")


def git_show(repo: str, path: str) -> str:
    return git(repo, f"show HEAD:{path}")


def checkout(repo: str, dest: Path) -> Path:
    """Extract the mirror's HEAD tree into ``dest`` (bare mirrors have no work tree)."""
    dest.mkdir(parents=True, exist_ok=True)
    git(repo, f"archive HEAD | tar -x -C {dest}")
    return dest


def sdist(name: str, version: str, tmp: Path, pip: Path) -> Path:
    """The PyPI sdist of ``name==version``, downloaded with ``pip`` and unpacked under ``tmp``."""
    sh(f"{pip} download -q --no-deps --no-binary :all: -d {tmp} {name}=={version} 2>/dev/null")
    sh(f"tar --no-same-owner -xzf {tmp / f'{name}-{version}.tar.gz'} -C {tmp}")
    return tmp / f"{name}-{version}"


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
    return git("encode+httpx", "log --stat -n 40")


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


# ---------------------------------------------------------------- second survey: more tools agents run


def npm_env(tmp: Path) -> dict[str, str]:
    """npm with its cache and logs in ``tmp`` (the user's ~/.npm left alone)."""
    return {"npm_config_cache": str(tmp / "npm-cache"), "npm_config_logs_dir": str(tmp / "npm-logs"),
            "npm_config_audit": "false", "npm_config_fund": "false", "npm_config_update_notifier": "false"}  # fmt: skip


def npm_eresolve_log(tmp: Path) -> str:
    """The debug log npm points to after an ERESOLVE peer conflict (React 18 vs a library wanting <18)."""
    d = tmp / "shop-ui"
    d.mkdir()
    (d / "package.json").write_text(
        '{"name":"shop-ui","version":"1.0.0","private":true,'
        '"dependencies":{"react":"^18.2.0","react-dom":"^18.2.0","react-scripts":"5.0.1"}}\n'
    )
    sh("npm install react-query@3 @testing-library/react@12", cwd=d, env=npm_env(tmp))
    log = next((tmp / "npm-logs").glob("*debug-0.log")).read_text()
    return log.replace(str(tmp / "npm-logs"), "/home/dev/.npm/_logs").replace(str(d), "/home/dev/shop-ui")


def npm_lock_project(tmp: Path) -> Path:
    d = tmp / "shop-api"
    d.mkdir()
    (d / "package.json").write_text('{"name":"shop-api","version":"1.0.0","private":true}\n')
    sh("npm install --package-lock-only express@4 body-parser@1 jsonwebtoken@9 pg@8 dotenv@16", cwd=d,
       env=npm_env(tmp))  # fmt: skip
    return d


def npm_ci_sync(tmp: Path) -> str:
    """``npm ci`` after package.json gained deps (and a pg downgrade) the lock file does not have."""
    d = npm_lock_project(tmp)
    pkg = json.loads((d / "package.json").read_text())
    pkg["dependencies"].update({"lodash": "^4.17.21", "pg": "^7.0.0", "axios": "^1.6.0"})
    (d / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")
    return sh("npm ci", cwd=d, env=npm_env(tmp))


def package_lock(tmp: Path) -> str:
    return (npm_lock_project(tmp) / "package-lock.json").read_text()


def pip_conflict(tmp: Path) -> str:
    """pip's resolver on a requirements file whose starlette pin contradicts fastapi's (a clean venv)."""
    sh(f"{sys.executable} -m venv {tmp / 'venv'}")
    (tmp / "requirements.txt").write_text(
        "fastapi==0.110.0\nstarlette==0.27.0\nuvicorn[standard]==0.29.0\npydantic==2.6.4\n"
        "sqlalchemy==2.0.29\nalembic==1.13.1\npsycopg2-binary==2.9.9\nrequests==2.31.0\n"
        "python-dotenv==1.0.1\njinja2==3.1.3\nhttpx==0.27.0\nredis==5.0.3\ncelery==5.3.6\n"
    )
    out = sh(f"{tmp / 'venv/bin/pip'} install --dry-run --ignore-installed --no-cache-dir -r requirements.txt",
             cwd=tmp)  # fmt: skip
    # This machine's pip config names a local index that does not exist: its warnings are not pip's output.
    return "".join(ln for ln in out.splitlines(True) if not ln.startswith("WARNING: Location"))


def billing_tests(d: Path, n: int) -> None:
    """A small billing package and ``n`` passing tests, plus one failing deep in a call chain."""
    d.mkdir()
    (d / "billing.py").write_text(
        textwrap.dedent(
            """\
            from dataclasses import dataclass, field

            RATES = {"SPRING": 0.10, "VIP": 0.20, "STAFF": 0.30}


            @dataclass
            class Line:
                sku: str
                qty: int
                unit_cents: int


            @dataclass
            class Invoice:
                customer: str
                lines: list[Line] = field(default_factory=list)
                code: str | None = None

                def subtotal(self) -> int:
                    return sum(line.qty * line.unit_cents for line in self.lines)


            def discount_cents(inv: Invoice) -> int:
                rate = RATES.get(inv.code or "", 0.0)
                return round(inv.subtotal() * rate)


            def tax_cents(amount: int, region: str) -> int:
                vat = {"DE": 19, "FR": 20, "NL": 21}[region]
                return amount * vat // 100


            def total_cents(inv: Invoice, region: str) -> int:
                net = inv.subtotal() - discount_cents(inv)
                return net + tax_cents(net, region)
            """
        )
    )
    tests = ["import time", "from billing import Invoice, Line, total_cents, discount_cents", ""]
    for i in range(n):
        tests.append(
            f"def test_total_region_{i}():\n    inv = Invoice('c{i}', [Line('sku{i}', {i % 5 + 1}, {100 + i})])\n"
            f"    assert total_cents(inv, 'DE') == inv.subtotal() * 119 // 100\n"
        )
    tests.append(
        "def test_vip_total_with_two_lines():\n"
        "    inv = Invoice('acme', [Line('pen', 3, 250), Line('ink', 2, 1199)], code='VIP')\n"
        "    expected = 3426\n"
        "    assert total_cents(inv, 'NL') == expected\n"
    )
    tests.append(
        "def test_unknown_region():\n    inv = Invoice('x', [Line('pen', 1, 100)])\n"
        "    assert total_cents(inv, 'BE') == 121\n"
    )
    (d / "test_billing.py").write_text("\n".join(tests))


def pytest_long_locals(tmp: Path) -> str:
    d = tmp / "billing"
    billing_tests(d, 60)
    out = sh(f"{VENV / 'python'} -m pytest -p no:cacheprovider --tb=long -l -v", cwd=d)
    out = out.replace(str(REPO), "/home/dev/billing")
    return re.sub(r"\d+\.\d\ds", "0.42s", out).replace(str(d), "/home/dev/billing")


def pytest_durations(tmp: Path) -> str:
    """pytest -q --durations=15 over a suite with a few slow tests (sleeps) among fast ones."""
    d = tmp / "svc"
    d.mkdir()
    body = ["import time, pytest", ""]
    slow = {7: 0.9, 23: 0.45, 41: 0.3}
    for i in range(60):
        nap = slow.get(i, 0.002 * (i % 4))
        body.append(f"def test_endpoint_{i}():\n    time.sleep({nap})\n    assert {i} >= 0\n")
    body.append("@pytest.fixture\ndef db():\n    time.sleep(0.6)\n    yield {}\n")
    body.append("def test_migrations_apply(db):\n    assert db == {}\n")
    (d / "test_api.py").write_text("\n".join(body))
    out = sh(f"{VENV / 'python'} -m pytest -v -p no:cacheprovider --durations=15", cwd=d)
    return (
        re.sub(r"in \d+\.\d\ds", "in 3.87s", out)
        .replace(str(REPO), "/home/dev/svc")
        .replace(str(d), "/home/dev/svc")
    )


def coverage_report(tmp: Path) -> str:
    """coverage report -m of a script parsing JSON with lark (from the mirror), in a fresh venv."""
    src = checkout("lark-parser+lark", tmp / "lark")
    sh(f"{sys.executable} -m venv {tmp / 'venv'} && {tmp / 'venv/bin/pip'} install -q coverage==7.6.1")
    (src / "demo.py").write_text(
        textwrap.dedent(
            """\
            from lark import Lark, Transformer

            GRAMMAR = r'''
                ?value: dict | list | ESCAPED_STRING -> string | SIGNED_NUMBER -> number
                      | "true" -> true | "false" -> false | "null" -> null
                list : "[" [value ("," value)*] "]"
                dict : "{" [pair ("," pair)*] "}"
                pair : ESCAPED_STRING ":" value
                %import common.ESCAPED_STRING
                %import common.SIGNED_NUMBER
                %import common.WS
                %ignore WS
            '''

            class ToPy(Transformer):
                list = list
                pair = tuple
                dict = dict
                def string(self, s): return s[0][1:-1]
                def number(self, n): return float(n[0])

            for parser in ("lalr", "earley"):
                p = Lark(GRAMMAR, start="value", parser=parser)
                print(parser, ToPy().transform(p.parse('{"a": [1, 2, {"b": null}], "c": "x"}')))
            """
        )
    )
    cov = tmp / "venv/bin/coverage"
    sh(f"{cov} run --source=lark demo.py", cwd=src)
    return sh(f"{cov} report -m", cwd=src)


def warnings_spam(tmp: Path) -> str:
    """A report script run with -W always: a DeprecationWarning per row, one ResourceWarning among them."""
    d = tmp / "reports"
    d.mkdir()
    (d / "export.py").write_text(
        textwrap.dedent(
            """\
            import gc, json, locale, ssl

            def stamp(row):
                lang, enc = locale.getdefaultlocale()
                return f"{row}:{lang}:{enc}"

            def client():
                return ssl.SSLContext(ssl.PROTOCOL_TLS)

            def load_rates(path):
                f = open(path)
                return json.load(f)

            def export(rows):
                out = []
                for i, row in enumerate(rows):
                    out.append({"id": row, "at": stamp(row)})
                    if i % 40 == 0:
                        client()
                    if i == 137:
                        rates = load_rates(__file__.replace("export.py", "rates.json"))
                        gc.collect()
                print(f"exported {len(out)} rows")

            export(range(240))
            """
        )
    )
    (d / "rates.json").write_text('{"EUR": 1.0}\n')
    out = sh(f"{VENV / 'python'} -W always export.py", cwd=d)
    return out.replace(str(d), "/home/dev/reports")


def git_blame(tmp: Path) -> str:
    return git("encode+httpx", "blame HEAD -- httpx/_config.py")


def git_clone(tmp: Path, repo: str = "encode+httpx") -> Path:
    d = tmp / repo.split("+")[1]
    sh(f"git clone -q {MIRROR / repo / 'repo'} {d}")
    sh("git config user.name 'Dev' && git config user.email dev@example.com", cwd=d)
    return d


def git_branch_vv(tmp: Path) -> str:
    """Local branches tracking the clone's remotes: some ahead, some behind, one whose upstream is gone."""
    d = git_clone(tmp)
    remotes = [b.strip().removeprefix("origin/") for b in sh("git branch -r", cwd=d).splitlines()]
    remotes = [b for b in remotes if b and "HEAD" not in b and b != "master"]
    for i, b in enumerate(remotes):
        sh(f"git checkout -q -b {b} origin/{b}", cwd=d)
        if i % 4 == 1:
            sh("git reset -q --hard HEAD~2", cwd=d)
        elif i % 4 == 2:
            sh(f"git commit -q --allow-empty -m 'wip on {b}'", cwd=d)
    sh("git checkout -q master && git branch -q -dr origin/use-system-proxies origin/python-3.14-1", cwd=d)
    return sh("git branch -a -vv", cwd=d)


def git_reflog(tmp: Path) -> str:
    """A morning of checkouts, commits and rebases, then an accidental ``git reset --hard HEAD~3``."""
    d = git_clone(tmp)
    branches = ["fix-docs", "http-version", "network-options", "use-system-proxies", "v1"]
    for b in branches:
        sh(f"git checkout -q -b {b} origin/{b}", cwd=d)
    sh("git checkout -q master && git checkout -q -b retry-transport", cwd=d)
    for i in range(6):
        (d / "httpx" / "_transports" / "retry.py").write_text(f"# retry transport, step {i}\n")
        sh(f"git add -A && git commit -q -m 'retry transport: step {i}'", cwd=d)
        sh(f"git checkout -q {branches[i % 5]} && git checkout -q retry-transport", cwd=d)
    sh("git commit -q --amend -m 'retry transport: backoff with jitter'", cwd=d)
    sh("git rebase -q master", cwd=d)
    sh("git reset -q --hard HEAD~3", cwd=d)
    for b in branches[:3]:
        sh(f"git checkout -q {b} && git pull -q --rebase 2>/dev/null; git checkout -q retry-transport", cwd=d)
    return sh("git reflog", cwd=d).replace(
        str(MIRROR / "encode+httpx" / "repo"), "https://github.com/encode/httpx.git"
    )


def strace_config(tmp: Path) -> str:
    """strace of a Python CLI looking for its config in the usual places (none there) and failing."""
    d = tmp / "deployctl"
    d.mkdir()
    (d / "deployctl.py").write_text(
        textwrap.dedent(
            """\
            import json, os, socket, sys
            from pathlib import Path

            CANDIDATES = [Path("deployctl.toml"), Path.home() / ".config/deployctl/config.toml",
                          Path("/etc/deployctl/config.toml")]

            def find_config():
                for p in CANDIDATES:
                    try:
                        return p.read_text()
                    except FileNotFoundError:
                        continue
                return None

            cfg = find_config()
            if cfg is None:
                sys.exit("deployctl: no configuration found")
            """
        )
    )
    base = Path(sys.base_prefix)  # the interpreter outside any venv, as a user's python3 would be
    out = sh(
        f"strace -f -e trace=%file,%network {base / 'bin/python3'} deployctl.py 2>&1",
        cwd=d, env={"HOME": "/home/dev"},
    )  # fmt: skip
    return out.replace(str(base), "/usr").replace(str(d), "/home/dev/deployctl")


def sqlite_query(tmp: Path) -> str:
    """sqlite3 -header -column over a query joining orders and customers (300 rows)."""
    import random

    rnd = random.Random(11)
    db = tmp / "shop.db"
    first = ["Ada", "Linus", "Grace", "Ken", "Barbara", "Dennis", "Margaret", "Guido", "Anders", "Yukihiro"]
    last = ["Lovelace", "Torvalds", "Hopper", "Thompson", "Liskov", "Ritchie", "Hamilton", "Rossum"]
    rows = ["CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT, email TEXT, country TEXT);",
            "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INT, status TEXT, total_cents INT, placed_at TEXT);"]  # fmt: skip
    for c in range(1, 61):
        n = f"{rnd.choice(first)} {rnd.choice(last)}"
        rows.append(f"INSERT INTO customers VALUES({c}, '{n}', '{n.lower().replace(' ', '.')}{c}@example.com', "
                    f"'{rnd.choice(['DE', 'FR', 'NL', 'US', 'GB'])}');")  # fmt: skip
    for o in range(1001, 1301):
        status = "refunded" if o == 1187 else rnd.choice(["paid", "paid", "paid", "shipped", "pending"])
        rows.append(f"INSERT INTO orders VALUES({o}, {rnd.randint(1, 60)}, '{status}', {rnd.randint(500, 90000)}, "
                    f"'2026-11-{rnd.randint(1, 30):02d} {rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}');")  # fmt: skip
    subprocess.run(["sqlite3", str(db)], input="\n".join(rows), text=True, check=True)
    q = ("SELECT o.id, o.placed_at, c.name, c.email, c.country, o.status, o.total_cents "
         "FROM orders o JOIN customers c ON c.id = o.customer_id ORDER BY o.id;")  # fmt: skip
    return sh(f'sqlite3 -header -column {db} "{q}"')


def openssl_x509(tmp: Path) -> str:
    """A self-signed certificate with SANs, printed as ``openssl x509 -text`` shows it."""
    sh(
        f"openssl req -x509 -newkey rsa:2048 -nodes -keyout {tmp}/k.pem -out {tmp}/c.pem -days 90 "
        "-subj '/C=DE/O=Shop GmbH/CN=api.shop.internal' "
        "-addext 'subjectAltName=DNS:api.shop.internal,DNS:shop.internal,DNS:*.shop.internal,IP:10.0.3.17' "
        "-addext 'extendedKeyUsage=serverAuth' 2>/dev/null"
    )
    return sh(f"openssl x509 -in {tmp}/c.pem -noout -text")


def terraform_plan(tmp: Path) -> str:
    """terraform plan (built-in terraform_data resources, no provider download) after a change in inputs."""
    d = tmp / "infra"
    d.mkdir()
    services = ["api", "worker", "billing", "search", "auth", "notifier", "gateway", "reports"]

    def write(version: str, db_class: str, drop: str) -> None:
        blocks = []
        for s in services:
            if s == drop:
                continue
            image = f"registry.shop.internal/{s}:{version if s in ('api', 'worker') else '1.8.2'}"
            blocks.append(
                f'resource "terraform_data" "{s}_service" {{\n  input = {{\n    image    = "{image}"\n'
                f"    replicas = {3 if s == 'api' else 2}\n    port     = {8000 + services.index(s)}\n  }}\n}}\n"
            )
            blocks.append(
                f'resource "terraform_data" "{s}_dns" {{\n  input = {{\n    name = "{s}.shop.internal"\n'
                f"    ttl  = 300\n  }}\n}}\n"
            )
        blocks.append(
            'resource "terraform_data" "db" {\n  triggers_replace = [var.db_class]\n'
            '  input = {\n    engine = "postgres"\n    class  = var.db_class\n  }\n}\n'
            f'variable "db_class" {{\n  default = "{db_class}"\n}}\n'
        )
        (d / "main.tf").write_text("\n".join(blocks))

    (tmp / "terraformrc").write_text("")  # no CLI configuration warning
    tf = {"TF_CLI_CONFIG_FILE": str(tmp / "terraformrc"), "TF_IN_AUTOMATION": ""}
    write("2.3.0", "db.t3.medium", "")
    sh(
        "terraform init -input=false -no-color && terraform apply -input=false -auto-approve -no-color",
        cwd=d,
        env=tf,
    )
    write("2.4.0", "db.r6g.large", "reports")
    return sh("terraform plan -input=false -no-color", cwd=d, env=tf)


def syslog(tmp: Path) -> str:
    """journalctl -b of a web host: timers, cron, sshd, and nginx failing to bind port 80 on restart."""
    import random

    rnd = random.Random(5)
    out = []
    t = 6 * 3600 + 14 * 60

    def at() -> str:
        return f"Dec 06 {t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d} web-3"

    noise = [
        "systemd[1]: Starting apt-daily.service - Daily apt download activities...",
        "systemd[1]: apt-daily.service: Deactivated successfully.",
        "systemd[1]: Finished apt-daily.service - Daily apt download activities.",
        "CRON[{pid}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
        "CRON[{pid}]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
        "CRON[{pid}]: pam_unix(cron:session): session closed for user root",
        "sshd[{pid}]: Accepted publickey for deploy from 10.0.3.{ip} port {port} ssh2: ED25519 SHA256:q3Jx0rV1m8",
        "sshd[{pid}]: pam_unix(sshd:session): session opened for user deploy(uid=1001) by (uid=0)",
        "systemd-logind[612]: New session {sess} of user deploy.",
        "systemd-logind[612]: Session {sess} logged out. Waiting for processes to exit.",
        "kernel: [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56 SRC=45.146.{ip}.{ip2} DST=10.0.3.21 LEN=40 PROTO=TCP SPT={port} DPT=23 WINDOW=1024 SYN",
        "systemd[1]: Started session-{sess}.scope - Session {sess} of User deploy.",
        "systemd-timesyncd[540]: Network configuration changed, trying to establish connection.",
        "systemd-resolved[533]: Clock change detected. Flushing caches.",
        "gunicorn[{gpid}]: [INFO] Booting worker with pid: {pid}",
        'dockerd[905]: time="2026-12-06T{hh}:{mm}:00Z" level=info msg="ignoring event" container=3f2a9c module=libcontainerd namespace=moby topic=/tasks/delete type="*events.TaskDelete"',
    ]
    failure = [
        "sudo[{pid}]:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx",
        "systemd[1]: Stopping nginx.service - A high performance web server and a reverse proxy server...",
        "systemd[1]: nginx.service: Deactivated successfully.",
        "systemd[1]: Stopped nginx.service - A high performance web server and a reverse proxy server.",
        "systemd[1]: Starting nginx.service - A high performance web server and a reverse proxy server...",
        "nginx[{pid}]: nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)",
        "nginx[{pid}]: nginx: [emerg] bind() to [::]:80 failed (98: Address already in use)",
        "nginx[{pid}]: nginx: [emerg] still could not bind()",
        "systemd[1]: nginx.service: Control process exited, code=exited, status=1/FAILURE",
        "systemd[1]: nginx.service: Failed with result 'exit-code'.",
        "systemd[1]: Failed to start nginx.service - A high performance web server and a reverse proxy server.",
    ]
    for i in range(420):
        t += rnd.randint(1, 40)
        if i == 300:
            pid = 48213
            for line in failure:
                out.append(f"{at()} " + line.format(pid=pid))
                t += 1
            continue
        line = rnd.choice(noise)
        out.append(f"{at()} " + line.format(
            pid=rnd.randint(30000, 47000), ip=rnd.randint(2, 250), ip2=rnd.randint(2, 250), port=rnd.randint(30000, 65000),
            sess=rnd.randint(300, 420), gpid=1893, hh=f"{t // 3600:02d}", mm=f"{t // 60 % 60:02d}"))  # fmt: skip
    return "\n".join(out) + "\n"


def nginx_access(tmp: Path) -> str:
    """An nginx access log (combined format): mostly 200s, a run of 502s on POST /api/checkout."""
    import random

    rnd = random.Random(9)
    paths = ["/", "/static/app.3f9c1e.js", "/static/app.3f9c1e.css", "/api/products?page={n}", "/api/cart",
             "/api/products/{n}", "/favicon.ico", "/api/session", "/healthz", "/images/p/{n}.webp"]  # fmt: skip
    agents = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "kube-probe/1.31",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    ]
    out = []
    t = 10 * 3600
    for i in range(500):
        t += rnd.randint(0, 3)
        ip = f"{rnd.choice([81, 93, 178, 212, 10])}.{rnd.randint(1, 254)}.{rnd.randint(1, 254)}.{rnd.randint(1, 254)}"
        method, status, size = "GET", 200, rnd.randint(300, 90000)
        path = rnd.choice(paths).format(n=rnd.randint(1, 400))
        if path == "/healthz":
            ip, agent = "10.0.3.1", agents[3]
        else:
            agent = rnd.choice(agents[:3] + agents[4:])
        if path == "/api/cart" and rnd.random() < 0.5:
            method, status = "POST", 201
        if 310 <= i <= 322 and i % 3 == 0:
            method, path, status, size = "POST", "/api/checkout", 502, 157
        elif rnd.random() < 0.04:
            status, size = 304, 0
        elif rnd.random() < 0.02:
            path, status, size = f"/wp-login.php?{rnd.randint(1, 9)}", 404, 153
        stamp = f"06/Dec/2026:{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d} +0000"
        ref = "-" if path.startswith("/api") or path == "/healthz" else "https://shop.example.com/"
        out.append(f'{ip} - - [{stamp}] "{method} {path} HTTP/1.1" {status} {size} "{ref}" "{agent}"')
    return "\n".join(out) + "\n"


def lsof_ports(tmp: Path) -> str:
    """sudo lsof -i -P -n on a dev box: the stale uvicorn still holding port 8000 is the one asked about."""
    rows = [
        ("systemd-r", 533, "systemd-resolve", 13, "IPv4", 18234, "UDP 127.0.0.53:53"),
        ("systemd-r", 533, "systemd-resolve", 14, "IPv4", 18235, "TCP 127.0.0.53:53 (LISTEN)"),
        ("sshd", 801, "root", 3, "IPv4", 21001, "TCP *:22 (LISTEN)"),
        ("sshd", 801, "root", 4, "IPv6", 21003, "TCP *:22 (LISTEN)"),
        ("postgres", 1022, "postgres", 6, "IPv4", 22810, "TCP 127.0.0.1:5432 (LISTEN)"),
        ("redis-ser", 1040, "redis", 6, "IPv4", 22931, "TCP 127.0.0.1:6379 (LISTEN)"),
        ("redis-ser", 1040, "redis", 7, "IPv6", 22932, "TCP [::1]:6379 (LISTEN)"),
        ("dockerd", 905, "root", 12, "IPv6", 23112, "TCP *:2375 (LISTEN)"),
        ("docker-pr", 2210, "root", 4, "IPv4", 25101, "TCP *:9200 (LISTEN)"),
        ("docker-pr", 2217, "root", 4, "IPv6", 25108, "TCP *:9200 (LISTEN)"),
        ("node", 3121, "dev", 23, "IPv6", 31877, "TCP *:3000 (LISTEN)"),
        ("node", 3121, "dev", 27, "IPv6", 31902, "TCP [::1]:3000->[::1]:52114 (ESTABLISHED)"),
        ("node", 3140, "dev", 21, "IPv4", 31950, "TCP 127.0.0.1:24678 (LISTEN)"),
        ("python3.1", 4477, "dev", 6, "IPv4", 40211, "TCP 127.0.0.1:8000 (LISTEN)"),
        ("python3.1", 4477, "dev", 9, "IPv4", 40390, "TCP 127.0.0.1:8000->127.0.0.1:51822 (CLOSE_WAIT)"),
        ("code", 2890, "dev", 41, "IPv4", 30112, "TCP 127.0.0.1:41723 (LISTEN)"),
        ("chrome", 3301, "dev", 112, "IPv4", 33410, "UDP 224.0.0.251:5353"),
    ]
    import random

    rnd = random.Random(3)
    for _ in range(40):  # the browser's and editor's connections
        who = rnd.choice([("chrome", 3301), ("code", 2890), ("node", 3121), ("postgres", 1022)])
        fd = rnd.randint(30, 200)
        if who[0] == "postgres":
            name = f"TCP 127.0.0.1:5432->127.0.0.1:{rnd.randint(40000, 60000)} (ESTABLISHED)"
        else:
            name = (f"TCP 192.168.1.23:{rnd.randint(40000, 60000)}->{rnd.choice(['140.82.112.21', '142.250.185.78', '104.18.32.7', '13.107.42.14'])}"
                    f":443 ({rnd.choice(['ESTABLISHED', 'ESTABLISHED', 'CLOSE_WAIT', 'TIME_WAIT'])})")  # fmt: skip
        rows.append(
            (
                who[0],
                who[1],
                "postgres" if who[0] == "postgres" else "dev",
                fd,
                "IPv4",
                rnd.randint(30000, 49999),
                name,
            )
        )
    rows.sort(key=lambda r: (r[1], r[3]))
    out = ["COMMAND     PID            USER   FD   TYPE DEVICE SIZE/OFF NODE NAME"]
    for cmd, pid, user, fd, typ, dev, name in rows:
        out.append(
            f"{cmd:<9} {pid:>5} {user:>15} {str(fd) + 'u':>4} {typ:>6} {dev:>6}      0t0  {name.split()[0]:<4} {name.split(' ', 1)[1]}"
        )
    return "\n".join(out) + "\n"


def docker_build(tmp: Path) -> str:
    """docker build --progress=plain of a Python service whose pip install fails on a missing system lib."""
    lines = [
        '#0 building with "default" instance using docker driver',
        "",
        "#1 [internal] load build definition from Dockerfile",
        "#1 transferring dockerfile: 912B done",
        "#1 DONE 0.0s",
        "",
        "#2 [internal] load metadata for docker.io/library/python:3.12-slim",
        "#2 DONE 1.2s",
        "",
        "#3 [internal] load .dockerignore",
        "#3 transferring context: 187B done",
        "#3 DONE 0.0s",
        "",
        "#4 [1/7] FROM docker.io/library/python:3.12-slim@sha256:2b0079146a74e23bf4ae8f6a28e1b484c6292f6fb904cbb51825b4a19812fcd8",
        "#4 resolve docker.io/library/python:3.12-slim@sha256:2b0079146a74e23bf4ae8f6a28e1b484c6292f6fb904cbb51825b4a19812fcd8 done",
        "#4 sha256:2b0079146a74e23bf4ae8f6a28e1b484c6292f6fb904cbb51825b4a19812fcd8 9.13kB / 9.13kB done",
        "#4 sha256:bc0965b23a04fe7f2d9fb20f597008fcf89891de1c705ffc1c80483a1f098e4f 29.13MB / 29.13MB 1.9s done",
        "#4 extracting sha256:bc0965b23a04fe7f2d9fb20f597008fcf89891de1c705ffc1c80483a1f098e4f 1.1s done",
        "#4 DONE 3.4s",
        "",
        "#5 [internal] load build context",
        "#5 transferring context: 1.21MB 0.1s done",
        "#5 DONE 0.1s",
        "",
        "#6 [2/7] WORKDIR /app",
        "#6 DONE 0.1s",
        "",
        "#7 [3/7] RUN apt-get update && apt-get install -y --no-install-recommends gcc && rm -rf /var/lib/apt/lists/*",
    ]
    apt = ["Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]",
           "Get:2 http://deb.debian.org/debian bookworm-updates InRelease [55.4 kB]",
           "Get:3 http://deb.debian.org/debian-security bookworm-security InRelease [48.0 kB]",
           "Get:4 http://deb.debian.org/debian bookworm/main amd64 Packages [8792 kB]",
           "Fetched 9305 kB in 2s (4379 kB/s)", "Reading package lists...", "Building dependency tree...",
           "Reading state information...", "The following additional packages will be installed:",
           "  binutils binutils-common binutils-x86-64-linux-gnu cpp cpp-12 gcc-12 libasan8 libatomic1",
           "  libbinutils libcc1-0 libctf-nobfd0 libctf0 libgcc-12-dev libgomp1 libgprofng0 libisl23",
           "  libitm1 liblsan0 libmpc3 libmpfr6 libnsl2 libquadmath0 libtsan2 libubsan1",
           "0 upgraded, 25 newly installed, 0 to remove and 0 not upgraded.",
           "Need to get 49.7 MB of archives.", "After this operation, 186 MB of additional disk space will be used."]  # fmt: skip
    pkgs = ["binutils-common", "libbinutils", "libctf-nobfd0", "libctf0", "libgprofng0", "binutils-x86-64-linux-gnu",
            "binutils", "libisl23", "libmpfr6", "libmpc3", "cpp-12", "cpp", "libcc1-0", "libgomp1", "libitm1",
            "libatomic1", "libasan8", "liblsan0", "libtsan2", "libubsan1", "libquadmath0", "libgcc-12-dev",
            "gcc-12", "gcc", "libnsl2"]  # fmt: skip
    for i, p in enumerate(pkgs):
        apt.append(
            f"Get:{i + 5} http://deb.debian.org/debian bookworm/main amd64 {p} amd64 2.40-2 [{100 + 37 * i} kB]"
        )
    for p in pkgs:
        apt += [f"Selecting previously unselected package {p}:amd64.", f"Preparing to unpack .../{p}_amd64.deb ...",
                f"Unpacking {p}:amd64 ...", f"Setting up {p}:amd64 ..."]  # fmt: skip
    apt.append("Processing triggers for libc-bin (2.36-9+deb12u9) ...")
    clock = 1.0
    for line in apt:
        clock += 0.137
        lines.append(f"#7 {clock:.3f} {line}")
    lines += ["#7 DONE 14.9s", "", "#8 [4/7] COPY requirements.txt .", "#8 DONE 0.0s", "",
              "#9 [5/7] RUN pip install --no-cache-dir -r requirements.txt"]  # fmt: skip
    reqs = [("fastapi", "0.115.6"), ("uvicorn", "0.32.1"), ("pydantic", "2.10.3"), ("pydantic-core", "2.27.1"),
            ("starlette", "0.41.3"), ("sqlalchemy", "2.0.36"), ("alembic", "1.14.0"), ("mako", "1.3.8"),
            ("anyio", "4.7.0"), ("sniffio", "1.3.1"), ("idna", "3.10"), ("h11", "0.14.0"), ("click", "8.1.7"),
            ("greenlet", "3.1.1"), ("typing-extensions", "4.12.2"), ("annotated-types", "0.7.0"),
            ("markupsafe", "3.0.2")]  # fmt: skip
    clock = 0.5
    pip = []
    for name, ver in reqs:
        pip += [f"Collecting {name}=={ver} (from -r requirements.txt (line {reqs.index((name, ver)) + 1}))",
                f"  Downloading {name.replace('-', '_')}-{ver}-py3-none-any.whl.metadata (8.2 kB)"]  # fmt: skip
    pip += [
        "Collecting psycopg2==2.9.10 (from -r requirements.txt (line 18))",
        "  Downloading psycopg2-2.9.10.tar.gz (385 kB)",
        "  Preparing metadata (setup.py): started",
        "  Preparing metadata (setup.py): finished with status 'error'",
        "  error: subprocess-exited-with-error",
        "  ",
        "  × python setup.py egg_info did not run successfully.",
        "  │ exit code: 1",
        "  ╰─> [23 lines of output]",
        "      running egg_info",
        "      creating /tmp/pip-pip-egg-info-k2n4o9xq/psycopg2.egg-info",
        "      writing /tmp/pip-pip-egg-info-k2n4o9xq/psycopg2.egg-info/PKG-INFO",
        "      writing dependency_links to /tmp/pip-pip-egg-info-k2n4o9xq/psycopg2.egg-info/dependency_links.txt",
        "      writing top-level names to /tmp/pip-pip-egg-info-k2n4o9xq/psycopg2.egg-info/top_level.txt",
        "      writing manifest file '/tmp/pip-pip-egg-info-k2n4o9xq/psycopg2.egg-info/SOURCES.txt'",
        "      ",
        "      Error: pg_config executable not found.",
        "      ",
        "      pg_config is required to build psycopg2 from source.  Please add the directory",
        "      containing pg_config to the $PATH or specify the full executable path with the",
        "      option:",
        "      ",
        "          python setup.py build_ext --pg-config /path/to/pg_config build ...",
        "      ",
        "      or with the pg_config option in 'setup.cfg'.",
        "      ",
        "      If you prefer to avoid building psycopg2 from source, please install the PyPI",
        "      'psycopg2-binary' package instead.",
        "      ",
        "      For further information please check the 'doc/src/install.rst' file (also at",
        "      <https://www.psycopg.org/docs/install.html>).",
        "      ",
        "      [end of output]",
        "  ",
        "  note: This error originates from a subprocess, and is likely not a problem with pip.",
        "error: metadata-generation-failed",
        "",
        "× Encountered error while generating package metadata.",
        "╰─> See above for output.",
        "",
        "note: This is an issue with the package mentioned above, not pip.",
        "hint: See above for details.",
    ]
    for line in pip:
        clock += 0.211
        lines.append(f"#9 {clock:.3f} {line}")
    lines += [
        '#9 ERROR: process "/bin/sh -c pip install --no-cache-dir -r requirements.txt" did not complete successfully: exit code: 1',
        "------",
        " > [5/7] RUN pip install --no-cache-dir -r requirements.txt:",
        "6.414       'psycopg2-binary' package instead.",
        "6.414       ",
        "6.414       For further information please check the 'doc/src/install.rst' file (also at",
        "6.414       <https://www.psycopg.org/docs/install.html>).",
        "6.414       ",
        "6.414       [end of output]",
        "6.414   ",
        "6.414   note: This error originates from a subprocess, and is likely not a problem with pip.",
        "6.625 error: metadata-generation-failed",
        "------",
        "Dockerfile:9",
        "--------------------",
        "   7 |     ",
        "   8 |     COPY requirements.txt .",
        "   9 | >>> RUN pip install --no-cache-dir -r requirements.txt",
        "  10 |     ",
        "  11 |     COPY . .",
        "--------------------",
        'ERROR: failed to solve: process "/bin/sh -c pip install --no-cache-dir -r requirements.txt" did not complete successfully: exit code: 1',
    ]
    return "\n".join(lines) + "\n"


def csv_data(tmp: Path) -> str:
    """A customers export (CSV, 400 rows) an agent cats to check one record."""
    import random

    rnd = random.Random(17)
    first = [
        "Ada",
        "Linus",
        "Grace",
        "Ken",
        "Barbara",
        "Dennis",
        "Margaret",
        "Guido",
        "Anders",
        "Yukihiro",
        "Bjarne",
        "Radia",
    ]
    last = [
        "Lovelace",
        "Torvalds",
        "Hopper",
        "Thompson",
        "Liskov",
        "Ritchie",
        "Hamilton",
        "Rossum",
        "Hejlsberg",
        "Perlman",
    ]
    out = ["customer_id,first_name,last_name,email,country,plan,signup_date,mrr_cents,churned"]
    for cid in range(10001, 10401):
        f, la = rnd.choice(first), rnd.choice(last)
        plan = rnd.choice(["free", "starter", "starter", "pro", "team"])
        mrr = {"free": 0, "starter": 900, "pro": 2900, "team": 9900}[plan]
        out.append(f"{cid},{f},{la},{f.lower()}.{la.lower()}{rnd.randint(1, 99)}@example.com,"
                   f"{rnd.choice(['DE', 'FR', 'NL', 'US', 'GB', 'JP'])},{plan},2025-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d},"
                   f"{mrr},{str(rnd.random() < 0.1).lower()}")  # fmt: skip
    return "\n".join(out) + "\n"


def notebook(tmp: Path) -> str:
    """A Jupyter notebook (nbformat 4, as saved by JupyterLab) whose 7th cell raised a KeyError."""
    import base64
    import random

    rnd = random.Random(23)
    png = base64.b64encode(bytes(rnd.randrange(256) for _ in range(3000))).decode()

    def code(n: int, src: str, outputs: list[dict[str, object]]) -> dict[str, object]:
        return {"cell_type": "code", "execution_count": n, "id": f"c{n:02d}a7f3", "metadata": {},
                "outputs": outputs, "source": src.splitlines(True)}  # fmt: skip

    def stream(text: str) -> dict[str, object]:
        return {"name": "stdout", "output_type": "stream", "text": text.splitlines(True)}

    table = "".join(
        f"{i}  2026-11-{i + 1:02d}  {rnd.randint(100, 999)}  {rnd.choice(['DE', 'FR', 'NL'])}\n"
        for i in range(20)
    )
    cells: list[dict[str, object]] = [
        {
            "cell_type": "markdown",
            "id": "m01",
            "metadata": {},
            "source": ["# Revenue by region\n", "\n", "Monthly revenue from the orders export.\n"],
        },
        code(1, "import pandas as pd\nimport matplotlib.pyplot as plt\n", []),
        code(
            2,
            "orders = pd.read_csv('orders.csv', parse_dates=['placed_at'])\norders.head(20)\n",
            [
                {
                    "data": {"text/plain": ["    id   placed_at  total  region\n"] + table.splitlines(True)},
                    "execution_count": 2,
                    "metadata": {},
                    "output_type": "execute_result",
                }
            ],
        ),
        code(
            3,
            "orders['month'] = orders['placed_at'].dt.to_period('M')\nmonthly = orders.groupby(['month', 'region'])['total'].sum()\nmonthly\n",
            [
                {
                    "data": {
                        "text/plain": [
                            f"2026-{m:02d}  {r}  {rnd.randint(10000, 99999)}\n"
                            for m in range(1, 12)
                            for r in ("DE", "FR", "NL")
                        ]
                    },
                    "execution_count": 3,
                    "metadata": {},
                    "output_type": "execute_result",
                }
            ],
        ),
        code(
            4,
            "fig, ax = plt.subplots(figsize=(10, 4))\nmonthly.unstack().plot(ax=ax)\nax.set_title('Revenue by region')\n",
            [
                {
                    "data": {"image/png": png, "text/plain": ["<Figure size 1000x400 with 1 Axes>"]},
                    "metadata": {},
                    "output_type": "display_data",
                }
            ],
        ),
        code(5, "targets = {'DE': 60000, 'FR': 45000, 'NL': 30000}\n", []),
        code(
            6,
            "print(len(orders), 'orders')\nprint(orders['region'].value_counts())\n",
            [stream("1200 orders\nDE    540\nFR    410\nNL    212\nBE     38\nName: region, dtype: int64\n")],
        ),
        code(
            7,
            "gap = {r: targets[r] - monthly.xs(r, level='region').iloc[-1] for r in orders['region'].unique()}\ngap\n",
            [
                {
                    "ename": "KeyError",
                    "evalue": "'BE'",
                    "output_type": "error",
                    "traceback": [
                        "\u001b[0;31m---------------------------------------------------------------------------\u001b[0m",
                        "\u001b[0;31mKeyError\u001b[0m                                  Traceback (most recent call last)",
                        "Cell \u001b[0;32mIn[7], line 1\u001b[0m\n\u001b[0;32m----> 1\u001b[0m gap \u001b[38;5;241m=\u001b[39m {r: \u001b[43mtargets\u001b[49m\u001b[43m[\u001b[49m\u001b[43mr\u001b[49m\u001b[43m]\u001b[49m \u001b[38;5;241m-\u001b[39m monthly\u001b[38;5;241m.\u001b[39mxs(r, level\u001b[38;5;241m=\u001b[39m\u001b[38;5;124m'\u001b[39m\u001b[38;5;124mregion\u001b[39m\u001b[38;5;124m'\u001b[39m)\u001b[38;5;241m.\u001b[39miloc[\u001b[38;5;241m-\u001b[39m\u001b[38;5;241m1\u001b[39m] \u001b[38;5;28;01mfor\u001b[39;00m r \u001b[38;5;129;01min\u001b[39;00m orders[\u001b[38;5;124m'\u001b[39m\u001b[38;5;124mregion\u001b[39m\u001b[38;5;124m'\u001b[39m]\u001b[38;5;241m.\u001b[39munique()}\n",
                        "\u001b[0;31mKeyError\u001b[0m: 'BE'",
                    ],
                }
            ],
        ),
        code(8, "ax = pd.Series(gap).plot.bar()\n", []),
    ]
    nb = {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
          "language_info": {"name": "python", "version": "3.12.7"}}, "nbformat": 4, "nbformat_minor": 5}  # fmt: skip
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def httpie_makefile(tmp: Path) -> str:
    return git_show("httpie+cli", "Makefile")


def rich_changelog(tmp: Path) -> str:
    return git_show("Textualize+rich", "CHANGELOG.md")


def poetry_lock(tmp: Path) -> str:
    return git_show("Textualize+rich", "poetry.lock")


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
    # second survey: package managers, test runners, git, system tools, logs, data and lock files
    ("npm ERESOLVE debug log", npm_eresolve_log, True, "cat ~/.npm/_logs/2026-12-06T03_37_50_857Z-debug-0.log",
     "Why does npm install fail with ERESOLVE, and which package has the conflicting peer dependency?",
     [r"error code ERESOLVE", r"error Found: react@18", r'peer react@"<18\.0\.0" from @testing-library/react@12']),
    ("npm ci out of sync", npm_ci_sync, True, "npm ci",
     "Why does npm ci fail, and which dependencies disagree with the lock file?",
     [r"can only install packages when your package\.json and package-lock\.json", r"Invalid: lock file's pg@",
      r"Missing: axios@", r"Missing: lodash@"]),
    ("package-lock.json", package_lock, True, "cat package-lock.json",
     "Which version of ms does jsonwebtoken get (its nested copy) in package-lock.json?",
     [r'"node_modules/jsonwebtoken/node_modules/ms": \{']),
    ("pip resolver conflict", pip_conflict, True, "pip install -r requirements.txt",
     "Why does pip install -r requirements.txt fail, and which pin has to change?",
     [r"^ERROR: Cannot install", r"The user requested starlette==0\.27\.0", r"fastapi 0\.110\.0 depends on starlette"]),
    ("pytest --tb=long -l", pytest_long_locals, True, "pytest --tb=long -l -v",
     "Why does test_unknown_region fail?",
     [r"^E       KeyError: 'BE'", r'^>       vat = \{"DE"', r"^billing\.py:29: KeyError"]),
    ("pytest --durations", pytest_durations, True, "pytest -v --durations=15",
     "Which tests are the slowest, and how long do they take?",
     [r"slowest 15 durations", r"^\d\.\d\ds call\s+test_api\.py::test_endpoint_7$",
      r"^\d\.\d\ds setup\s+test_api\.py::test_migrations_apply$", r"^\d\.\d\ds call\s+test_api\.py::test_endpoint_23$"]),
    ("coverage report -m", coverage_report, True, "coverage report -m",
     "Which lines of lark/parsers/earley.py does the demo run leave uncovered?",
     [r"^lark/parsers/earley\.py ", r"^Name\s+Stmts"]),
    ("DeprecationWarning spam", warnings_spam, True, "python -W always export.py",
     "Find the ResourceWarning: which file is left open, and where in export.py?",
     [r"ResourceWarning: unclosed file"]),
    ("git blame", git_blame, True, "git blame httpx/_config.py",
     "Which commit last changed DEFAULT_TIMEOUT_CONFIG in httpx/_config.py, and who made it?",
     [r"\) DEFAULT_TIMEOUT_CONFIG = Timeout"]),
    ("git branch -a -vv", git_branch_vv, True, "git branch -a -vv",
     "Which of my local branches are behind their upstream, and which have lost their upstream (gone)?",
     [r": behind \d+\]", r": gone\]"]),
    ("git reflog", git_reflog, True, "git reflog",
     "I ran git reset --hard by mistake on retry-transport: which commit had my work before the reset?",
     [r"reset: moving to HEAD~3", r"commit \(amend\): retry transport"]),
    ("strace -e trace=%file", strace_config, True, "strace -f -e trace=%file,%network python3 deployctl.py",
     "Where does deployctl look for its configuration file?",
     [r'"deployctl\.toml", O_RDONLY', r'config\.toml", O_RDONLY', r"no configuration found"]),
    ("sqlite3 -header -column", sqlite_query, True,
     "sqlite3 -header -column shop.db 'SELECT o.id, o.placed_at, c.name, ... FROM orders o JOIN customers c ...'",
     "Who placed order 1187, and what is its status?", [r"^id\s+placed_at", r"^1187 "]),
    ("openssl x509 -text", openssl_x509, True, "openssl x509 -in cert.pem -noout -text",
     "Which hostnames does the certificate cover, and when does it expire?",
     [r"Not After", r"DNS:api\.shop\.internal"]),
    ("terraform plan", terraform_plan, True, "terraform plan",
     "Which resources will this plan destroy or replace?",
     [r"must be replaced", r"will be destroyed", r"^Plan:"]),
    ("journalctl (syslog)", syslog, False, "journalctl -b --no-pager",
     "Why did nginx fail to start after the restart?",
     [r"bind\(\) to 0\.0\.0\.0:80 failed", r"bind\(\) to \[::\]:80 failed", r"Failed to start nginx\.service"]),
    ("nginx access log", nginx_access, False, "cat /var/log/nginx/access.log",
     "Which requests got 502 responses, and on which endpoint?", [r'" 502 ']),
    ("lsof -i -P -n", lsof_ports, False, "sudo lsof -i -P -n",
     "Which process is holding port 8000?", [r"127\.0\.0\.1:8000 \(LISTEN\)", r"^COMMAND\s+PID"]),
    ("docker build (plain)", docker_build, False, "docker build --progress=plain -t shop-api .",
     "Why does the docker build fail at the pip install step?",
     [r"Error: pg_config executable not found", r"^#9 ERROR:", r"^ERROR: failed to solve"]),
    ("CSV export", csv_data, False, "cat customers.csv",
     "What plan is customer 10257 on, and has that customer churned?", [r"^customer_id,", r"^10257,"]),
    ("Jupyter notebook", notebook, False, "cat revenue.ipynb",
     "Why does cell 7 of the notebook fail?",
     [r'"ename": "KeyError"', r'"evalue": "\'BE\'"', r'^    "gap = \{r: targets\[r\]', r'"BE     38\\n"']),
    ("httpie Makefile", httpie_makefile, True, "cat Makefile",
     "What does make test-cover run?",
     [r"^test-cover:", r"^test:$", r"\$\(VENV_BIN\)/python -m pytest \$\(COV\)"]),
    ("rich CHANGELOG.md", rich_changelog, True, "cat CHANGELOG.md",
     "In which release did rich drop support for Python 3.7?",
     [r"^## \[13\.9\.0\]", r"Dropped support for Python3\.7"]),
    ("poetry.lock", poetry_lock, True, "cat poetry.lock",
     "Which version of pygments is locked, and is it optional?",
     [r'^name = "pygments"$', r'^version = "2\.19\.2"$']),
]  # fmt: skip


# ---------------------------------------------------------------- held-out cases
# A third survey, kept out of SPECS and of the default glob: built into heldout/ and scored once, afterwards,
# as a fresh measure of pruners tuned on the cases above. Real where the tool runs here (npm, jest, eslint,
# du, pytest, cProfile, valgrind, git, PostgreSQL), written by hand otherwise (seeded where long).

HELDOUT = REPO / "bench" / "data" / "tool_outputs" / "heldout" / "cases.jsonl.gz"

STOREFRONT_DEPS = {"express": "4.17.1", "lodash": "4.17.15", "minimist": "1.2.0", "axios": "0.21.0",
                   "jsonwebtoken": "8.5.1", "node-fetch": "2.6.0", "moment": "2.29.1", "qs": "6.7.0"}  # fmt: skip


def storefront(tmp: Path) -> Path:
    """An Express service pinned to 2020-era versions, installed from the npm registry."""
    d = tmp / "storefront"
    d.mkdir()
    pkg = {"name": "storefront", "version": "0.4.0", "private": True, "dependencies": STOREFRONT_DEPS}
    (d / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")
    sh("npm install --no-audit --no-fund", cwd=d, env=npm_env(tmp))
    return d


def npm_outdated(tmp: Path) -> str:
    return sh("npm outdated --all", cwd=storefront(tmp), env=npm_env(tmp))


def npm_ls(tmp: Path) -> str:
    d = storefront(tmp)
    return sh("npm ls --all", cwd=d, env=npm_env(tmp)).replace(str(d), "/home/dev/storefront")


CART_JS = """\
const TAX = { DE: 0.19, FR: 0.2, NL: 0.21 };

function lineTotal(item) {
  return item.qty * item.priceCents;
}

function subtotal(items) {
  return items.reduce((sum, item) => sum + lineTotal(item), 0);
}

function applyCoupon(cents, coupon) {
  if (!coupon) return cents;
  if (coupon.kind === "percent") return Math.round(cents * (1 - coupon.value / 100));
  if (coupon.kind === "fixed") return cents - coupon.value;
  throw new Error(`unknown coupon kind: ${coupon.kind}`);
}

function total(cart) {
  const net = applyCoupon(subtotal(cart.items), cart.coupon);
  const rate = TAX[cart.country];
  return { net, tax: Math.round(net * rate), gross: net + Math.round(net * rate) };
}

module.exports = { lineTotal, subtotal, applyCoupon, total };
"""

FORMAT_JS = """\
function formatCents(cents, currency = "EUR") {
  return new Intl.NumberFormat("en-US", { style: "currency", currency }).format(cents / 100);
}
function pluralize(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
module.exports = { formatCents, pluralize };
"""

CART_TEST_JS = """\
const { lineTotal, subtotal, applyCoupon, total } = require("./cart");

const items = [
  { sku: "BOOK-1", qty: 2, priceCents: 1250 },
  { sku: "MUG-7", qty: 1, priceCents: 899 },
];

describe("lineTotal", () => {
  test("multiplies qty by price", () => expect(lineTotal(items[0])).toBe(2500));
  test("zero qty is free", () => expect(lineTotal({ qty: 0, priceCents: 999 })).toBe(0));
});

describe("subtotal", () => {
  test("sums the lines", () => expect(subtotal(items)).toBe(3399));
  test("empty cart", () => expect(subtotal([])).toBe(0));
});

describe("applyCoupon", () => {
  test("no coupon", () => expect(applyCoupon(1000, null)).toBe(1000));
  test("percent coupon", () => expect(applyCoupon(1000, { kind: "percent", value: 15 })).toBe(850));
  test("fixed coupon", () => expect(applyCoupon(1000, { kind: "fixed", value: 300 })).toBe(700));
  test("fixed coupon never goes below zero", () => expect(applyCoupon(200, { kind: "fixed", value: 300 })).toBe(0));
  test("unknown kind throws", () => expect(() => applyCoupon(1, { kind: "bogo" })).toThrow("unknown coupon kind"));
});

describe("total", () => {
  test("german VAT", () => {
    expect(total({ items, country: "DE" })).toEqual({ net: 3399, tax: 646, gross: 4045 });
  });
  test("dutch VAT with coupon", () => {
    expect(total({ items, country: "NL", coupon: { kind: "percent", value: 10 } })).toEqual({ net: 3059, tax: 642, gross: 3701 });
  });
  test("country without VAT", () => {
    expect(total({ items, country: "US" })).toEqual({ net: 3399, tax: 0, gross: 3399 });
  });
});
"""

FORMAT_TEST_JS = """\
const { formatCents, pluralize } = require("./format");
test("formats euros", () => expect(formatCents(123456)).toBe("€1,234.56"));
test("formats dollars", () => expect(formatCents(99, "USD")).toBe("$0.99"));
test("pluralizes", () => expect(pluralize(2, "item")).toBe("2 items"));
test("singular", () => expect(pluralize(1, "item")).toBe("1 item"));
"""

API_JS = """\
const http = require("node:http");
const { total } = require("./cart");
const { formatCents, pluralize } = require("./format");

let carts = new Map();

function readBody(req) {
  return new Promise((resolve, reject) => {
    let chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
    req.on("error", reject);
  });
}

async function handle(req, res) {
  const url = new URL(req.url, "http://localhost");
  if (req.method == "POST" && url.pathname === "/carts") {
    const body = await readBody(req);
    const id = String(carts.size + 1);
    carts.set(id, body);
    console.log("created cart", id);
    res.writeHead(201, { "content-type": "application/json" });
    return res.end(JSON.stringify({ id }));
  }
  const match = url.pathname.match(/^\\/carts\\/(\\d+)\\/total$/);
  if (match) {
    const cart = carts.get(match[1]);
    if (cart == null) {
      res.writeHead(404);
      return res.end();
    }
    const t = total(cart);
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify({ ...t, display: formatCents(t.gross, currency) }));
  }
  res.writeHead(404);
  res.end();
}

http.createServer((req, res) => handle(req, res).catch((err) => {
  res.writeHead(500);
  res.end(String(err));
})).listen(process.env.PORT || 3000);
"""

CHECKOUT_JS = """\
const { total, applyCoupon } = require("./cart");

const RETRIES = 3;

async function chargeCard(gateway, cart, token) {
  let attempt = 0;
  const amount = total(cart).gross;
  while (attempt < RETRIES) {
    try {
      const res = await gateway.charge({ amount, token, idempotencyKey: cart.id });
      if (res.status == "ok") return res;
    } catch (err) {
      if (err.code === "card_declined") throw err;
    }
    attempt++;
  }
  throw new Error("payment failed after " + RETRIES + " attempts");
}

function receiptLines(cart) {
  var lines = [];
  for (const item of cart.items) {
    let line = `${item.qty} x ${item.sku}`;
    lines.push(line);
  }
  return lines;
}

module.exports = { chargeCard, receiptLines };
"""

ESLINT_CONFIG_JS = """\
const js = require("@eslint/js");
const globals = require("globals");

module.exports = [
  js.configs.recommended,
  {
    files: ["src/**/*.js"],
    languageOptions: { sourceType: "commonjs", globals: { ...globals.node, ...globals.jest } },
    rules: { eqeqeq: "error", "no-console": "warn", "prefer-const": "error" },
  },
];
"""


def cart_project(tmp: Path) -> Path:
    """A small CommonJS cart service with jest tests (two failing) and lint findings, jest and eslint 9."""
    d = tmp / "cart"
    (d / "src").mkdir(parents=True)
    (d / "package.json").write_text('{"name": "cart", "version": "1.0.0", "private": true}\n')
    files = {"src/cart.js": CART_JS, "src/format.js": FORMAT_JS, "src/cart.test.js": CART_TEST_JS,
             "src/format.test.js": FORMAT_TEST_JS, "src/api.js": API_JS, "src/checkout.js": CHECKOUT_JS,
             "eslint.config.js": ESLINT_CONFIG_JS}  # fmt: skip
    for name, text in files.items():
        (d / name).write_text(text)
    sh("npm install --no-audit --no-fund jest@29 eslint@9 @eslint/js@9 globals", cwd=d, env=npm_env(tmp))
    return d


def jest_run(tmp: Path) -> str:
    d = cart_project(tmp)
    out = sh("npx jest --ci --verbose", cwd=d, env={**npm_env(tmp), "FORCE_COLOR": "0", "CI": "true"})
    return re.sub(r"\(\d+ ms\)", "(1 ms)", out)


def eslint_json(tmp: Path) -> str:
    """``eslint -f json`` piped through a pretty-printer, as an agent reads it (jq's layout)."""
    d = cart_project(tmp)
    out = sh(
        "npx eslint -f json src | python3 -m json.tool --indent 2 --no-ensure-ascii", cwd=d, env=npm_env(tmp)
    )
    return out.replace(str(d), "/home/dev/cart")


def du_tree(tmp: Path) -> str:
    """du of the cart project's node_modules (jest, eslint and their trees), largest last."""
    return sh("du -sh node_modules/* node_modules/.bin | sort -h", cwd=cart_project(tmp))


def pytest_collect(tmp: Path) -> str:
    """tomlkit's suite collected from a tree without its toml-test submodule: one module fails to import."""
    src = checkout("python-poetry+tomlkit", tmp / "tomlkit")
    out = sh(f"{VENV / 'python'} -m pytest --collect-only -q -p no:cacheprovider tests", cwd=src)
    return out.replace(str(src), "/home/dev/tomlkit").replace(str(REPO / ".venv"), "/home/dev/tomlkit/.venv")


def cprofile_render(tmp: Path) -> str:
    """cProfile of mistune rendering rich's CHANGELOG five times, sorted by own time."""
    d = tmp / "docs"
    d.mkdir()
    git("lepture+mistune", f"archive HEAD src | tar -x -C {d}")
    (d / "CHANGELOG.md").write_text(git_show("Textualize+rich", "CHANGELOG.md"))
    (d / "render_docs.py").write_text(
        'import sys\nsys.path.insert(0, "src")\nimport mistune\n\n'
        'md = mistune.create_markdown(plugins=["table", "strikethrough", "footnotes", "url"])\n'
        'text = open("CHANGELOG.md", encoding="utf-8").read()\nfor _ in range(5):\n    html = md(text)\n'
        'print(f"rendered {len(text)} chars of markdown into {len(html)} chars of HTML")\n'
    )
    return sh(f"{VENV / 'python'} -m cProfile -s tottime render_docs.py", cwd=d)


LRU_C = """\
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct node { char *key; char *value; struct node *prev, *next; } node_t;
typedef struct { node_t *head, *tail; size_t len, cap; } lru_t;

static char *dup(const char *s) { size_t n = strlen(s) + 1; char *p = malloc(n); memcpy(p, s, n); return p; }

static node_t *node_new(const char *k, const char *v) {
  node_t *n = calloc(1, sizeof *n);
  n->key = dup(k);
  n->value = dup(v);
  return n;
}

static void evict(lru_t *c) {
  node_t *t = c->tail;
  c->tail = t->prev;
  if (c->tail) c->tail->next = NULL;
  free(t->key);
  free(t);          /* forgets t->value */
  c->len--;
}

static void put(lru_t *c, const char *k, const char *v) {
  node_t *n = node_new(k, v);
  n->next = c->head;
  if (c->head) c->head->prev = n;
  c->head = n;
  if (!c->tail) c->tail = n;
  if (++c->len > c->cap) evict(c);
}

static char *render(lru_t *c) {
  char *buf = malloc(16 * c->len + 1);
  buf[0] = '\\0';
  for (node_t *n = c->head; n; n = n->next) { strcat(buf, n->key); strcat(buf, "="); strcat(buf, n->value); strcat(buf, ";"); }
  return buf;
}

int main(void) {
  lru_t c = {0};
  c.cap = 8;
  char k[32], v[32];
  for (int i = 0; i < 40; i++) { snprintf(k, sizeof k, "user:%d", i); snprintf(v, sizeof v, "session-%04d", i * 7); put(&c, k, v); }
  char *s = render(&c);
  printf("%zu entries: %.60s...\\n", c.len, s);
  while (c.head) { node_t *n = c.head; c.head = n->next; free(n->key); free(n->value); free(n); }
  return 0;
}
"""


def valgrind_leaks(tmp: Path) -> str:
    """An LRU cache in C that forgets the evicted values and overruns its render buffer."""
    (tmp / "lru.c").write_text(LRU_C)
    sh("gcc -g -O0 -o lru lru.c", cwd=tmp)
    out = sh("valgrind --leak-check=full --show-leak-kinds=all --track-origins=yes ./lru", cwd=tmp)
    return re.sub(r"==\d+==", "==31337==", out)


def git_shortlog(tmp: Path) -> str:
    return git("encode+uvicorn", "shortlog -sn HEAD")


def git_cherry(tmp: Path) -> str:
    """A feature branch of 30 commits of which upstream took all but four (cherry-picked, so new hashes)."""
    d = git_clone(tmp)
    sh("git checkout -q -b connection-pool-metrics master~25", cwd=d)
    subjects = ["add pool metrics module", "count open connections", "count idle connections",
                "expose pool size gauge", "track acquire wait time", "histogram buckets for wait time",
                "docs: pool metrics", "rename metrics hook", "type hints for metrics", "test pool gauges",
                "fix flaky idle test", "metrics: per-origin labels", "drop unused import",
                "record connection reuse", "record connection failures", "changelog entry",
                "expose keepalive expiry counter", "metrics: http2 streams", "refactor hook registry",
                "guard against negative gauges", "test http2 stream metrics", "lint", "docs: example exporter",
                "metrics: retries counter", "make hooks async-safe", "test async hooks",
                "bump coverage threshold", "metrics: label cardinality cap", "cleanup", "final review fixes"]  # fmt: skip
    shas = []
    for i, subject in enumerate(subjects):
        # one file per commit, so a cherry-picked copy has the same patch id whichever commits it skips
        (d / "httpx" / f"_metrics_{i:02d}.py").write_text(f"# {subject}\nSTEP_{i} = {i}\n")
        sh(f"git add -A && git commit -q -m '{subject}'", cwd=d)
        shas.append(sh("git rev-parse HEAD", cwd=d).strip())
    # upstream: the maintainers took the branch commit by commit except four
    kept = {7, 18, 24, 28}
    sh("git checkout -q -b upstream-main master~25", cwd=d)
    for i, sha in enumerate(shas):
        if i not in kept:
            sh(f"git cherry-pick {sha} >/dev/null", cwd=d)
    sh("git checkout -q connection-pool-metrics", cwd=d)
    return sh("git cherry -v upstream-main", cwd=d)


PG_SETUP = """\
SELECT setseed(0.42);
CREATE TABLE customers (id serial PRIMARY KEY, email text NOT NULL, country char(2) NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers(id), status text NOT NULL, total_cents int NOT NULL, placed_at timestamptz NOT NULL);
CREATE TABLE order_items (id serial PRIMARY KEY, order_id int NOT NULL REFERENCES orders(id), sku text NOT NULL, qty int NOT NULL, price_cents int NOT NULL);
CREATE TABLE products (sku text PRIMARY KEY, name text NOT NULL, category text NOT NULL);
INSERT INTO customers (email, country, created_at) SELECT 'user' || g || '@example.com', (ARRAY['DE','FR','NL','US','GB','JP'])[1 + floor(random()*6)], now() - random() * interval '900 days' FROM generate_series(1, 50000) g;
INSERT INTO products SELECT 'SKU-' || g, 'Product ' || g, (ARRAY['books','games','garden','kitchen','toys'])[1 + g % 5] FROM generate_series(1, 2000) g;
INSERT INTO orders (customer_id, status, total_cents, placed_at) SELECT 1 + floor(random()*50000), (ARRAY['paid','paid','paid','shipped','refunded','pending'])[1 + floor(random()*6)], 500 + floor(random()*20000), timestamptz '2026-12-01' - random() * interval '700 days' FROM generate_series(1, 300000) g;
INSERT INTO order_items (order_id, sku, qty, price_cents) SELECT 1 + floor(random()*300000), 'SKU-' || (1 + floor(random()*2000)), 1 + floor(random()*4), 200 + floor(random()*5000) FROM generate_series(1, 900000) g;
CREATE INDEX orders_placed_at_idx ON orders (placed_at);
ANALYZE;
"""

PG_QUERY = """\
EXPLAIN (ANALYZE, BUFFERS)
SELECT c.country, p.category, count(DISTINCT o.id) AS orders, sum(i.qty * i.price_cents) AS revenue_cents
FROM orders o
JOIN customers c ON c.id = o.customer_id
JOIN order_items i ON i.order_id = o.id
JOIN products p ON p.sku = i.sku
WHERE o.status = 'paid' AND o.placed_at >= timestamptz '2026-11-01'
GROUP BY c.country, p.category
ORDER BY revenue_cents DESC;
"""


@contextlib.contextmanager
def postgres(tmp: Path, settings: str = "") -> Iterator[str]:
    """A throwaway PostgreSQL 15 cluster in ``tmp``, run as the ``postgres`` user, listening on a socket in
    ``tmp`` only (``settings``: more ``-c name=value`` options); yields the psql command that reaches it."""
    import pwd

    pg = Path("/usr/lib/postgresql/15/bin")
    user = pwd.getpwnam("postgres")
    os.chown(tmp, user.pw_uid, user.pw_gid)
    port = free_port()
    sh(f"runuser -u postgres -- {pg / 'initdb'} -D {tmp / 'data'} -A trust -U postgres >/dev/null")
    sh(f"runuser -u postgres -- {pg / 'pg_ctl'} -D {tmp / 'data'} -l {tmp / 'pg.log'} -w start "
       f"-o \"-p {port} -k {tmp} -c listen_addresses=''{settings}\" >/dev/null")  # fmt: skip
    try:
        yield f"psql -h {tmp} -p {port} -U postgres -q"
    finally:
        sh(f"runuser -u postgres -- {pg / 'pg_ctl'} -D {tmp / 'data'} -m fast -w stop >/dev/null")


def pg_explain(tmp: Path) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of a revenue report on a throwaway PostgreSQL 15 cluster (no index on
    order_items.order_id, so the items are read by a sequential scan)."""
    with postgres(tmp) as psql:
        (tmp / "setup.sql").write_text(PG_SETUP)
        (tmp / "report.sql").write_text(PG_QUERY)
        sh(f"{psql} -f setup.sql postgres >/dev/null", cwd=tmp)
        return sh(f"{psql} -f report.sql postgres", cwd=tmp)


def docker_ps(tmp: Path) -> str:
    """docker ps -a on a developer laptop: a compose stack, old one-off runs and CI leftovers (seeded)."""
    import random

    rnd = random.Random(31)
    rows = [
        (
            "shop-api:dev",
            '"uvicorn app.main:a…"',
            "3 hours ago",
            "Up 3 hours (healthy)",
            "0.0.0.0:8000->8000/tcp, :::8000->8000/tcp",
            "shop-api-1",
        ),
        (
            "shop-api:dev",
            '"celery -A app.work…"',
            "3 hours ago",
            "Restarting (1) 12 seconds ago",
            "",
            "shop-worker-1",
        ),
        (
            "postgres:16-alpine",
            '"docker-entrypoint.s…"',
            "3 hours ago",
            "Up 3 hours (healthy)",
            "0.0.0.0:5433->5432/tcp, :::5433->5432/tcp",
            "shop-db-1",
        ),
        (
            "redis:7.2-alpine",
            '"docker-entrypoint.s…"',
            "3 hours ago",
            "Exited (137) 2 hours ago",
            "",
            "shop-redis-1",
        ),
        (
            "nginx:1.27-alpine",
            '"/docker-entrypoint.…"',
            "3 hours ago",
            "Up 3 hours",
            "0.0.0.0:8080->80/tcp, :::8080->80/tcp",
            "shop-proxy-1",
        ),
        (
            "mailhog/mailhog:v1.0.1",
            '"MailHog"',
            "3 hours ago",
            "Up 3 hours",
            "0.0.0.0:1025->1025/tcp, 0.0.0.0:8025->8025/tcp",
            "shop-mail-1",
        ),
        (
            "minio/minio:RELEASE.2024-06-13T22-53-53Z",
            '"/usr/bin/docker-ent…"',
            "3 hours ago",
            "Up 3 hours",
            "0.0.0.0:9000-9001->9000-9001/tcp",
            "shop-s3-1",
        ),
    ]
    runs = [("python:3.12-slim", '"python3"'), ("python:3.12-slim", '"bash -c \'pytest -…"'),
            ("node:20-alpine", '"npm ci"'), ("node:20-alpine", '"docker-entrypoint.s…"'), ("postgres:15", '"psql -h host.dock…"'),
            ("alpine:3.20", '"sh"'), ("busybox:latest", '"sh"'), ("shop-api:dev", '"alembic upgrade he…"'),
            ("shop-api:dev", '"bash -c \'pytest -…"'), ("golang:1.22", '"go test ./..."'),
            ("hashicorp/terraform:1.8", '"terraform plan"'), ("amazon/aws-cli:2.15.0", '"aws s3 ls"'),
            ("curlimages/curl:8.8.0", '"curl -sf http://ap…"')]  # fmt: skip
    adjectives = ["brave", "eager", "festive", "gifted", "jolly", "keen", "loving", "nifty", "quirky", "stoic",
                  "vibrant", "zealous", "admiring", "busy", "dreamy", "epic", "happy", "laughing", "modest"]  # fmt: skip
    scientists = ["turing", "hopper", "lovelace", "curie", "noether", "shannon", "ritchie", "knuth", "liskov",
                  "hamilton", "dijkstra", "babbage", "goodall", "meitner", "tesla", "wozniak", "pike"]  # fmt: skip
    for i in range(38):
        days = 1 + i // 3
        code = rnd.choice([0, 0, 0, 0, 1, 2, 130])
        image, cmd = rnd.choice(runs)
        rows.append((image, cmd, f"{days} days ago", f"Exited ({code}) {days} days ago", "",
                     f"{rnd.choice(adjectives)}_{rnd.choice(scientists)}"))  # fmt: skip
    # docker sizes each column to its widest cell, three spaces apart
    cols = ["IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS"]
    w = [max(len(c), *(len(r[k]) for r in rows)) for k, c in enumerate(cols)]
    out = ["CONTAINER ID   " + "".join(f"{c:<{w[k]}}   " for k, c in enumerate(cols)) + "NAMES"]
    for row in rows:
        cid = "".join(rnd.choice("0123456789abcdef") for _ in range(12))
        out.append(f"{cid}   " + "".join(f"{row[k]:<{w[k]}}   " for k in range(5)) + row[5])
    return "\n".join(out) + "\n"


def kubectl_events(tmp: Path) -> str:
    """kubectl get events of a namespace during a rollout: routine events and one pod that cannot schedule."""
    import random

    rnd = random.Random(5)
    out = [
        "LAST SEEN   TYPE      REASON                    OBJECT                                     MESSAGE"
    ]
    apps = [("checkout-web", "7f9c6d5b8"), ("catalog-api", "5d8b7c9f6"), ("search-indexer", "6c5d4b3a2"),
            ("notifications", "8b7a6c5d4"), ("orders-api", "9d8c7b6a5")]  # fmt: skip
    age = 58
    for app, rs in apps:
        for _ in range(3):
            pod = f"{app}-{rs}-{''.join(rnd.choice('bcdfghjklmnpqrstvwxz2456789') for _ in range(5))}"
            node = f"ip-10-42-{rnd.randint(1, 3)}-{rnd.randint(10, 250)}.eu-west-1.compute.internal"
            image = f"registry.example.com/shop/{app}:2026.12.{rnd.randint(1, 5)}"
            for reason, msg in (
                ("Scheduled", f"Successfully assigned prod/{pod} to {node}"),
                ("Pulling", f'Pulling image "{image}"'),
                (
                    "Pulled",
                    f'Successfully pulled image "{image}" in {rnd.uniform(1, 9):.3f}s ({rnd.uniform(1, 9):.3f}s including waiting). Image size: {rnd.randint(40, 400)}123456 bytes.',
                ),
                ("Created", f"Created container {app}"),
                ("Started", f"Started container {app}"),
            ):
                out.append(f"{age}m{'':<{9 - len(str(age)) - 1}}  Normal    {reason:<25} pod/{pod:<37} {msg}")
            age -= rnd.randint(0, 2) if age > 10 else 0
        out.append(
            f"{age}m{'':<{9 - len(str(age)) - 1}}  Normal    {'ScalingReplicaSet':<25} {'deployment/' + app:<41} Scaled up replica set {app}-{rs} to 3"
        )
        out.append(
            f"{age}m{'':<{9 - len(str(age)) - 1}}  Normal    {'SuccessfulCreate':<25} {'replicaset/' + app + '-' + rs:<41} Created pod: {app}-{rs}-x{rnd.randint(1000, 9999)}"
        )
    pend = "payments-api-6b9f8d7c5-tq4zr"
    out += [
        f"14m         Normal    SuccessfulCreate          replicaset/payments-api-6b9f8d7c5          Created pod: {pend}",
        "14m         Normal    ScalingReplicaSet         deployment/payments-api                    Scaled up replica set payments-api-6b9f8d7c5 to 1",
        f"2m10s       Warning   FailedScheduling          pod/{pend}          0/6 nodes are available: 3 Insufficient memory, 3 node(s) had untolerated taint {{dedicated: batch}}. preemption: 0/6 nodes are available: 3 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling.",
        f"14m         Normal    NotTriggerScaleUp         pod/{pend}          pod didn't trigger scale-up: 2 max node group size reached, 1 node(s) had untolerated taint {{dedicated: batch}}",
    ]
    for i in range(12):
        pod = f"search-indexer-cron-2926{i:02d}0-{rnd.randint(10000, 99999)}"
        out.append(
            f"{12 - i}m{'':<{9 - len(str(12 - i)) - 1}}  Normal    {'Completed':<25} {'job/' + pod[:-6]:<41} Job completed"
        )
        out.append(
            f"{12 - i}m{'':<{9 - len(str(12 - i)) - 1}}  Normal    {'SuccessfulDelete':<25} {'cronjob/search-indexer-cron':<41} Deleted job {pod[:-6]}"
        )
    out.append(
        '45s         Warning   Unhealthy                 pod/notifications-8b7a6c5d4-k2m9p          Readiness probe failed: Get "http://10.42.2.118:8080/healthz": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
    )
    return "\n".join(out) + "\n"


def npm_audit(tmp: Path) -> str:
    """npm audit's text report for the storefront's 2020-era pins (the registry's audit endpoint is not
    reachable here: written in npm 10's layout)."""
    adv = [
        ("axios  <=0.29.0", "high", [("Axios Cross-Site Request Forgery Vulnerability", "GHSA-wf5p-g6vw-rhxx"),
                                     ("axios Requests Vulnerable To Possible SSRF and Credential Leakage via Absolute URL", "GHSA-jr5f-v2jv-69x6"),
                                     ("Server-Side Request Forgery in axios", "GHSA-4w2v-q235-vp99")],
         "fix available via `npm audit fix --force`\nWill install axios@1.21.1, which is a breaking change", ["node_modules/axios"]),
        ("body-parser  <1.20.3", "high", [("body-parser vulnerable to denial of service when url encoding is enabled", "GHSA-qwcr-r2fm-qrc7")],
         "fix available via `npm audit fix --force`\nWill install express@4.22.1, which is outside the stated dependency range", ["node_modules/body-parser"]),
        ("cookie  <0.7.0", "low", [("cookie accepts cookie name, path, and domain with out of bounds characters", "GHSA-pxg6-pf52-xh8x")],
         "fix available via `npm audit fix --force`\nWill install express@4.22.1, which is outside the stated dependency range", ["node_modules/cookie"]),
        ("express  <=4.21.1 || 5.0.0-alpha.1 - 5.0.0", "high", [("Express.js Open Redirect in malformed URLs", "GHSA-rv95-896h-c2vc"),
                                                             ("express vulnerable to XSS via response.redirect()", "GHSA-qw6h-vgh9-j6wx")],
         "Depends on vulnerable versions of body-parser\nDepends on vulnerable versions of cookie\nDepends on vulnerable versions of path-to-regexp\nDepends on vulnerable versions of qs\nDepends on vulnerable versions of send\nDepends on vulnerable versions of serve-static\nfix available via `npm audit fix --force`\nWill install express@4.22.1, which is outside the stated dependency range", ["node_modules/express"]),
        ("follow-redirects  <=1.15.5", "moderate", [("Exposure of Sensitive Information to an Unauthorized Actor in follow-redirects", "GHSA-pw2r-vq6v-hr8c"),
                                                 ("follow-redirects' Proxy-Authorization header kept across hosts", "GHSA-cxjh-pqwp-8mfp")],
         "fix available via `npm audit fix`", ["node_modules/follow-redirects"]),
        ("jsonwebtoken  <=8.5.1", "high", [("jsonwebtoken unrestricted key type could lead to legacy keys usage", "GHSA-8cf7-32gw-wr33"),
                                           ("jsonwebtoken's insecure implementation of key retrieval function could lead to Forgeable Public/Private Tokens from RSA to HMAC", "GHSA-hjrf-2m68-5959"),
                                           ("jsonwebtoken vulnerable to signature validation bypass due to insecure default algorithm in jwt.verify()", "GHSA-qwph-4952-7xr6")],
         "fix available via `npm audit fix --force`\nWill install jsonwebtoken@9.0.3, which is a breaking change", ["node_modules/jsonwebtoken"]),
        ("lodash  <=4.17.20", "critical", [("Regular Expression Denial of Service (ReDoS) in lodash", "GHSA-29mw-wpgm-hmr9"),
                                          ("Command Injection in lodash", "GHSA-35jh-r3h4-6jhm")],
         "fix available via `npm audit fix --force`\nWill install lodash@4.18.1, which is outside the stated dependency range", ["node_modules/lodash"]),
        ("minimist  <=1.2.5", "critical", [("Prototype Pollution in minimist", "GHSA-xvch-5gv4-984h"), ("Prototype Pollution in minimist", "GHSA-vh95-rmgr-6w4m")],
         "fix available via `npm audit fix --force`\nWill install minimist@1.2.8, which is outside the stated dependency range", ["node_modules/minimist"]),
        ("moment  <=2.29.3", "high", [("Path Traversal: 'dir/../../filename' in moment.locale", "GHSA-8hfj-j24r-96c4"),
                                      ("Moment.js vulnerable to Inefficient Regular Expression Complexity", "GHSA-wc69-rhjr-hc9g")],
         "fix available via `npm audit fix --force`\nWill install moment@2.31.0, which is outside the stated dependency range", ["node_modules/moment"]),
        ("node-fetch  <=2.6.6", "high", [("The `size` option isn't honored after following a redirect in node-fetch", "GHSA-w7rc-rwvf-8q5r"),
                                          ("node-fetch forwards secure headers to untrusted sites", "GHSA-r683-j2x4-v87g")],
         "fix available via `npm audit fix --force`\nWill install node-fetch@2.7.0, which is outside the stated dependency range", ["node_modules/node-fetch"]),
        ("path-to-regexp  <0.1.12", "high", [("path-to-regexp outputs backtracking regular expressions", "GHSA-9wv6-86v2-598j"),
                                              ("path-to-regexp contains a ReDoS", "GHSA-rhx6-c78j-4q9w")],
         "fix available via `npm audit fix --force`\nWill install express@4.22.1, which is outside the stated dependency range", ["node_modules/path-to-regexp"]),
        ("qs  6.7.0 - 6.7.2", "high", [("qs vulnerable to Prototype Pollution", "GHSA-hrpp-h998-j3pp")],
         "fix available via `npm audit fix --force`\nWill install qs@6.17.1, which is outside the stated dependency range", ["node_modules/qs"]),
        ("send  <0.19.0", "low", [("send vulnerable to template injection that can lead to XSS", "GHSA-m6fv-jmcg-4jfg")],
         "fix available via `npm audit fix --force`\nWill install express@4.22.1, which is outside the stated dependency range", ["node_modules/send"]),
        ("serve-static  <=1.16.0", "low", [("serve-static vulnerable to template injection that can lead to XSS", "GHSA-cm22-4g7w-348p")],
         "Depends on vulnerable versions of send\nfix available via `npm audit fix --force`\nWill install express@4.22.1, which is outside the stated dependency range", ["node_modules/serve-static"]),
    ]  # fmt: skip
    out = ["# npm audit report", ""]
    for head, sev, items, fix, paths in adv:
        out.append(head)
        out.append(f"Severity: {sev}")
        out += [f"{title} - https://github.com/advisories/{ghsa}" for title, ghsa in items]
        out += fix.split("\n")
        out += paths
        out.append("")
    out.append("14 vulnerabilities (3 low, 1 moderate, 8 high, 2 critical)")
    out += ["", "To address issues that do not require attention, run:", "  npm audit fix", "",
            "To address all issues (including breaking changes), run:", "  npm audit fix --force"]  # fmt: skip
    return "\n".join(out) + "\n"


def mvn_tree(tmp: Path) -> str:
    """mvn dependency:tree of a Spring Boot 3.2 service (written by hand: no Maven Central here)."""
    tree = """\
com.example.shop:order-service:jar:1.8.0-SNAPSHOT
+- org.springframework.boot:spring-boot-starter-web:jar:3.2.5:compile
|  +- org.springframework.boot:spring-boot-starter:jar:3.2.5:compile
|  |  +- org.springframework.boot:spring-boot:jar:3.2.5:compile
|  |  +- org.springframework.boot:spring-boot-autoconfigure:jar:3.2.5:compile
|  |  +- org.springframework.boot:spring-boot-starter-logging:jar:3.2.5:compile
|  |  |  +- ch.qos.logback:logback-classic:jar:1.4.14:compile
|  |  |  |  \\- ch.qos.logback:logback-core:jar:1.4.14:compile
|  |  |  +- org.apache.logging.log4j:log4j-to-slf4j:jar:2.21.1:compile
|  |  |  |  \\- org.apache.logging.log4j:log4j-api:jar:2.21.1:compile
|  |  |  \\- org.slf4j:jul-to-slf4j:jar:2.0.13:compile
|  |  +- jakarta.annotation:jakarta.annotation-api:jar:2.1.1:compile
|  |  \\- org.yaml:snakeyaml:jar:2.2:compile
|  +- org.springframework.boot:spring-boot-starter-json:jar:3.2.5:compile
|  |  +- com.fasterxml.jackson.core:jackson-databind:jar:2.15.4:compile
|  |  |  +- com.fasterxml.jackson.core:jackson-annotations:jar:2.15.4:compile
|  |  |  \\- com.fasterxml.jackson.core:jackson-core:jar:2.15.4:compile
|  |  +- com.fasterxml.jackson.datatype:jackson-datatype-jdk8:jar:2.15.4:compile
|  |  +- com.fasterxml.jackson.datatype:jackson-datatype-jsr310:jar:2.15.4:compile
|  |  \\- com.fasterxml.jackson.module:jackson-module-parameter-names:jar:2.15.4:compile
|  +- org.springframework.boot:spring-boot-starter-tomcat:jar:3.2.5:compile
|  |  +- org.apache.tomcat.embed:tomcat-embed-core:jar:10.1.20:compile
|  |  +- org.apache.tomcat.embed:tomcat-embed-el:jar:10.1.20:compile
|  |  \\- org.apache.tomcat.embed:tomcat-embed-websocket:jar:10.1.20:compile
|  +- org.springframework:spring-web:jar:6.1.6:compile
|  |  +- org.springframework:spring-beans:jar:6.1.6:compile
|  |  \\- io.micrometer:micrometer-observation:jar:1.12.5:compile
|  |     \\- io.micrometer:micrometer-commons:jar:1.12.5:compile
|  \\- org.springframework:spring-webmvc:jar:6.1.6:compile
|     +- org.springframework:spring-aop:jar:6.1.6:compile
|     +- org.springframework:spring-context:jar:6.1.6:compile
|     \\- org.springframework:spring-expression:jar:6.1.6:compile
+- org.springframework.boot:spring-boot-starter-data-jpa:jar:3.2.5:compile
|  +- org.springframework.boot:spring-boot-starter-aop:jar:3.2.5:compile
|  |  \\- org.aspectj:aspectjweaver:jar:1.9.22:compile
|  +- org.springframework.boot:spring-boot-starter-jdbc:jar:3.2.5:compile
|  |  +- com.zaxxer:HikariCP:jar:5.0.1:compile
|  |  \\- org.springframework:spring-jdbc:jar:6.1.6:compile
|  +- org.hibernate.orm:hibernate-core:jar:6.4.4.Final:compile
|  |  +- jakarta.persistence:jakarta.persistence-api:jar:3.1.0:compile
|  |  +- jakarta.transaction:jakarta.transaction-api:jar:2.0.1:compile
|  |  +- org.jboss.logging:jboss-logging:jar:3.5.3.Final:runtime
|  |  +- org.hibernate.common:hibernate-commons-annotations:jar:6.0.6.Final:runtime
|  |  +- io.smallrye:jandex:jar:3.1.2:runtime
|  |  +- com.fasterxml:classmate:jar:1.6.0:runtime
|  |  +- net.bytebuddy:byte-buddy:jar:1.14.13:runtime
|  |  +- org.glassfish.jaxb:jaxb-runtime:jar:4.0.5:runtime
|  |  |  \\- org.glassfish.jaxb:jaxb-core:jar:4.0.5:runtime
|  |  |     +- org.eclipse.angus:angus-activation:jar:2.0.2:runtime
|  |  |     +- org.glassfish.jaxb:txw2:jar:4.0.5:runtime
|  |  |     \\- com.sun.istack:istack-commons-runtime:jar:4.1.2:runtime
|  |  +- jakarta.inject:jakarta.inject-api:jar:2.0.1:runtime
|  |  \\- org.antlr:antlr4-runtime:jar:4.13.0:compile
|  +- org.springframework.data:spring-data-jpa:jar:3.2.5:compile
|  |  +- org.springframework.data:spring-data-commons:jar:3.2.5:compile
|  |  +- org.springframework:spring-orm:jar:6.1.6:compile
|  |  +- org.springframework:spring-tx:jar:6.1.6:compile
|  |  \\- org.slf4j:slf4j-api:jar:2.0.13:compile
|  \\- org.springframework:spring-aspects:jar:6.1.6:compile
+- org.springframework.boot:spring-boot-starter-validation:jar:3.2.5:compile
|  +- org.apache.tomcat.embed:tomcat-embed-el:jar:10.1.20:compile
|  \\- org.hibernate.validator:hibernate-validator:jar:8.0.1.Final:compile
|     \\- jakarta.validation:jakarta.validation-api:jar:3.0.2:compile
+- org.springframework.boot:spring-boot-starter-actuator:jar:3.2.5:compile
|  +- org.springframework.boot:spring-boot-actuator-autoconfigure:jar:3.2.5:compile
|  |  \\- org.springframework.boot:spring-boot-actuator:jar:3.2.5:compile
|  +- io.micrometer:micrometer-jakarta9:jar:1.12.5:compile
|  \\- io.micrometer:micrometer-core:jar:1.12.5:compile
|     +- org.hdrhistogram:HdrHistogram:jar:2.1.12:runtime
|     \\- org.latencyutils:LatencyUtils:jar:2.0.3:runtime
+- org.springframework.kafka:spring-kafka:jar:3.1.4:compile
|  +- org.springframework:spring-messaging:jar:6.1.6:compile
|  +- org.springframework.retry:spring-retry:jar:2.0.5:compile
|  \\- org.apache.kafka:kafka-clients:jar:3.6.2:compile
|     +- com.github.luben:zstd-jni:jar:1.5.5-6:runtime
|     +- org.lz4:lz4-java:jar:1.8.0:runtime
|     \\- org.xerial.snappy:snappy-java:jar:1.1.10.5:runtime
+- io.micrometer:micrometer-registry-prometheus:jar:1.12.5:runtime
|  \\- io.prometheus:simpleclient_common:jar:0.16.0:runtime
|     \\- io.prometheus:simpleclient:jar:0.16.0:runtime
|        +- io.prometheus:simpleclient_tracer_otel:jar:0.16.0:runtime
|        |  \\- io.prometheus:simpleclient_tracer_common:jar:0.16.0:runtime
|        \\- io.prometheus:simpleclient_tracer_otel_agent:jar:0.16.0:runtime
+- com.stripe:stripe-java:jar:24.21.0:compile
|  \\- com.google.code.gson:gson:jar:2.10.1:compile
+- org.postgresql:postgresql:jar:42.6.2:runtime
|  \\- org.checkerframework:checker-qual:jar:3.31.0:runtime
+- org.flywaydb:flyway-core:jar:9.22.3:compile
+- org.mapstruct:mapstruct:jar:1.5.5.Final:compile
+- org.projectlombok:lombok:jar:1.18.32:provided
+- org.springframework.boot:spring-boot-starter-test:jar:3.2.5:test
|  +- org.springframework.boot:spring-boot-test:jar:3.2.5:test
|  +- org.springframework.boot:spring-boot-test-autoconfigure:jar:3.2.5:test
|  +- com.jayway.jsonpath:json-path:jar:2.9.0:test
|  +- jakarta.xml.bind:jakarta.xml.bind-api:jar:4.0.2:compile
|  |  \\- jakarta.activation:jakarta.activation-api:jar:2.1.3:compile
|  +- net.minidev:json-smart:jar:2.5.1:test
|  |  \\- net.minidev:accessors-smart:jar:2.5.1:test
|  |     \\- org.ow2.asm:asm:jar:9.6:test
|  +- org.assertj:assertj-core:jar:3.24.2:test
|  +- org.awaitility:awaitility:jar:4.2.1:test
|  +- org.hamcrest:hamcrest:jar:2.2:test
|  +- org.junit.jupiter:junit-jupiter:jar:5.10.2:test
|  |  +- org.junit.jupiter:junit-jupiter-api:jar:5.10.2:test
|  |  |  +- org.opentest4j:opentest4j:jar:1.3.0:test
|  |  |  +- org.junit.platform:junit-platform-commons:jar:1.10.2:test
|  |  |  \\- org.apiguardian:apiguardian-api:jar:1.1.2:test
|  |  +- org.junit.jupiter:junit-jupiter-params:jar:5.10.2:test
|  |  \\- org.junit.jupiter:junit-jupiter-engine:jar:5.10.2:test
|  |     \\- org.junit.platform:junit-platform-engine:jar:1.10.2:test
|  +- org.mockito:mockito-core:jar:5.7.0:test
|  |  +- net.bytebuddy:byte-buddy-agent:jar:1.14.13:test
|  |  \\- org.objenesis:objenesis:jar:3.3:test
|  +- org.mockito:mockito-junit-jupiter:jar:5.7.0:test
|  +- org.skyscreamer:jsonassert:jar:1.5.1:test
|  |  \\- com.vaadin.external.google:android-json:jar:0.0.20131108.vaadin1:test
|  +- org.springframework:spring-core:jar:6.1.6:compile
|  |  \\- org.springframework:spring-jcl:jar:6.1.6:compile
|  +- org.springframework:spring-test:jar:6.1.6:test
|  \\- org.xmlunit:xmlunit-core:jar:2.9.1:test
+- org.springframework.kafka:spring-kafka-test:jar:3.1.4:test
|  +- org.apache.zookeeper:zookeeper:jar:3.8.4:test
|  |  +- org.apache.zookeeper:zookeeper-jute:jar:3.8.4:test
|  |  +- org.apache.yetus:audience-annotations:jar:0.12.0:test
|  |  +- io.netty:netty-handler:jar:4.1.109.Final:test
|  |  \\- commons-io:commons-io:jar:2.11.0:test
|  +- org.apache.kafka:kafka-clients:jar:test:3.6.2:test
|  +- org.apache.kafka:kafka-metadata:jar:3.6.2:test
|  +- org.apache.kafka:kafka_2.13:jar:3.6.2:test
|  |  +- org.scala-lang:scala-library:jar:2.13.11:test
|  |  +- com.fasterxml.jackson.module:jackson-module-scala_2.13:jar:2.15.4:test
|  |  +- com.fasterxml.jackson.dataformat:jackson-dataformat-csv:jar:2.15.4:test
|  |  \\- net.sf.jopt-simple:jopt-simple:jar:5.0.4:test
|  \\- org.junit.platform:junit-platform-launcher:jar:1.10.2:test
\\- org.testcontainers:postgresql:jar:1.19.7:test
   \\- org.testcontainers:jdbc:jar:1.19.7:test
      \\- org.testcontainers:database-commons:jar:1.19.7:test
         \\- org.testcontainers:testcontainers:jar:1.19.7:test
            +- org.rnorth.duct-tape:duct-tape:jar:1.0.8:test
            +- com.github.docker-java:docker-java-api:jar:3.3.6:test
            \\- com.github.docker-java:docker-java-transport-zerodep:jar:3.3.6:test
               \\- net.java.dev.jna:jna:jar:5.13.0:test"""
    head = """\
[INFO] Scanning for projects...
[INFO]
[INFO] ------------------< com.example.shop:order-service >-------------------
[INFO] Building order-service 1.8.0-SNAPSHOT
[INFO]   from pom.xml
[INFO] --------------------------------[ jar ]---------------------------------
[INFO]
[INFO] --- dependency:3.6.1:tree (default-cli) @ order-service ---"""
    tail = """\
[INFO] ------------------------------------------------------------------------
[INFO] BUILD SUCCESS
[INFO] ------------------------------------------------------------------------
[INFO] Total time:  2.184 s
[INFO] Finished at: 2026-12-06T09:41:27+01:00
[INFO] ------------------------------------------------------------------------"""
    return head + "\n" + "\n".join("[INFO] " + line for line in tree.split("\n")) + "\n" + tail + "\n"


def gradle_build(tmp: Path) -> str:
    """./gradlew build of a multi-project Java build: a compile error after a rename in :domain."""
    modules = ["common", "domain", "persistence", "billing", "api", "worker"]
    out = ["Starting a Gradle Daemon (subsequent builds will be faster)", "",
           "> Configure project :", "w: file:///home/dev/shop/build.gradle.kts:41:9: 'jcenter(): RepositoryHandler' is deprecated. JFrog announced JCenter's sunset in February 2021. Use mavenCentral() instead.", ""]  # fmt: skip
    for m in modules[:3]:
        out += [f"> Task :{m}:compileJava UP-TO-DATE", f"> Task :{m}:processResources NO-SOURCE",
                f"> Task :{m}:classes UP-TO-DATE", f"> Task :{m}:jar UP-TO-DATE"]  # fmt: skip
    out += ["> Task :common:compileTestJava UP-TO-DATE", "> Task :common:processTestResources NO-SOURCE",
            "> Task :common:testClasses UP-TO-DATE", "> Task :common:test UP-TO-DATE",
            "> Task :domain:compileTestJava", "> Task :domain:processTestResources NO-SOURCE", "> Task :domain:testClasses",
            "", "> Task :domain:test", "",
            "OrderTest > totalIncludesShipping() PASSED", "OrderTest > refundCannotExceedTotal() PASSED",
            "OrderTest > emptyOrderHasZeroTotal() PASSED", "MoneyTest > addsSameCurrency() PASSED",
            "MoneyTest > rejectsMixedCurrencies() PASSED", "MoneyTest > roundsHalfEven() PASSED", "",
            "> Task :billing:processResources", "",
            "> Task :billing:compileJava",
            "/home/dev/shop/billing/src/main/java/com/example/shop/billing/InvoiceService.java:58: warning: [deprecation] getTimeZone() in Customer has been deprecated",
            "        ZoneId zone = customer.getTimeZone().toZoneId();",
            "                              ^",
            "/home/dev/shop/billing/src/main/java/com/example/shop/billing/InvoiceService.java:74: error: cannot find symbol",
            "        long cents = order.getTotalCents() - order.getDiscountCents();",
            "                          ^",
            "  symbol:   method getTotalCents()",
            "  location: variable order of type Order",
            "/home/dev/shop/billing/src/main/java/com/example/shop/billing/InvoiceService.java:112: error: incompatible types: Money cannot be converted to long",
            "        long tax = taxPolicy.taxFor(order);",
            "                                   ^",
            "/home/dev/shop/billing/src/main/java/com/example/shop/billing/RefundService.java:33: warning: [unchecked] unchecked cast",
            "        List<Refund> refunds = (List<Refund>) cache.get(order.id());",
            "                                                       ^",
            "  required: List<Refund>",
            "  found:    Object",
            "Note: Some input files use or override a deprecated API.",
            "Note: Recompile with -Xlint:deprecation for details.",
            "2 errors",
            "2 warnings", "",
            "> Task :billing:compileJava FAILED",
            "> Task :api:processResources UP-TO-DATE",
            "> Task :worker:processResources UP-TO-DATE", "",
            "FAILURE: Build failed with an exception.", "",
            "* What went wrong:",
            "Execution failed for task ':billing:compileJava'.",
            "> Compilation failed; see the compiler error output for details.", "",
            "* Try:",
            "> Run with --info option to get more log output.",
            "> Run with --scan to get full insights.", "",
            "Deprecated Gradle features were used in this build, making it incompatible with Gradle 9.0.", "",
            "You can use '--warning-mode all' to show the individual deprecation warnings and determine if they come from your own scripts or plugins.", "",
            "For more on this, please refer to https://docs.gradle.org/8.7/userguide/command_line_interface.html#sec:command_line_warnings in the Gradle documentation.", "",
            "BUILD FAILED in 38s",
            "23 actionable tasks: 6 executed, 17 up-to-date"]  # fmt: skip
    return "\n".join(out) + "\n"


def gh_run_log(tmp: Path) -> str:
    """gh run view --log-failed: the failed job's steps, each line prefixed with job, step and a timestamp."""
    import random

    rnd = random.Random(9)
    t = [14 * 3600 + 2 * 60 + 3.0]

    def ts() -> str:
        t[0] += rnd.uniform(0.001, 0.4)
        s = t[0]
        return f"2026-12-05T{int(s // 3600):02d}:{int(s % 3600 // 60):02d}:{s % 60:010.7f}Z"

    job = "test (3.12, ubuntu-latest)"
    out: list[str] = []

    def step(name: str, lines: list[str]) -> None:
        out.extend(f"{job}\t{name}\t{ts()} {line}" for line in lines)

    step("Set up job", ["Current runner version: '2.321.0'", "Operating System", "  Ubuntu", "  24.04.1", "  LTS",
                        "Runner Image", "  Image: ubuntu-24.04", "  Version: 20261201.1.0",
                        "GITHUB_TOKEN Permissions", "  Contents: read", "  Metadata: read", "  PullRequests: write",
                        "Secret source: Actions", "Prepare workflow directory", "Prepare all required actions",
                        "Getting action download info", "Download action repository 'actions/checkout@v4' (SHA:11bd71901bbe5b1630ceea73d27597364c9af683)",
                        "Download action repository 'actions/setup-python@v5' (SHA:0b93645e9fea7318ecaed2b359559ac225c90a2b)",
                        "Download action repository 'actions/cache@v4' (SHA:1bd1e32a3bdc45362d1e726936510720a7c30a57)",
                        "Complete job name: test (3.12, ubuntu-latest)"])  # fmt: skip
    step("Run actions/setup-python@v5", ["##[group]Run actions/setup-python@v5", "with:", "  python-version: 3.12",
                                         "  cache: pip", "##[endgroup]", "##[group]Installed versions",
                                         "Successfully set up CPython (3.12.7)", "##[endgroup]",
                                         "Cache hit for: setup-python-Linux-x64-24.04-Ubuntu-python-3.12.7-pip-4f1c0d8e",
                                         "Received 48211433 of 48211433 (100.0%), 61.2 MBs/sec", "Cache restored from key: setup-python-Linux-x64-24.04-Ubuntu-python-3.12.7-pip-4f1c0d8e"])  # fmt: skip
    pkgs = ["aiohttp-3.11.9", "aiosignal-1.3.1", "anyio-4.6.2", "attrs-24.2.0", "certifi-2024.8.30", "coverage-7.6.8",
            "frozenlist-1.5.0", "h11-0.14.0", "httpcore-1.0.7", "httpx-0.28.0", "idna-3.10", "iniconfig-2.0.0",
            "msgspec-0.18.6", "multidict-6.1.0", "packaging-24.2", "pluggy-1.5.0", "propcache-0.2.1", "pytest-8.3.4",
            "pytest-asyncio-0.24.0", "pytest-cov-6.0.0", "sniffio-1.3.1", "yarl-1.18.3"]  # fmt: skip
    step("Install", ["##[group]Run python -m pip install -e '.[dev]'", "python -m pip install -e '.[dev]'",
                     "shell: /usr/bin/bash -e {0}", "##[endgroup]", "Obtaining file:///home/runner/work/ledger/ledger",
                     "  Installing build dependencies: started", "  Installing build dependencies: finished with status 'done'"]
         + [f"Collecting {p.rsplit('-', 1)[0]}==" + p.rsplit("-", 1)[1] for p in pkgs]
         + [f"  Using cached {p.replace('-', '_', p.count('-') - 1)}-py3-none-any.whl" for p in pkgs]
         + ["Successfully installed " + " ".join(pkgs) + " ledger-0.9.0.dev0"])  # fmt: skip
    tests = [f"tests/test_{m}.py::test_{n}" for m in ("accounts", "journal", "ledger", "reports", "currency")
             for n in ("create", "list", "update", "delete", "balance", "export", "import", "rounding")]  # fmt: skip
    body = ["##[group]Run pytest -v --cov=ledger", "pytest -v --cov=ledger", "shell: /usr/bin/bash -e {0}", "##[endgroup]",
            "============================= test session starts ==============================",
            "platform linux -- Python 3.12.7, pytest-8.3.4, pluggy-1.5.0 -- /opt/hostedtoolcache/Python/3.12.7/x64/bin/python",
            "rootdir: /home/runner/work/ledger/ledger", "configfile: pyproject.toml",
            "plugins: asyncio-0.24.0, cov-6.0.0, anyio-4.6.2", "collecting ... collected 40 items", ""]  # fmt: skip
    for i, name in enumerate(tests):
        status = "FAILED" if name == "tests/test_reports.py::test_export" else "PASSED"
        body.append(f"{name} {status}{'':>{48 - len(name)}} [{(i + 1) * 100 // len(tests):3d}%]")
    body += ["", "=================================== FAILURES ===================================",
             "______________________________ test_export _______________________________", "",
             "tmp_path = PosixPath('/tmp/pytest-of-runner/pytest-0/test_export0')", "",
             "    def test_export(tmp_path):",
             "        ledger = Ledger.open(tmp_path / \"books.db\")",
             "        ledger.post(\"2026-11-30\", \"rent\", Decimal(\"-1250.00\"))",
             "        out = tmp_path / \"report.csv\"",
             "        export_month(ledger, \"2026-11\", out)",
             ">       assert out.read_text().splitlines()[0] == \"date,account,amount\"",
             "E       AssertionError: assert 'date;account;amount' == 'date,account,amount'",
             "E         ",
             "E         - date,account,amount",
             "E         ?     ^       ^",
             "E         + date;account;amount",
             "E         ?     ^       ^", "",
             "tests/test_reports.py:41: AssertionError",
             "---------- coverage: platform linux, python 3.12.7-final-0 -----------",
             "Name                     Stmts   Miss  Cover",
             "--------------------------------------------",
             "ledger/__init__.py           4      0   100%", "ledger/accounts.py          88      6    93%",
             "ledger/currency.py          41      2    95%", "ledger/journal.py           97     11    89%",
             "ledger/reports.py           63      9    86%", "--------------------------------------------",
             "TOTAL                      293     28    90%", "",
             "=========================== short test summary info ============================",
             "FAILED tests/test_reports.py::test_export - AssertionError: assert 'date;account;amount' == 'date,account,amount'",
             "========================= 1 failed, 39 passed in 4.87s =========================",
             "##[error]Process completed with exit code 1."]  # fmt: skip
    step("Run pytest -v --cov=ledger", body)
    return "\n".join(out) + "\n"


def aws_instances(tmp: Path) -> str:
    """aws ec2 describe-instances (JSON output) of a small account: nine instances, one stopped (seeded)."""
    import random

    rnd = random.Random(13)
    names = [
        "web-1",
        "web-2",
        "web-3",
        "worker-1",
        "worker-2",
        "bastion",
        "db-replica",
        "metrics",
        "ci-runner",
    ]
    reservations = []
    for i, name in enumerate(names):
        iid = "i-0" + "".join(rnd.choice("0123456789abcdef") for _ in range(16))
        ip = "10.20.1.37" if name == "bastion" else f"10.20.{rnd.choice([2, 3])}.{rnd.randint(10, 250)}"
        eni = "eni-0" + "".join(rnd.choice("0123456789abcdef") for _ in range(16))
        stopped = name == "bastion"
        public = {} if stopped else {"PublicDnsName": f"ec2-3-{rnd.randint(64, 255)}-{rnd.randint(0, 255)}-{rnd.randint(0, 255)}.eu-west-1.compute.amazonaws.com",
                                     "PublicIpAddress": f"3.{rnd.randint(64, 255)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}"}  # fmt: skip
        inst: dict[str, object] = {
            "AmiLaunchIndex": 0, "ImageId": "ami-0" + "".join(rnd.choice("0123456789abcdef") for _ in range(16)),
            "InstanceId": iid, "InstanceType": rnd.choice(["t3.micro", "t3.small", "m6i.large", "c6i.xlarge"]),
            "KeyName": "ops-2026", "LaunchTime": f"2026-{rnd.randint(1, 11):02d}-{rnd.randint(1, 28):02d}T{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:17+00:00",
            "Monitoring": {"State": "disabled"},
            "Placement": {"AvailabilityZone": f"eu-west-1{'abc'[i % 3]}", "GroupName": "", "Tenancy": "default"},
            "PrivateDnsName": f"ip-{ip.replace('.', '-')}.eu-west-1.compute.internal", "PrivateIpAddress": ip,
            "ProductCodes": [], **({"PublicDnsName": ""} if stopped else {"PublicDnsName": public["PublicDnsName"], "PublicIpAddress": public["PublicIpAddress"]}),
            "State": {"Code": 80 if stopped else 16, "Name": "stopped" if stopped else "running"},
            "StateTransitionReason": "User initiated (2026-12-04 18:22:07 GMT)" if stopped else "",
            "SubnetId": f"subnet-0{rnd.randint(10**15, 10**16 - 1):x}"[:24], "VpcId": "vpc-0a1b2c3d4e5f60718",
            "Architecture": "x86_64",
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"AttachTime": "2026-03-02T10:15:44+00:00", "DeleteOnTermination": True,
                                                                        "Status": "attached", "VolumeId": "vol-0" + "".join(rnd.choice("0123456789abcdef") for _ in range(16))}}],
            "EbsOptimized": False, "EnaSupport": True, "Hypervisor": "xen",
            "NetworkInterfaces": [{
                **({} if stopped else {"Association": {"IpOwnerId": "amazon", "PublicDnsName": public["PublicDnsName"], "PublicIp": public["PublicIpAddress"]}}),
                "Attachment": {"AttachTime": "2026-03-02T10:15:43+00:00", "AttachmentId": "eni-attach-0" + "".join(rnd.choice("0123456789abcdef") for _ in range(16)),
                               "DeleteOnTermination": True, "DeviceIndex": 0, "Status": "attached", "NetworkCardIndex": 0},
                "Description": "", "Groups": [{"GroupName": f"{name.split('-')[0]}-sg", "GroupId": f"sg-0{rnd.randint(10**15, 10**16 - 1):x}"[:20]}],
                "Ipv6Addresses": [], "MacAddress": ":".join(f"{rnd.randint(0, 255):02x}" for _ in range(6)),
                "NetworkInterfaceId": eni, "OwnerId": "123456789012",
                "PrivateDnsName": f"ip-{ip.replace('.', '-')}.eu-west-1.compute.internal", "PrivateIpAddress": ip,
                "PrivateIpAddresses": [{"Primary": True, "PrivateDnsName": f"ip-{ip.replace('.', '-')}.eu-west-1.compute.internal", "PrivateIpAddress": ip}],
                "SourceDestCheck": True, "Status": "in-use", "SubnetId": "subnet-0c4d5e6f7a8b9c0d1", "VpcId": "vpc-0a1b2c3d4e5f60718", "InterfaceType": "interface"}],
            "RootDeviceName": "/dev/xvda", "RootDeviceType": "ebs",
            "SecurityGroups": [{"GroupName": f"{name.split('-')[0]}-sg", "GroupId": "sg-0" + "".join(rnd.choice("0123456789abcdef") for _ in range(16))}],
            "SourceDestCheck": True,
            **({"StateReason": {"Code": "Client.UserInitiatedShutdown", "Message": "Client.UserInitiatedShutdown: User initiated shutdown"}} if stopped else {}),
            "Tags": [{"Key": "env", "Value": "prod"}, {"Key": "Name", "Value": name}, {"Key": "team", "Value": rnd.choice(["platform", "payments", "data"])}],
            "VirtualizationType": "hvm", "CpuOptions": {"CoreCount": 1, "ThreadsPerCore": 2},
            "MetadataOptions": {"State": "applied", "HttpTokens": "required", "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled"},
            "PlatformDetails": "Linux/UNIX", "UsageOperation": "RunInstances",
        }  # fmt: skip
        reservations.append({"Groups": [], "Instances": [inst], "OwnerId": "123456789012",
                             "ReservationId": "r-0" + "".join(rnd.choice("0123456789abcdef") for _ in range(16))})  # fmt: skip
    return json.dumps({"Reservations": reservations}, indent=4) + "\n"


def gh_issue(tmp: Path) -> str:
    """gh issue view --comments: a bug report thread with +1s, guesses, and one maintainer's workaround."""
    head = """\
title:	Workers hang forever after Redis failover (BLPOP never returns)
state:	OPEN
author:	mkovacs
labels:	bug, needs-repro
comments:	14
assignees:	tdelacroix
projects:
milestone:	v3.2
number:	4821
--
### Describe the bug

After our Redis primary failed over (Sentinel, 3 nodes), every queue worker stopped picking up jobs. The
processes are alive, CPU is 0%, and `py-spy dump` shows them all sitting in `BLPOP` inside
`redis.connection.Connection.read_response`. Restarting the workers fixes it until the next failover.

### To reproduce

1. Run `taskq worker --queues default,mail --concurrency 4` against a Sentinel-managed Redis.
2. `redis-cli -p 26379 SENTINEL failover mymaster`
3. Enqueue a job: it is never picked up.

### Versions

- taskq 3.1.4
- redis-py 5.0.8
- Python 3.12.6, Debian 12
- Redis 7.2.5 with Sentinel

### Logs

```
2026-11-28 09:14:02,118 INFO taskq.worker: worker-3 listening on default, mail
2026-11-28 09:51:40,007 WARNING taskq.broker: sentinel reports new master 10.0.4.12:6379
2026-11-28 09:51:40,009 INFO taskq.broker: reconnecting publisher to 10.0.4.12:6379
```

No further log lines after that, for hours.
"""
    comments = [
        ("jlinde", "Member", "3 weeks ago", "Thanks for the report. Can you share your broker settings? In particular `broker_transport_options`."),
        ("mkovacs", "Author", "3 weeks ago", "```python\nBROKER_URL = \"sentinel://sentinel-0:26379;sentinel://sentinel-1:26379;sentinel://sentinel-2:26379\"\nbroker_transport_options = {\"master_name\": \"mymaster\", \"visibility_timeout\": 3600}\n```\nNothing else is set."),
        ("aronoff", "None", "3 weeks ago", "Same here on 3.1.3 with AWS ElastiCache (cluster mode off). Happens on every maintenance window."),
        ("pbrennan", "None", "3 weeks ago", "+1, we see this too. Any ETA?"),
        ("gwen-ops", "None", "2 weeks ago", "We tried setting `health_check_interval=30` in the redis URL but it did not help, the workers still hang."),
        ("aronoff", "None", "2 weeks ago", "I think this is the same as #4377, which was closed as stale. The py-spy output there looks identical:\n```\nThread 0x7F3A2C1B8740 (idle): \"MainThread\"\n    read_response (redis/connection.py:523)\n    parse_response (redis/client.py:561)\n    execute_command (redis/client.py:540)\n    blpop (redis/commands/core.py:2619)\n    _pop (taskq/broker/redis.py:212)\n    run (taskq/worker.py:388)\n```"),
        ("pbrennan", "None", "2 weeks ago", "Is downgrading redis-py an option? We were fine on 4.6 I believe, but not 100% sure."),
        ("mkovacs", "Author", "2 weeks ago", "Downgrading redis-py to 4.6.0 did not change anything for us."),
        ("tdelacroix", "Member", "12 days ago", "I can reproduce it with the docker-compose setup in `examples/sentinel`. The blocking pop uses a connection\nwithout a socket timeout, and after the failover the old primary is demoted without closing client\nconnections, so the TCP connection stays open and `BLPOP` waits on a replica that will never get a push.\n\nUntil the fix lands, the workaround is to give the broker connections a socket timeout that is longer than\nthe BLPOP timeout, so the read fails and the worker reconnects through Sentinel:\n\n```python\nbroker_transport_options = {\n    \"master_name\": \"mymaster\",\n    \"socket_timeout\": 30,          # must be > blpop_timeout\n    \"socket_keepalive\": True,\n    \"blpop_timeout\": 10,\n}\n```\n\n`health_check_interval` does not help here because health checks only run before a command is sent,\nnot while one is blocked."),
        ("gwen-ops", "None", "11 days ago", "Confirmed, the socket_timeout workaround works for us, workers recover ~30s after the failover."),
        ("aronoff", "None", "9 days ago", "Works on ElastiCache too. Thanks!"),
        ("jlinde", "Member", "6 days ago", "Draft fix in #4860: the broker now sets a default socket timeout of `blpop_timeout + 5` and reconnects on\n`TimeoutError`."),
        ("pbrennan", "None", "2 days ago", "Any chance this gets backported to 3.1.x?"),
        ("jlinde", "Member", "1 day ago", "It will be in 3.2.0; we are not planning another 3.1 release, sorry. The workaround above is safe on 3.1.x."),
    ]  # fmt: skip
    out = [head]
    for who, role, _when, text in comments:
        out.append(
            f"author:\t{who}\nassociation:\t{role.lower()}\nedited:\tfalse\nstatus:\tnone\n--\n{text}\n--\n"
        )
    return "\n".join(out)


def ss_tanp(tmp: Path) -> str:
    """ss -tanp on an app server: listeners, many established connections, and CLOSE-WAIT to redis (seeded)."""
    import random

    rnd = random.Random(21)
    out = ["State      Recv-Q Send-Q     Local Address:Port       Peer Address:Port  Process"]
    listen = [("127.0.0.53%lo:53", "systemd-resolve", 612), ("0.0.0.0:22", "sshd", 901), ("127.0.0.1:9100", "node_exporter", 1133),
              ("0.0.0.0:8000", "gunicorn", 2201), ("127.0.0.1:6060", "taskq-worker", 2390)]  # fmt: skip
    for addr, proc, pid in listen:
        out.append(
            f'LISTEN     0      4096   {addr:>22}          0.0.0.0:*      users:(("{proc}",pid={pid},fd=3))'
        )
    peers = [("10.0.4.21:5432", "gunicorn", [2214, 2215, 2216, 2217]), ("10.0.4.12:6379", "gunicorn", [2214, 2215, 2216, 2217]),
             ("10.0.4.12:6379", "taskq-worker", [2391, 2392]), ("172.31.0.2:443", "gunicorn", [2214, 2215]),
             ("10.0.2.7:8000", "gunicorn", [2214, 2215, 2216, 2217])]  # fmt: skip
    rows = []
    for _ in range(130):
        peer, proc, pids = rnd.choice(peers)
        local = f"10.0.2.15:{rnd.randint(32768, 60999)}"
        if peer == "10.0.2.7:8000":
            local, peer = "10.0.2.15:8000", f"10.0.2.7:{rnd.randint(32768, 60999)}"
        pid = rnd.choice(pids)
        state = "ESTAB" if rnd.random() > 0.06 else "TIME-WAIT"
        rq, sq = (0, 0) if state == "TIME-WAIT" else (0, rnd.choice([0, 0, 0, 36, 517]))
        proc_col = "" if state == "TIME-WAIT" else f'users:(("{proc}",pid={pid},fd={rnd.randint(8, 90)}))'
        rows.append(f"{state:<10} {rq:<6} {sq:<6} {local:>22} {peer:>22}  {proc_col}")
    for pid, fd, port in [
        (2391, 14, 51822),
        (2391, 17, 51840),
        (2392, 14, 51856),
        (2392, 19, 51870),
        (2392, 23, 52004),
    ]:
        rows.insert(rnd.randrange(len(rows)), f"{'CLOSE-WAIT':<10} {1:<6} {0:<6} {'10.0.2.15:' + str(port):>22} {'10.0.4.11:6379':>22}  "
                                              f'users:(("taskq-worker",pid={pid},fd={fd}))')  # fmt: skip
    return "\n".join(out + rows) + "\n"


# name, maker, real?, command (the call's hint), task, gold regexes
HELDOUT_SPECS: list[tuple[str, Callable[[Path], str], bool, str, str, list[str]]] = [
    ("npm outdated --all", npm_outdated, True, "npm outdated --all",
     "what's the newest jsonwebtoken I could move to from 8.5.1?", [r"^jsonwebtoken\s"]),
    ("npm ls --all", npm_ls, True, "npm ls --all",
     "Which of our dependencies pulls in follow-redirects, and which version of it is installed?",
     [r"follow-redirects@", r"axios@0\.21\.0"]),
    ("jest --verbose", jest_run, True, "npx jest --ci --verbose",
     "Why does the 'country without VAT' test fail?",
     [r"● total › country without VAT", r'^\s+\+\s+"tax": NaN', r'^\s+\+\s+"gross": NaN']),
    ("eslint -f json", eslint_json, True, "npx eslint -f json src | jq",
     "eslint says something in api.js is not defined: what is it, and on which line?",
     [r"'currency' is not defined", r'"ruleId": "no-undef"', r'^\s+"line": 35,$']),
    ("du -sh node_modules/*", du_tree, True, "du -sh node_modules/* | sort -h",
     "how much disk does eslint itself take in node_modules?", [r"\tnode_modules/eslint$"]),
    ("pytest --collect-only -q", pytest_collect, True, "pytest --collect-only -q tests",
     "Which tests cover line endings (EOL) when reading and writing TOML files?",
     [r"^tests/test_toml_file\.py::test_.*eol"]),
    ("python -m cProfile", cprofile_render, True, "python -m cProfile -s tottime render_docs.py",
     "How many calls does _parse_list_item get in the profile, and what is its cumulative time?",
     [r"list_parser\.py:\d+\(_parse_list_item\)", r"^\s+ncalls\s+tottime"]),
    ("valgrind --leak-check=full", valgrind_leaks, True, "valgrind --leak-check=full --show-leak-kinds=all ./lru",
     "Where are the 32 leaked blocks allocated?",
     [r"416 bytes in 32 blocks are definitely lost", r"dup \(lru\.c:8\)", r"node_new \(lru\.c:13\)",
      r"put \(lru\.c:27\)"]),
    ("git shortlog -sn", git_shortlog, True, "git shortlog -sn HEAD",
     "How many commits does Florimond Manca have in uvicorn? He may show up under two names.",
     [r"\tFlorimond Manca$", r"\tflorimondmanca$"]),
    ("git cherry -v", git_cherry, True, "git cherry -v upstream-main",
     "which of my connection-pool-metrics commits aren't upstream yet?", [r"^\+ "]),
    ("EXPLAIN (ANALYZE, BUFFERS)", pg_explain, True, "psql -f report.sql shop",
     "The revenue report is slow: which big table gets a full sequential scan, and on which join key?",
     [r"Parallel Seq Scan on order_items", r"Hash Cond: \(i\.order_id = o\.id\)"]),
    ("docker ps -a", docker_ps, False, "docker ps -a",
     "I can't connect to redis on localhost:6379. Is its container even running?",
     [r"shop-redis-1$", r"^CONTAINER ID"]),
    ("kubectl get events", kubectl_events, False, "kubectl get events -n prod --sort-by=.lastTimestamp",
     "payments-api pod stuck in Pending after the deploy. why",
     [r"FailedScheduling\s+pod/payments-api", r"NotTriggerScaleUp\s+pod/payments-api"]),
    ("npm audit", npm_audit, False, "npm audit",
     "Is jsonwebtoken 8.5.1 flagged by npm audit, and what would fixing it take?",
     [r"^jsonwebtoken  <=8\.5\.1", r"^jsonwebtoken.*GHSA-", r"Will install jsonwebtoken@9\.0\.3"]),
    ("mvn dependency:tree", mvn_tree, False, "mvn dependency:tree",
     "Which jackson-databind version ends up on the classpath, and which starter brings it in?",
     [r"jackson-databind:jar", r"spring-boot-starter-json:jar"]),
    ("gradle build failure", gradle_build, False, "./gradlew build",
     "gradle build is broken, fix it",
     [r"InvoiceService\.java:74: error: cannot find symbol", r"symbol:   method getTotalCents\(\)",
      r"InvoiceService\.java:112: error: incompatible types", r"Execution failed for task ':billing:compileJava'"]),
    ("gh run view --log-failed", gh_run_log, False, "gh run view 12045873310 --log-failed",
     "CI went red on my PR. What broke?",
     [r"Z E       AssertionError: assert 'date;account;amount'", r"Z FAILED tests/test_reports\.py::test_export",
      r"Z tests/test_reports\.py:41: AssertionError"]),
    ("aws ec2 describe-instances", aws_instances, False, "aws ec2 describe-instances --output json",
     "What's the private IP of the bastion host, and is it running?",
     [r'"Value": "bastion"', r'1:"PrivateIpAddress": "10\.20\.1\.37"', r'"Name": "stopped"']),
    ("gh issue view --comments", gh_issue, False, "gh issue view 4821 --comments",
     "Is there a workaround for the BLPOP hang until the fix ships?",
     [r"the workaround is to give the broker connections a socket timeout", r'"socket_timeout": 30',
      r'"blpop_timeout": 10']),
    ("ss -tanp", ss_tanp, False, "ss -tanp",
     "Which process holds the connections stuck in CLOSE-WAIT to redis?", [r"^CLOSE-WAIT"]),
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


# A gold pattern: a regex (every line it matches is gold), ``@L<n>``, or a function of the lines
# returning such strings (the later surveys' pickers: "the line under that header", "the largest").
Pattern = str | Callable[[list[str]], list[str]]
Spec = tuple[str, Callable[[Path], str], bool, str, str, list[Pattern]]


def resolve(text: str, pats: list[Pattern]) -> list[str]:
    """The patterns as strings: each picker's lines as ``@L<n>``."""
    lines = text.split("\n")
    out: list[str] = []
    for p in pats:
        out += p(lines) if callable(p) else [p]
    return out


def build(
    specs: list[Spec], path: Path, only: set[str] | None, fix: Callable[[str, str, list[str]], list[str]]
) -> None:
    """Make each spec's output in a temporary directory, find its gold lines, write ``path`` (gzip, stable).

    With ``only``, the other cases already in ``path`` are kept as they are. ``fix(name, text, pats)``
    adjusts the resolved patterns to the text made (gold that depends on it).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    old = {}
    if path.exists():
        old = {c["name"]: c for c in map(json.loads, gzip.open(path, "rt"))}
    out = []
    for name, fn, real, cmd, task, pats in specs:
        if only and name not in only and name in old:
            out.append(old[name])
            continue
        tmp = Path(tempfile.mkdtemp(prefix="tool-outputs-"))
        try:
            text = fn(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        try:
            gold = gold_lines(text, fix(name, text, resolve(text, pats)))
        except (SystemExit, StopIteration, ValueError) as e:
            print(f"{name}: {e!r}", file=sys.stderr)
            gold = []
        out.append({"name": name, "real": real, "tool": cmd, "task": task, "text": text, "gold_lines": gold})
        print(f"{name}: {len(text)} chars, {text.count(chr(10))} lines, {len(gold)} gold", file=sys.stderr)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write("".join(json.dumps(c) + "\n" for c in out).encode())


def survey_main(specs: list[Spec], path: Path, what: str) -> None:
    """The command line of a later survey's maker: ``--only NAME,...`` rebuilds those cases alone."""
    ap = argparse.ArgumentParser(description=f"build {what}")
    ap.add_argument("--only", default="", help="rebuild only these cases (comma-separated names)")
    args = ap.parse_args()
    build(specs, path, {s for s in args.only.split(",") if s} or None, lambda _name, _text, pats: pats)


def make(only: set[str] | None, heldout: bool = False) -> None:
    specs, path = (HELDOUT_SPECS, HELDOUT) if heldout else (SPECS, CASES)
    build(list(specs), path, only, fix_patterns)


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
    if name == "package-lock.json":  # the entry's version line too
        lines = text.split("\n")
        i = next(i for i, line in enumerate(lines) if re.search(pats[0], line))
        return [pats[0], f"@L{i + 2}"]
    return pats


def main() -> None:
    ap = argparse.ArgumentParser(description="rebuild the tool-output cases")
    ap.add_argument("--only", default="", help="rebuild only these cases (comma-separated names)")
    ap.add_argument("--heldout", action="store_true", help="build HELDOUT_SPECS into heldout/cases.jsonl.gz")
    args = ap.parse_args()
    make({s for s in args.only.split(",") if s} or None, heldout=args.heldout)


if __name__ == "__main__":
    main()
