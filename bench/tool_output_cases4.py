#!/usr/bin/env python3
# ruff: noqa: E501  (realistic tool outputs written inline have long lines)
"""A fourth survey of tool outputs, held out: ``heldout2/cases.jsonl.gz``, to be scored once as a fresh measure.

usage: tool_output_cases4.py [--only NAME,...]     # (re)build bench/data/tool_outputs/heldout2/cases.jsonl.gz

Same record shape as ``tool_output_cases.py`` (name, real, tool, task, text, gold_lines); gold patterns are
regexes read by its ``gold_lines`` (``@L<n>`` names a line, ``1:`` keeps the first match only).

Real outputs (run here): ``git log -p`` and ``git diff`` of a mirrored click, pylint/flake8/bandit/black over
PyPI sdists (requests, paramiko, httpie), shellcheck over nvm's scripts, yamllint over libgit2's workflows,
hadolint on a Dockerfile, cargo clippy on a small crate, a Python worker's log with a traceback, a Node
unhandled rejection, ``pip install`` of python-ldap failing to compile, ``find`` over Django, ``tree`` of
click, ``redis-cli INFO``, ``psql \\d+``, ``openssl s_client`` against a local ``s_server``, gdb's
``thread apply all bt``, ``sysctl -a``, ``dpkg -l``, CMake configuring libgit2, ``ansible-playbook``
against localhost, Django's ``migrate`` and ``showmigrations``, a hypothesis falsifying example, a FastAPI
app's OpenAPI document and ``pre-commit run`` with local hooks. Written by hand (seeded where generated):
a Go panic with its goroutine dump, a crashlooping Spring app's ``kubectl logs``, ``docker compose logs``,
``dmesg`` with an OOM kill, a GraphQL answer with ``errors``, ``helm template``, ``docker inspect`` and
``pip-audit``.

Rebuilding needs the mirrors (pallets/click, nvm-sh/nvm, libgit2/libgit2 under /work/.mirror, fetched
from GitHub), Debian's shellcheck, tree, redis-server, gdb, cmake, PostgreSQL 15, openssl and node, a
Rust toolchain with clippy, and a venv with the Python tools (``TOOLS_VENV``, default /tmp/survey4-venv:
pylint flake8 bandit black yamllint ansible-core django hypothesis pytest pre-commit fastapi).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import free_port, wait_port  # noqa: E402
from tool_output_cases import MIRROR, REPO, checkout, gold_lines, sh  # noqa: E402

OUT = REPO / "bench" / "data" / "tool_outputs" / "heldout2" / "cases.jsonl.gz"
TOOLS = Path(os.environ.get("TOOLS_VENV", "/tmp/survey4-venv")) / "bin"
SDISTS = {"requests": "2.32.3", "paramiko": "3.4.0", "httpie": "3.2.2"}


def sdist(name: str, tmp: Path) -> Path:
    """The PyPI sdist of ``name`` (pinned in SDISTS), unpacked under ``tmp``."""
    ver = SDISTS[name]
    sh(f"{TOOLS / 'pip'} download -q --no-deps --no-binary :all: -d {tmp} {name}=={ver} 2>/dev/null")
    sh(f"tar -xzf {tmp / f'{name}-{ver}.tar.gz'} -C {tmp}")
    return tmp / f"{name}-{ver}"


def git(repo: str, args: str) -> str:
    return sh(f"git --git-dir={MIRROR / repo / 'repo'} {args}")


# ---------------------------------------------------------------- real outputs


def git_log_p(tmp: Path) -> str:
    return git("pallets+click", "log -p -n 12 -- src/click/termui.py")


def git_diff_tags(tmp: Path) -> str:
    return git("pallets+click", "diff 8.3.0 8.3.1 -- src CHANGES.md")


def pylint_requests(tmp: Path) -> str:
    src = sdist("requests", tmp)
    return sh(f"{TOOLS / 'pylint'} --rcfile=/dev/null src/requests", cwd=src)


def flake8_httpie(tmp: Path) -> str:
    src = sdist("httpie", tmp)
    return sh(f"{TOOLS / 'flake8'} --isolated --max-line-length=100 httpie tests", cwd=src)


def bandit_paramiko(tmp: Path) -> str:
    src = sdist("paramiko", tmp)
    return sh(f"{TOOLS / 'bandit'} -r paramiko -f json -q 2>/dev/null", cwd=src)


def black_requests(tmp: Path) -> str:
    src = sdist("requests", tmp)
    out = sh(f"{TOOLS / 'black'} --check --diff src tests 2>&1", cwd=src)
    return out.replace(str(src), "/home/dev/requests")


def shellcheck_nvm(tmp: Path) -> str:
    src = checkout("nvm-sh+nvm", tmp / "nvm")
    return sh("shellcheck -s bash -o all install.sh", cwd=src)


def yamllint_libgit2(tmp: Path) -> str:
    src = checkout("libgit2+libgit2", tmp / "libgit2")
    return sh(f"{TOOLS / 'yamllint'} -f standard .github/", cwd=src)


def hadolint(tmp: Path) -> str:
    """hadolint over libgit2's CI images."""
    src = checkout("libgit2+libgit2", tmp / "libgit2")
    return sh(f"{REPO / '.venv' / 'bin' / 'hadolint'} --no-color ci/docker/*", cwd=src)


CLIPPY_MAIN = """\
use std::collections::HashMap;
use std::fs;

#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub hits: u64,
    pub tags: Vec<String>,
}

pub fn load(path: &String) -> HashMap<String, Entry> {
    let text = fs::read_to_string(path).unwrap();
    let mut out = HashMap::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split(',').collect();
        if parts.len() == 0 {
            continue;
        }
        let key = parts[0].to_string();
        let hits = parts[1].parse::<u64>().unwrap_or(0);
        let tags = parts[2..].iter().map(|s| s.to_string()).collect();
        out.insert(key.clone(), Entry { key: key, hits: hits, tags: tags });
    }
    return out;
}

pub fn top(entries: &HashMap<String, Entry>, n: usize) -> Vec<Entry> {
    let mut v: Vec<Entry> = entries.values().map(|e| e.clone()).collect();
    v.sort_by(|a, b| b.hits.cmp(&a.hits));
    v.into_iter().take(n).collect()
}

pub fn tagged<'a>(entries: &'a HashMap<String, Entry>, tag: &str) -> Vec<&'a Entry> {
    let mut found = Vec::new();
    for (_, e) in entries.iter() {
        if e.tags.iter().any(|t| t == tag) == true {
            found.push(e);
        }
    }
    found
}

pub fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        return 0.0;
    }
    let r = a as f64 / b as f64;
    if r == 1.0 {
        1.0
    } else {
        r
    }
}

pub fn shard_of(key: &str, shards: u32) -> u32 {
    let mut h: u32 = 0;
    for b in key.bytes() {
        h = h.wrapping_mul(31).wrapping_add(b as u32);
    }
    h % shards
}

pub fn merge(into: &mut Vec<Entry>, from: &Vec<Entry>) {
    for i in 0..from.len() {
        into.push(from[i].clone());
    }
}

fn main() {
    let path = String::from("hits.csv");
    let entries = load(&path);
    let best = top(&entries, 10);
    let mut all = Vec::new();
    merge(&mut all, &best);
    println!("{} entries, {} top, shard {}", entries.len(), all.len(), shard_of("x", 8));
    println!("{:?}", tagged(&entries, "hot").len());
    println!("{}", ratio(1, 3));
    let _ = entries.get(&"missing".to_string()).map(|e| e.hits).unwrap_or_else(|| 0);
    let v = vec![1, 2, 3];
    let total: i32 = v.iter().fold(0, |acc, x| acc + x);
    println!("{}", total);
}
"""


def cargo_clippy(tmp: Path) -> str:
    d = tmp / "hitcount"
    (d / "src").mkdir(parents=True)
    (d / "Cargo.toml").write_text('[package]\nname = "hitcount"\nversion = "0.3.1"\nedition = "2021"\n')
    (d / "src" / "main.rs").write_text(CLIPPY_MAIN)
    out = sh("cargo clippy --offline --color never -- -W clippy::pedantic 2>&1", cwd=d)
    return out.replace(str(d), "/home/dev/hitcount")


WORKER_PY = """\
import logging, random, time

log = logging.getLogger("billing.worker")
logging.basicConfig(format="%(asctime)s %(levelname)-7s [%(name)s] %(message)s", level=logging.INFO)
rnd = random.Random(7)

class Clock:
    t = 1764990000.0
    def __call__(self):
        Clock.t += rnd.random() * 0.8
        return Clock.t

logging.Formatter.converter = time.gmtime
time.time = Clock()

def parse_amount(raw):
    whole, _, frac = raw.partition(".")
    return int(whole) * 100 + int(frac.ljust(2, "0")[:2])

def invoice_total(lines):
    return sum(parse_amount(l["amount"]) * l["qty"] for l in lines)

def handle(job):
    total = invoice_total(job["lines"])
    log.info("invoice %s for customer %s: %d lines, total %d cents", job["id"], job["customer"], len(job["lines"]), total)
    if rnd.random() < 0.15:
        log.warning("customer %s has no tax id on file, using default region", job["customer"])

log.info("worker starting, queue=invoices concurrency=1 pid=4182")
for n in range(1, 420):
    lines = [{"amount": f"{rnd.randint(1, 900)}.{rnd.randint(0, 99):02d}", "qty": rnd.randint(1, 5)} for _ in range(rnd.randint(1, 6))]
    job = {"id": f"inv_{100000 + n}", "customer": f"cus_{rnd.randint(1000, 9999)}", "lines": lines}
    if n == 263:
        job["lines"][1]["amount"] = "1,299.00"
    log.info("picked job %s (attempt 1)", job["id"])
    try:
        handle(job)
    except Exception:
        log.exception("job %s failed, moving to dead-letter queue", job["id"])
    if n % 50 == 0:
        log.info("heartbeat: processed=%d failed=%d rss_mb=%d", n, int(n > 263), 180 + n // 10)
"""


def python_logging(tmp: Path) -> str:
    (tmp / "worker.py").write_text(WORKER_PY)
    out = sh(f"{sys.executable} worker.py", cwd=tmp)
    return out.replace(str(tmp), "/srv/billing")


NODE_SERVER = """\
const http = require('http');
const { EventEmitter } = require('events');

function log(level, msg, extra = {}) {
  const t = new Date(Date.UTC(2026, 11, 6, 9, 14, 0) + log.n++ * 137).toISOString();
  console.log(JSON.stringify({ time: t, level, msg, ...extra }));
}
log.n = 0;

class Cache extends EventEmitter {
  constructor() { super(); this.map = new Map(); }
  async get(k) { return this.map.get(k); }
  async set(k, v) { this.map.set(k, v); }
}

async function fetchProfile(cache, userId) {
  const hit = await cache.get(`profile:${userId}`);
  if (hit) return hit;
  const profile = userId % 97 === 0 ? null : { id: userId, plan: userId % 3 ? 'free' : 'pro' };
  await cache.set(`profile:${userId}`, profile);
  return profile;
}

async function renderDashboard(cache, userId) {
  const profile = await fetchProfile(cache, userId);
  return { user: profile.id, plan: profile.plan.toUpperCase(), widgets: 6 };
}

const cache = new Cache();
log('info', 'dashboard service starting', { port: 3000, node: process.version, env: 'production' });
log('info', 'connected to cache', { backend: 'memory' });
let i = 0;
const timer = setInterval(() => {
  for (let j = 0; j < 9; j++) {
    const userId = 1000 + (++i) * 7;
    renderDashboard(cache, userId).then((d) =>
      log('info', 'GET /dashboard 200', { userId, plan: d.plan, ms: 3 + (userId % 17) }));
  }
  if (i > 200) clearInterval(timer);
}, 5);
"""


def node_unhandled(tmp: Path) -> str:
    (tmp / "server.js").write_text(NODE_SERVER)
    return sh("node server.js", cwd=tmp).replace(str(tmp), "/app")


def pip_build_fail(tmp: Path) -> str:
    """pip install of python-ldap into a fresh venv: the C extension needs OpenLDAP's headers."""
    sh(f"{TOOLS / 'python'} -m venv {tmp / 'venv'}")
    out = sh(f"{tmp / 'venv' / 'bin' / 'pip'} install --no-cache-dir python-ldap==3.4.4 2>&1", cwd=tmp)
    out = re.sub(r"WARNING: Location 'file:[^\n]*\n", "", out)
    return out.replace(str(tmp / "venv"), "/home/dev/ldap-sync/.venv").replace(
        str(tmp), "/home/dev/ldap-sync"
    )


def find_django(tmp: Path) -> str:
    site = Path(
        sh(f"{TOOLS / 'python'} -c 'import django, os; print(os.path.dirname(django.__file__))'").strip()
    )
    return sh("find . -name '*.py' -not -path '*/locale/*'", cwd=site)


def tree_click(tmp: Path) -> str:
    src = checkout("pallets+click", tmp / "click")
    return sh("tree -a -I .git --charset ascii", cwd=src)


def redis_info(tmp: Path) -> str:
    """redis-cli INFO of a server with an 8 MB maxmemory and noeviction, filled to the limit."""
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--maxmemory", "8mb", "--maxmemory-policy", "noeviction", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_port(port)
        cli = f"redis-cli -p {port}"
        lines = "".join(f"SET session:{i:06d} {'x' * 180}\n" for i in range(60000))
        subprocess.run(cli.split(), input=lines, text=True, capture_output=True)
        gets = "".join(f"GET session:{i:06d}\nGET nope:{i}\n" for i in range(0, 3000, 7))
        subprocess.run(cli.split(), input=gets, text=True, capture_output=True)
        return sh(f"{cli} INFO everything")
    finally:
        proc.terminate()
        proc.wait()


PSQL_SCHEMA = """\
CREATE TABLE accounts (id bigserial PRIMARY KEY, name text NOT NULL);
CREATE TABLE plans (code text PRIMARY KEY, monthly_cents int NOT NULL);
CREATE TYPE sub_status AS ENUM ('trialing', 'active', 'past_due', 'canceled', 'paused');
CREATE TABLE subscriptions (
    id bigserial PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    plan_code text NOT NULL REFERENCES plans(code),
    status sub_status NOT NULL DEFAULT 'trialing',
    seats integer NOT NULL DEFAULT 1 CHECK (seats > 0),
    unit_price_cents integer NOT NULL,
    currency char(3) NOT NULL DEFAULT 'EUR',
    discount_pct numeric(5,2) CHECK (discount_pct BETWEEN 0 AND 100),
    trial_ends_at timestamptz,
    current_period_start timestamptz NOT NULL,
    current_period_end timestamptz NOT NULL,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    canceled_at timestamptz,
    external_ref varchar(64),
    billing_email text,
    tax_id text,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    notes text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT period_order CHECK (current_period_end > current_period_start)
);
CREATE UNIQUE INDEX subscriptions_external_ref_key ON subscriptions (external_ref) WHERE external_ref IS NOT NULL;
CREATE INDEX subscriptions_status_idx ON subscriptions (status);
CREATE INDEX subscriptions_period_end_idx ON subscriptions (current_period_end) WHERE status = 'active';
CREATE INDEX subscriptions_metadata_idx ON subscriptions USING gin (metadata);
CREATE TABLE invoices (id bigserial PRIMARY KEY, subscription_id bigint REFERENCES subscriptions(id), total_cents int);
CREATE TABLE seat_changes (id bigserial PRIMARY KEY, subscription_id bigint NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE, delta int NOT NULL);
CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
CREATE TRIGGER subscriptions_touch BEFORE UPDATE ON subscriptions FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
COMMENT ON COLUMN subscriptions.unit_price_cents IS 'price per seat at signup, in minor units';
COMMENT ON COLUMN subscriptions.external_ref IS 'Stripe subscription id';
CREATE PUBLICATION billing_pub FOR TABLE subscriptions, invoices;
ALTER TABLE subscriptions SET (autovacuum_vacuum_scale_factor = 0.02);
"""


def psql_describe(tmp: Path) -> str:
    import pwd

    pg = Path("/usr/lib/postgresql/15/bin")
    user = pwd.getpwnam("postgres")
    os.chown(tmp, user.pw_uid, user.pw_gid)
    port = free_port()
    sh(f"runuser -u postgres -- {pg / 'initdb'} -D {tmp / 'data'} -A trust -U postgres >/dev/null")
    sh(f"runuser -u postgres -- {pg / 'pg_ctl'} -D {tmp / 'data'} -l {tmp / 'pg.log'} -w start "
       f"-o \"-p {port} -k {tmp} -c listen_addresses='' -c wal_level=logical\" >/dev/null")  # fmt: skip
    try:
        psql = f"psql -h {tmp} -p {port} -U postgres -q"
        (tmp / "schema.sql").write_text(PSQL_SCHEMA)
        sh(f"{psql} -f schema.sql postgres >/dev/null", cwd=tmp)
        return sh(f"{psql} -c '\\d+ subscriptions' postgres", cwd=tmp)
    finally:
        sh(f"runuser -u postgres -- {pg / 'pg_ctl'} -D {tmp / 'data'} -m fast -w stop >/dev/null")


def openssl_s_client(tmp: Path) -> str:
    """openssl s_client against a local s_server whose chain stops at a private intermediate CA."""
    ossl = "openssl"
    subj = "-subj '/C=DE/O=Example Shop GmbH/CN={}'"
    cmds = [
        f"{ossl} req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.pem -days 3650 {subj.format('Example Shop Root CA')}",
        f"{ossl} req -newkey rsa:2048 -nodes -keyout int.key -out int.csr {subj.format('Example Shop Issuing CA 2')}",
        "printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=critical,keyCertSign,cRLSign\\n' > int.ext",
        f"{ossl} x509 -req -in int.csr -CA root.pem -CAkey root.key -CAcreateserial -out int.pem -days 1825 -extfile int.ext",
        f"{ossl} req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr {subj.format('api.shop.internal')}",
        "printf 'subjectAltName=DNS:api.shop.internal,DNS:api\\nextendedKeyUsage=serverAuth\\n' > srv.ext",
        f"{ossl} x509 -req -in srv.csr -CA int.pem -CAkey int.key -CAcreateserial -out srv.pem -days 397 -extfile srv.ext",
    ]
    for c in cmds:
        sh(c + " 2>/dev/null", cwd=tmp)
    port = free_port()
    proc = subprocess.Popen(
        [ossl, "s_server", "-accept", f"127.0.0.1:{port}", "-cert", "srv.pem", "-key", "srv.key", "-www", "-quiet"],
        cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_port(port)
        out = sh(
            f"echo | {ossl} s_client -connect 127.0.0.1:{port} -servername api.shop.internal -showcerts 2>&1",
            cwd=tmp,
        )
    finally:
        proc.terminate()
        proc.wait()
    return out.replace(f"127.0.0.1:{port}", "api.shop.internal:443")


GDB_C = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct session { int id; char *user; struct session *next; } session_t;
typedef struct { pthread_mutex_t lock; session_t *head; int count; } table_t;

static table_t table = { PTHREAD_MUTEX_INITIALIZER, NULL, 0 };

static void table_add(int id, const char *user) {
    session_t *s = malloc(sizeof *s);
    s->id = id;
    s->user = strdup(user);
    pthread_mutex_lock(&table.lock);
    s->next = table.head;
    table.head = s;
    table.count++;
    pthread_mutex_unlock(&table.lock);
}

static void table_expire(int id) {
    pthread_mutex_lock(&table.lock);
    for (session_t **p = &table.head; *p; p = &(*p)->next) {
        if ((*p)->id == id) {
            session_t *dead = *p;  /* kept in the list until the next compaction */
            free(dead->user);
            dead->user = NULL;
            table.count--;
            break;
        }
    }
    pthread_mutex_unlock(&table.lock);
}

static size_t user_len(const session_t *s) { return strlen(s->user); }

static size_t audit_bytes(void) {
    size_t total = 0;
    for (session_t *s = table.head; s; s = s->next)
        total += user_len(s);
    return total;
}

static void *auditor(void *arg) {
    (void)arg;
    for (int round = 0; round < 1000; round++) {
        printf("audit round %d: %zu bytes\n", round, audit_bytes());
        usleep(1000);
    }
    return NULL;
}

static void *reaper(void *arg) {
    (void)arg;
    for (int id = 0; id < 64; id += 3) { table_expire(id); usleep(500); }
    return NULL;
}

static void *idle_worker(void *arg) {
    (void)arg;
    for (;;) sleep(1);
    return NULL;
}

int main(void) {
    char name[32];
    for (int i = 0; i < 64; i++) { snprintf(name, sizeof name, "user%02d@example.com", i); table_add(i, name); }
    pthread_t t[6];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, idle_worker, NULL);
    pthread_create(&t[4], NULL, auditor, NULL);
    pthread_create(&t[5], NULL, reaper, NULL);
    pthread_join(t[4], NULL);
    return 0;
}
"""


def gdb_backtrace(tmp: Path) -> str:
    (tmp / "sessiond.c").write_text(GDB_C)
    sh("gcc -g -O0 -pthread -o sessiond sessiond.c", cwd=tmp)
    out = sh(
        "gdb -q -batch -ex 'set pagination off' -ex run -ex 'thread apply all bt full' ./sessiond 2>&1 | "
        "grep -v '^audit round'", cwd=tmp,
    )  # fmt: skip
    return out.replace(str(tmp), "/home/dev/sessiond")


def sysctl_all(tmp: Path) -> str:
    return sh("sysctl -a 2>/dev/null")


def dpkg_list(tmp: Path) -> str:
    return sh("COLUMNS=160 dpkg -l")


def cmake_libgit2(tmp: Path) -> str:
    src = checkout("libgit2+libgit2", tmp / "libgit2")
    out = sh("cmake -S . -B build -DUSE_SSH=libssh2 -DUSE_HTTPS=OpenSSL 2>&1", cwd=src)
    return out.replace(str(src), "/home/dev/libgit2")


# ---------------------------------------------------------------- gold helpers

Pattern = str | Callable[[list[str]], list[str]]


def in_block(header: str, line: str) -> Callable[[list[str]], list[str]]:
    """The header line and, up to the next blank line, the lines under it that match ``line``."""

    def pick(lines: list[str]) -> list[str]:
        i = next(i for i, s in enumerate(lines) if re.search(header, s))
        out = [f"@L{i + 1}"]
        for j in range(i + 1, len(lines)):
            if not lines[j].strip():
                break
            if re.search(line, lines[j]):
                out.append(f"@L{j + 1}")
        return out

    return pick


def near(anchor: str, line: str, span: int) -> Callable[[list[str]], list[str]]:
    """The lines matching ``line`` within ``span`` lines of the (first) line matching ``anchor``."""

    def pick(lines: list[str]) -> list[str]:
        i = next(i for i, s in enumerate(lines) if re.search(anchor, s))
        lo, hi = max(0, i - span), min(len(lines), i + span + 1)
        return [f"@L{j + 1}" for j in range(lo, hi) if re.search(line, lines[j])]

    return pick


def resolve(text: str, pats: list[Pattern]) -> list[str]:
    lines = text.split("\n")
    out: list[str] = []
    for p in pats:
        out += p(lines) if callable(p) else [p]
    return out


# ---------------------------------------------------------------- the cases

SURVEY4_SPECS: list[tuple[str, Callable[[Path], str], bool, str, str, list[Pattern]]] = [
    ("git log -p", git_log_p, True, "git log -p -n 12 -- src/click/termui.py",
     "After upgrading click, our `except TypeError` around click.style() no longer catches bad color names. Which commit changed that, and what does it raise now?",
     [r"^commit 07c909f2", r'^\+\s+raise ValueError\(_\("Unknown color', r'^-\s+raise TypeError\(_\("Unknown color']),
    ("git diff tags", git_diff_tags, True, "git diff 8.3.0 8.3.1 -- src CHANGES.md",
     "the pager broke with busybox less on alpine in 8.3.0. did 8.3.1 change how the pager command gets launched?",
     [r"^-\s+cmd_path = Path\(cmd_filepath\)\.resolve\(\)", r"^\+\s+cmd_path = Path\(cmd_filepath\)\.absolute\(\)",
      r"^-\s+shell=True,", r"^\+\s+shell=False,"]),
    ("pylint", pylint_requests, True, "pylint src/requests",
     "Security review says some of our HTTP calls can hang forever. Does pylint point at any? File and line please.",
     [r"\(missing-timeout\)$"]),
    ("flake8", flake8_httpie, True, "flake8 --max-line-length=100 httpie tests",
     "flake8 is red. ignoring the long lines, is there anything real in there?",
     [r"F811 redefinition of unused 'command'"]),
    ("bandit -f json", bandit_paramiko, True, "bandit -r paramiko -f json -q",
     "Does bandit see any command/shell injection risk in paramiko? Where exactly?",
     [r'"issue_text": "Possible shell injection', r'"line_number": 566,',
      near(r'"issue_text": "Possible shell injection', r'"filename": "paramiko/client\.py"', 10)]),
    ("black --check --diff", black_requests, True, "black --check --diff src tests",
     "black --check is failing in CI. Which files does it want to reformat?",
     [r"^would reformat ", r"files would be reformatted"]),
    ("shellcheck -o all", shellcheck_nvm, True, "shellcheck -s bash -o all install.sh",
     "shellcheck with -o all on install.sh is mostly style noise. Are there any actual warnings I should fix?",
     [r"\^ SC2154 \(warning\)", r"^In install\.sh line (94|116|531):"]),
    ("yamllint", yamllint_libgit2, True, "yamllint .github/",
     "yamllint fails on the nightly workflow. Apart from line length, what errors does it report there?",
     [in_block(r"^\.github/workflows/nightly\.yml$", r"error\s+wrong indentation")]),
    ("hadolint", hadolint, True, "hadolint ci/docker/*",
     "what does hadolint complain about in the docurium image?", [r"^ci/docker/docurium:"]),
    ("cargo clippy -W pedantic", cargo_clippy, True, "cargo clippy -- -W clippy::pedantic",
     "Does clippy flag anything in ratio()?",
     [r"^warning: casting `u64` to `f64`", r"--> src/main\.rs:4[78]:", r"^warning: strict comparison of `f32` or `f64`"]),
    ("python logging + traceback", python_logging, True, "tail -n 1000 /var/log/billing/worker.log",
     "An invoice went missing from last night's billing run. Find which one and why.",
     [r"ERROR\s+\[billing\.worker\] job inv_100263 failed", r"^ValueError: invalid literal",
      r'File "/srv/billing/worker\.py", line 18, in parse_amount']),
    ("node unhandled rejection", node_unhandled, True, "node server.js",
     "the dashboard service crashed in prod, what happened?",
     [r"^TypeError: Cannot read properties of null", r"at renderDashboard \(/app/server\.js:26:26\)", r"^/app/server\.js:26$"]),
    ("pip install C extension", pip_build_fail, True, "pip install python-ldap==3.4.4",
     "pip install dies on python-ldap. What do I need to install on the system?",
     [r"fatal error: lber\.h: No such file or directory"]),
    ("find -name '*.py'", find_django, True, "find . -name '*.py' -not -path '*/locale/*'",
     "where is the migrate management command implemented?", [r"/commands/migrate\.py$"]),
    ("tree", tree_click, True, "tree -a -I .git",
     "where do the shell completion code, its tests and its docs live?",
     [r"-- shell-completion\.md$", r"-- shell_completion\.py$", r"-- test_shell_completion\.py$"]),
    ("redis-cli INFO", redis_info, True, "redis-cli INFO everything",
     "Writes to redis keep failing with OOM errors. Why, and how full is it?",
     [r"^used_memory_human:", r"^maxmemory_human:", r"^maxmemory_policy:", r"^errorstat_OOM:"]),
    ("psql \\d+", psql_describe, True, "psql -c '\\d+ subscriptions'",
     "If we delete an account, do its subscriptions go with it? And is there anything that would block deleting a subscription?",
     [r'"subscriptions_account_id_fkey" FOREIGN KEY', r'TABLE "invoices" CONSTRAINT']),
    ("openssl s_client", openssl_s_client, True, "openssl s_client -connect api.shop.internal:443 -servername api.shop.internal -showcerts",
     "TLS to api.shop.internal fails verification even though our root CA is installed. What's wrong on the server side?",
     [r"^ 0 s:", r"^   i:C = DE, O = Example Shop GmbH, CN = Example Shop Issuing CA 2", r"^Verify return code: 21"]),
    ("gdb thread apply all bt", gdb_backtrace, True, "gdb -batch -ex run -ex 'thread apply all bt full' ./sessiond",
     "sessiond segfaults, here's gdb. Where does it crash and what's the likely cause?",
     [r"received signal SIGSEGV", r"in user_len \(s=0x[0-9a-f]+\) at sessiond\.c:38", r"in audit_bytes \(\) at sessiond\.c:43"]),
    ("sysctl -a", sysctl_all, True, "sysctl -a",
     "is this box tuned for lots of concurrent connections? what are somaxconn and the ephemeral port range?",
     [r"^net\.core\.somaxconn = ", r"^net\.ipv4\.ip_local_port_range = "]),
    ("dpkg -l", dpkg_list, True, "dpkg -l",
     "which OpenSSL version is installed on this box, the library and the CLI?",
     [r"^ii  libssl3:amd64 ", r"^ii  openssl "]),
    ("cmake configure", cmake_libgit2, True, "cmake -S . -B build -DUSE_SSH=libssh2 -DUSE_HTTPS=OpenSSL",
     "cmake fails, what's missing?",
     [r"^CMake Error at cmake/SelectSSH\.cmake:20", r"LIBSSH2 not found\.", r"Could NOT find LibSSH2"]),
]  # fmt: skip


def make(only: set[str] | None) -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    old = {}
    if OUT.exists():
        old = {c["name"]: c for c in map(json.loads, gzip.open(OUT, "rt"))}
    out = []
    for name, fn, real, cmd, task, pats in SURVEY4_SPECS:
        if only and name not in only and name in old:
            out.append(old[name])
            continue
        tmp = Path(tempfile.mkdtemp(prefix="tool-outputs4-"))
        try:
            text = fn(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        try:
            gold = gold_lines(text, resolve(text, pats))
        except (SystemExit, StopIteration) as e:
            print(f"{name}: {e!r}", file=sys.stderr)
            gold = []
        out.append({"name": name, "real": real, "tool": cmd, "task": task, "text": text, "gold_lines": gold})
        print(f"{name}: {len(text)} chars, {text.count(chr(10))} lines, {len(gold)} gold", file=sys.stderr)
    with open(OUT, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write("".join(json.dumps(c) + "\n" for c in out).encode())


def main() -> None:
    ap = argparse.ArgumentParser(description="build the fourth survey's held-out tool-output cases")
    ap.add_argument("--only", default="", help="rebuild only these cases (comma-separated names)")
    args = ap.parse_args()
    make({s for s in args.only.split(",") if s} or None)


if __name__ == "__main__":
    main()
