#!/usr/bin/env python3
# ruff: noqa: E501  (realistic tool outputs written inline have long lines)
"""A fourth survey of tool outputs, held out: ``heldout2/cases.jsonl.gz``, to be scored once as a fresh measure.

usage: tool_output_cases4.py [--only NAME,...]     # (re)build bench/data/tool_outputs/heldout2/cases.jsonl.gz

Same record shape as ``tool_output_cases.py`` (name, real, tool, task, text, gold_lines); gold patterns are
regexes read by its ``gold_lines`` (``@L<n>`` names a line, ``1:`` keeps the first match only).

Real outputs (run here): ``git log -p`` and ``git diff`` of a mirrored click, pylint/flake8/bandit/black over
PyPI sdists (requests, paramiko, httpie), shellcheck ``-o all`` on nvm's install.sh, yamllint over libgit2's
``.github``, hadolint over libgit2's CI Dockerfiles, cargo clippy on a small crate, a Python worker's log with a
traceback, a Node unhandled rejection, ``pip install`` of python-ldap failing to compile, ``find`` over
Django, ``tree`` of click, ``redis-cli INFO``, ``psql \\d+``, ``openssl s_client`` against a local
``s_server``, gdb's ``thread apply all bt``, ``sysctl -a`` and ``dpkg -l`` of this machine, CMake configuring
libgit2, ``ansible-playbook`` against localhost, Django's ``migrate``, a hypothesis falsifying example, a
FastAPI app's OpenAPI document and ``pre-commit run`` with local hooks. Written by hand (seeded where
generated): a Go panic with its goroutine dump, a crashlooping Spring Boot app's ``kubectl logs``,
``docker compose logs``, ``dmesg`` with an OOM kill and a GraphQL answer with ``errors``.

Rebuilding needs the mirrors (pallets/click, nvm-sh/nvm, libgit2/libgit2 under /work/.mirror, fetched
from GitHub), Debian's shellcheck, tree, redis-server, gdb, cmake, PostgreSQL 15, openssl and node, a
Rust toolchain with clippy, and a venv with the Python tools (``TOOLS_VENV``, default /tmp/survey4-venv:
pylint flake8 bandit black yamllint ansible-core django hypothesis pytest pre-commit fastapi). A rebuild
changes what carries times, process ids or this machine's state (sysctl, dpkg, ansible's host order).
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import free_port, wait_port  # noqa: E402
from tool_output_cases import REPO, Pattern, checkout, git, postgres, sh, survey_main  # noqa: E402
from tool_output_cases import sdist as pypi_sdist  # noqa: E402

OUT = REPO / "bench" / "data" / "tool_outputs" / "heldout2" / "cases.jsonl.gz"
TOOLS = Path(os.environ.get("TOOLS_VENV", "/tmp/survey4-venv")) / "bin"
SDISTS = {"requests": "2.32.3", "paramiko": "3.4.0", "httpie": "3.2.2"}


def sdist(name: str, tmp: Path) -> Path:
    """The PyPI sdist of ``name`` (pinned in SDISTS), unpacked under ``tmp``."""
    return pypi_sdist(name, SDISTS[name], tmp, TOOLS / "pip")


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
        return re.sub(
            r"(?m)^executable:.*$", "executable:/usr/bin/redis-server", sh(f"{cli} INFO everything")
        )
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
    with postgres(tmp, " -c wal_level=logical") as psql:
        (tmp / "schema.sql").write_text(PSQL_SCHEMA)
        sh(f"{psql} -f schema.sql postgres >/dev/null", cwd=tmp)
        return sh(f"{psql} -c '\\d+ subscriptions' postgres", cwd=tmp)


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


ANSIBLE_PLAYBOOK = r"""
- name: Provision app hosts
  hosts: all
  gather_facts: false
  vars:
    base: "{{ playbook_dir }}/hosts/{{ inventory_hostname }}"
  tasks:
    - name: Create directory layout
      ansible.builtin.file:
        path: "{{ base }}/{{ item }}"
        state: directory
        mode: "0755"
      loop: [etc, log, run, releases, shared]
    - name: Write environment file
      ansible.builtin.copy:
        dest: "{{ base }}/etc/app.env"
        content: "APP_ENV=production\nAPP_ROLE={{ role }}\n"
        mode: "0640"
    - name: Set worker count
      ansible.builtin.lineinfile:
        path: "{{ base }}/etc/app.env"
        line: "WORKERS={{ workers }}"
    - name: Render logrotate config
      ansible.builtin.copy:
        dest: "{{ base }}/etc/logrotate.conf"
        content: "{{ base }}/log/*.log {\n  daily\n  rotate 14\n  compress\n}\n"
    - name: Check release directory
      ansible.builtin.stat:
        path: "{{ base }}/releases"
      register: rel
    - name: Show release dir state
      ansible.builtin.debug:
        msg: "releases dir exists={{ rel.stat.exists }} on {{ inventory_hostname }}"
    - name: Render postgres client config
      ansible.builtin.copy:
        dest: "{{ pg_conf_dir }}/pg_service.conf"
        content: "[app]\nhost={{ db_host }}\nport=5432\ndbname=shop\n"
      when: role in ['db', 'worker']
    - name: Record deploy marker
      ansible.builtin.copy:
        dest: "{{ base }}/run/deployed"
        content: "2026-12-06T09:00:00Z\n"
    - name: Tune kernel socket backlog (dry)
      ansible.builtin.command: echo "net.core.somaxconn={{ somaxconn }}"
      changed_when: false
    - name: Health check script
      ansible.builtin.copy:
        dest: "{{ base }}/etc/healthcheck.sh"
        content: "#!/bin/sh\ncurl -fsS http://127.0.0.1:8000/healthz\n"
        mode: "0755"
"""

ANSIBLE_INVENTORY = """\
[web]
web1 role=web workers=4
web2 role=web workers=4
web3 role=web workers=8
[worker]
worker1 role=worker workers=2 pg_conf_dir={base}/hosts/worker1/etc
worker2 role=worker workers=2 pg_conf_dir={base}/hosts/worker2/etc
[db]
db1 role=db workers=1 pg_conf_dir=/etc/postgresql-common/services.d
[all:vars]
ansible_connection=local
ansible_python_interpreter={python}
db_host=10.20.3.15
somaxconn=4096
"""


def ansible_run(tmp: Path) -> str:
    (tmp / "site.yml").write_text(ANSIBLE_PLAYBOOK)
    (tmp / "inventory.ini").write_text(ANSIBLE_INVENTORY.format(base=tmp, python=TOOLS / "python"))
    env = {
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(tmp / ".ansible-tmp"),
        "ANSIBLE_HOME": str(tmp / ".ansible"),
    }
    out = sh(f"{TOOLS / 'ansible-playbook'} -i inventory.ini site.yml", cwd=tmp, env=env)
    return out.replace(str(tmp), "/home/dev/infra").replace(str(TOOLS.parent), "/home/dev/infra/.venv")


DJANGO_MODELS = """\
from django.db import models


class Customer(models.Model):
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=120)
    created = models.DateTimeField(auto_now_add=True)
"""

DJANGO_0001 = """\
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Customer",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("email", models.EmailField(max_length=254)),
                ("name", models.CharField(max_length=120)),
                ("created", models.DateTimeField(auto_now_add=True)),
            ],
        ),
    ]
"""

DJANGO_0002 = """\
from django.db import migrations


def import_legacy(apps, schema_editor):
    Customer = apps.get_model("crm", "Customer")
    for i, email in enumerate(["ana@example.com", "bo@example.com", "Ana@example.com".lower(), "cy@example.com"]):
        Customer.objects.create(email=email, name=f"legacy {i}")


class Migration(migrations.Migration):
    dependencies = [("crm", "0001_initial")]
    operations = [migrations.RunPython(import_legacy, migrations.RunPython.noop)]
"""

DJANGO_0003 = """\
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("crm", "0002_import_legacy_customers")]
    operations = [
        migrations.AlterField(model_name="customer", name="email", field=models.EmailField(max_length=254, unique=True)),
    ]
"""


def django_migrate(tmp: Path) -> str:
    """``manage.py migrate`` on a fresh SQLite database: a data migration imports a duplicate e-mail, and the
    next one makes the column unique."""
    sh(f"{TOOLS / 'django-admin'} startproject shop .", cwd=tmp)
    sh(f"{TOOLS / 'python'} manage.py startapp crm", cwd=tmp)
    (tmp / "crm" / "models.py").write_text(DJANGO_MODELS)
    mig = tmp / "crm" / "migrations"
    (mig / "0001_initial.py").write_text(DJANGO_0001)
    (mig / "0002_import_legacy_customers.py").write_text(DJANGO_0002)
    (mig / "0003_customer_email_unique.py").write_text(DJANGO_0003)
    settings = tmp / "shop" / "settings.py"
    text = re.sub(r"(['\"]django\.contrib\.staticfiles['\"],)", "\\1\n    'crm',", settings.read_text())
    settings.write_text(text)
    out = sh(f"{TOOLS / 'python'} manage.py migrate", cwd=tmp)
    return out.replace(str(TOOLS.parent), "/home/dev/shop/.venv").replace(str(tmp), "/home/dev/shop")


HYPOTHESIS_SRC = """\
def encode_rle(s: str) -> str:
    if not s:
        return ""
    out, prev, n = [], s[0], 1
    for ch in s[1:]:
        if ch == prev:
            n += 1
        else:
            out.append(f"{n}{prev}")
            prev, n = ch, 1
    out.append(f"{n}{prev}")
    return "".join(out)


def decode_rle(s: str) -> str:
    out, num = [], ""
    for ch in s:
        if ch.isdigit():
            num += ch
        else:
            out.append(ch * int(num))
            num = ""
    return "".join(out)
"""

HYPOTHESIS_TEST = """\
from hypothesis import given, settings, strategies as st

from rle import decode_rle, encode_rle


@given(st.text(alphabet="ab", max_size=30))
def test_roundtrip_letters(s):
    assert decode_rle(encode_rle(s)) == s


@given(st.text(max_size=30))
@settings(max_examples=500, derandomize=True)
def test_roundtrip_any_text(s):
    assert decode_rle(encode_rle(s)) == s


@given(st.text(alphabet="xyz", min_size=1))
def test_encoded_is_not_empty(s):
    assert encode_rle(s)


def test_known_value():
    assert encode_rle("aaabcc") == "3a1b2c"
"""


def hypothesis_fail(tmp: Path) -> str:
    (tmp / "rle.py").write_text(HYPOTHESIS_SRC)
    (tmp / "test_rle.py").write_text(HYPOTHESIS_TEST)
    env = {"HYPOTHESIS_STORAGE_DIRECTORY": str(tmp / ".hyp")}
    out = sh(
        f"{TOOLS / 'pytest'} -p no:cacheprovider -v --hypothesis-show-statistics test_rle.py",
        cwd=tmp,
        env=env,
    )
    out = re.sub(r" in \d+\.\d+s", " in 3.41s", out)
    return out.replace(str(tmp), "/home/dev/rle").replace(str(TOOLS.parent), "/home/dev/rle/.venv")


OPENAPI_APP = """\
from datetime import date, datetime
from decimal import Decimal
from enum import Enum

from fastapi import FastAPI, Query
from pydantic import BaseModel, Field

app = FastAPI(title="Shop API", version="2.14.0")


class Status(str, Enum):
    pending = "pending"
    paid = "paid"
    shipped = "shipped"
    canceled = "canceled"
    refunded = "refunded"


class Address(BaseModel):
    line1: str
    line2: str | None = None
    city: str
    postcode: str
    country: str = Field(min_length=2, max_length=2)


class Customer(BaseModel):
    id: int
    email: str
    name: str
    created_at: datetime
    default_address: Address | None = None


class CustomerCreate(BaseModel):
    email: str
    name: str
    default_address: Address | None = None


class OrderLine(BaseModel):
    sku: str
    qty: int = Field(gt=0)
    unit_price: Decimal


class Order(BaseModel):
    id: int
    customer_id: int
    status: Status
    lines: list[OrderLine]
    shipping_address: Address
    total: Decimal
    placed_at: datetime


class OrderCreate(BaseModel):
    customer_id: int
    lines: list[OrderLine]
    shipping_address: Address
    coupon: str | None = None


class CancelRequest(BaseModel):
    reason: str
    notify_customer: bool = True


class Refund(BaseModel):
    id: int
    order_id: int
    amount: Decimal
    reason: str
    created_at: datetime


class RefundCreate(BaseModel):
    amount: Decimal
    reason: str
    restock: bool = False


class Product(BaseModel):
    sku: str
    name: str
    price: Decimal
    stock: int
    tags: list[str] = []


class Page(BaseModel):
    total: int
    next_cursor: str | None = None


@app.get("/v2/customers", tags=["customers"])
def list_customers(q: str | None = None, limit: int = Query(50, le=200), cursor: str | None = None) -> list[Customer]: ...
@app.post("/v2/customers", tags=["customers"], status_code=201)
def create_customer(body: CustomerCreate) -> Customer: ...
@app.get("/v2/customers/{customer_id}", tags=["customers"])
def get_customer(customer_id: int) -> Customer: ...
@app.patch("/v2/customers/{customer_id}", tags=["customers"])
def update_customer(customer_id: int, body: CustomerCreate) -> Customer: ...
@app.delete("/v2/customers/{customer_id}", tags=["customers"], status_code=204)
def delete_customer(customer_id: int) -> None: ...
@app.get("/v2/customers/{customer_id}/orders", tags=["customers", "orders"])
def customer_orders(customer_id: int, status: Status | None = None) -> list[Order]: ...
@app.get("/v2/orders", tags=["orders"])
def list_orders(status: Status | None = None, since: date | None = None, limit: int = 50) -> list[Order]: ...
@app.post("/v2/orders", tags=["orders"], status_code=201)
def create_order(body: OrderCreate) -> Order: ...
@app.get("/v2/orders/{order_id}", tags=["orders"])
def get_order(order_id: int) -> Order: ...
@app.post("/v2/orders/{order_id}/cancellation", tags=["orders"])
def cancel_order(order_id: int, body: CancelRequest) -> Order: ...
@app.post("/v2/orders/{order_id}/refunds", tags=["refunds"], status_code=201)
def create_refund(order_id: int, body: RefundCreate) -> Refund: ...
@app.get("/v2/orders/{order_id}/refunds", tags=["refunds"])
def list_refunds(order_id: int) -> list[Refund]: ...
@app.get("/v2/products", tags=["catalog"])
def list_products(tag: str | None = None, in_stock: bool = False) -> list[Product]: ...
@app.get("/v2/products/{sku}", tags=["catalog"])
def get_product(sku: str) -> Product: ...
@app.put("/v2/products/{sku}", tags=["catalog"])
def put_product(sku: str, body: Product) -> Product: ...
@app.get("/v2/reports/revenue", tags=["reports"])
def revenue(start: date, end: date, group_by: str = Query("day", pattern="^(day|week|month)$")) -> Page: ...
@app.get("/healthz", tags=["ops"])
def healthz() -> dict[str, str]: ...
"""


def openapi_json(tmp: Path) -> str:
    (tmp / "shop_api.py").write_text(OPENAPI_APP)
    return sh(
        f"{TOOLS / 'python'} -c 'import json, shop_api; print(json.dumps(shop_api.app.openapi(), indent=2))'",
        cwd=tmp,
    )


PRECOMMIT_CONFIG = r"""
repos:
  - repo: local
    hooks:
      - id: black
        name: black
        entry: black --check
        language: system
        types: [python]
      - id: flake8
        name: flake8
        entry: flake8 --max-line-length=120 --extend-ignore=E203,W503
        language: system
        types: [python]
      - id: no-breakpoints
        name: no breakpoint() or pdb
        entry: '(^|\s)(breakpoint\(\)|import pdb|pdb\.set_trace\(\))'
        language: pygrep
        types: [python]
      - id: no-print-in-lib
        name: no print() in httpie/ (use the env's stdout)
        entry: '^\s*print\('
        language: pygrep
        files: ^httpie/
      - id: yaml-tabs
        name: no tabs in YAML
        entry: '\t'
        language: pygrep
        types: [yaml]
"""


def precommit_run(tmp: Path) -> str:
    src = sdist("httpie", tmp)
    (src / ".pre-commit-config.yaml").write_text(PRECOMMIT_CONFIG)
    with open(src / "httpie" / "sessions.py", "a") as fh:
        fh.write("\n\ndef _debug_session(session):\n    import pdb; pdb.set_trace()\n    return session\n")
    env = {"PATH": f"{TOOLS}:{os.environ['PATH']}", "PRE_COMMIT_HOME": str(tmp / ".pre-commit-cache")}
    sh(
        "git init -q . && git add -A && git -c user.email=dev@example.com -c user.name=dev commit -qm wip",
        cwd=src,
    )
    out = sh("pre-commit run --all-files --color never", cwd=src, env=env)
    return out.replace(str(src), "/home/dev/httpie")


# ---------------------------------------------------------------- written by hand (seeded)


def go_panic(tmp: Path) -> str:
    """A Go service's crash: a nil map write in one handler goroutine, and the dump of the other goroutines."""
    rnd = random.Random(41)
    out = [
        '{"level":"info","ts":"2026-12-06T08:41:02.118Z","msg":"starting ingest-gateway","version":"1.19.3","commit":"8c41d2e"}',
        '{"level":"info","ts":"2026-12-06T08:41:02.121Z","msg":"listening","addr":":8080"}',
    ]
    for i in range(40):
        out.append(
            f'{{"level":"info","ts":"2026-12-06T08:41:{3 + i // 4:02d}.{rnd.randint(0, 999):03d}Z","msg":"batch accepted",'
            f'"tenant":"t-{rnd.randint(100, 999)}","events":{rnd.randint(1, 500)},"ms":{rnd.randint(1, 40)}}}'
        )
    out += [
        "panic: assignment to entry in nil map",
        "",
        "goroutine 1873 [running]:",
        "github.com/acme/ingest-gateway/internal/tenant.(*Registry).Touch(0xc0001b6000, {0xc000a3e2a0, 0x5})",
        "\t/src/internal/tenant/registry.go:88 +0x1b4",
        "github.com/acme/ingest-gateway/internal/api.(*Server).handleBatch(0xc000190240, {0x1028f80, 0xc0004e81c0}, 0xc000a52000)",
        "\t/src/internal/api/batch.go:57 +0x2f1",
        "net/http.HandlerFunc.ServeHTTP(0xc000a52000?, {0x1028f80?, 0xc0004e81c0?}, 0x0?)",
        "\t/usr/local/go/src/net/http/server.go:2220 +0x29",
        "github.com/acme/ingest-gateway/internal/api.(*Server).withAuth.func1({0x1028f80, 0xc0004e81c0}, 0xc000a52000)",
        "\t/src/internal/api/middleware.go:41 +0x1e5",
        "net/http.HandlerFunc.ServeHTTP(0xc000a51f00?, {0x1028f80?, 0xc0004e81c0?}, 0x4a5c1e?)",
        "\t/usr/local/go/src/net/http/server.go:2220 +0x29",
        "net/http.(*ServeMux).ServeHTTP(0xc0004e81c0?, {0x1028f80, 0xc0004e81c0}, 0xc000a51f00)",
        "\t/usr/local/go/src/net/http/server.go:2747 +0x1ca",
        "net/http.serverHandler.ServeHTTP({0xc0003f2d80?}, {0x1028f80?, 0xc0004e81c0?}, 0x6?)",
        "\t/usr/local/go/src/net/http/server.go:3210 +0x8e",
        "net/http.(*conn).serve(0xc0002b6a20, {0x1029d58, 0xc0003f2c90})",
        "\t/usr/local/go/src/net/http/server.go:2092 +0x5d0",
        "created by net/http.(*Server).Serve in goroutine 1",
        "\t/usr/local/go/src/net/http/server.go:3360 +0x485",
        "",
    ]
    waits = [
        (
            "IO wait",
            [
                "internal/poll.runtime_pollWait(0x7f3a2c1e4e28, 0x72)",
                "\t/usr/local/go/src/runtime/netpoll.go:351 +0x85",
                "internal/poll.(*pollDesc).wait(0xc000{a}?, 0xc000{b}?, 0x0)",
                "\t/usr/local/go/src/internal/poll/fd_poll_runtime.go:84 +0x27",
                "internal/poll.(*FD).Read(0xc000{a}, {{0xc000{b}, 0x1000, 0x1000}})",
                "\t/usr/local/go/src/internal/poll/fd_unix.go:165 +0x27a",
                "net.(*conn).Read(0xc000{c}, {{0xc000{b}?, 0x0?, 0xc000{a}?}})",
                "\t/usr/local/go/src/net/net.go:189 +0x45",
                "net/http.(*connReader).Read(0xc000{a}, {{0xc000{b}, 0x1000, 0x1000}})",
                "\t/usr/local/go/src/net/http/server.go:798 +0x14b",
                "bufio.(*Reader).fill(0xc000{c})",
                "\t/usr/local/go/src/bufio/bufio.go:110 +0x103",
                "net/http.(*conn).serve(0xc000{a}, {{0x1029d58, 0xc0003f2c90}})",
                "\t/usr/local/go/src/net/http/server.go:2058 +0x77c",
                "created by net/http.(*Server).Serve in goroutine 1",
                "\t/usr/local/go/src/net/http/server.go:3360 +0x485",
            ],
        ),
        (
            "select",
            [
                "github.com/acme/ingest-gateway/internal/sink.(*Kafka).flushLoop(0xc000{a})",
                "\t/src/internal/sink/kafka.go:132 +0x145",
                "created by github.com/acme/ingest-gateway/internal/sink.NewKafka in goroutine 1",
                "\t/src/internal/sink/kafka.go:61 +0x2d5",
            ],
        ),
        (
            "chan receive",
            [
                "github.com/acme/ingest-gateway/internal/tenant.(*Registry).expireLoop(0xc0001b6000)",
                "\t/src/internal/tenant/registry.go:121 +0x6a",
                "created by github.com/acme/ingest-gateway/internal/tenant.NewRegistry in goroutine 1",
                "\t/src/internal/tenant/registry.go:39 +0x1c5",
            ],
        ),
        (
            "sync.Mutex.Lock",
            [
                "sync.runtime_SemacquireMutex(0xc000{a}?, 0x0?, 0x1?)",
                "\t/usr/local/go/src/runtime/sema.go:95 +0x25",
                "sync.(*Mutex).lockSlow(0xc0001b6008)",
                "\t/usr/local/go/src/sync/mutex.go:173 +0x15d",
                "github.com/acme/ingest-gateway/internal/tenant.(*Registry).Get(0xc0001b6000, {{0xc000{b}, 0x5}})",
                "\t/src/internal/tenant/registry.go:70 +0x4c",
                "github.com/acme/ingest-gateway/internal/api.(*Server).handleBatch(0xc000190240, {{0x1028f80, 0xc000{c}}}, 0xc000{a})",
                "\t/src/internal/api/batch.go:49 +0x8d",
                "net/http.HandlerFunc.ServeHTTP(0xc000{a}?, {{0x1028f80?, 0xc000{c}?}}, 0x0?)",
                "\t/usr/local/go/src/net/http/server.go:2220 +0x29",
                "created by net/http.(*Server).Serve in goroutine 1",
                "\t/usr/local/go/src/net/http/server.go:3360 +0x485",
            ],
        ),
    ]
    ids = sorted(rnd.sample(range(7, 1900), 70))
    for gid in ids:
        state, frames = rnd.choices(waits, weights=[12, 1, 1, 3])[0]
        mins = f", {rnd.randint(1, 9)} minutes" if rnd.random() < 0.3 else ""
        out.append(f"goroutine {gid} [{state}{mins}]:")
        h = lambda: f"{rnd.randint(0, 0xFFFFF):05x}"  # noqa: E731
        out += [f.format(a=h(), b=h(), c=h()) for f in frames]
        out.append("")
    out.append("exit status 2")
    return "\n".join(out) + "\n"


def spring_crashloop(tmp: Path) -> str:
    """kubectl logs --previous of a Spring Boot pod that fails at startup (a missing property), after the banner
    and the usual INFO lines."""
    rnd = random.Random(5)
    t = [0.0]

    def ts() -> str:
        t[0] += rnd.random() * 0.09
        s = 14.0 + t[0]
        return f"2026-12-06T10:22:{int(s):02d}.{int((s % 1) * 1000):03d}Z"

    pid = 1
    lines = [
        "",
        "  .   ____          _            __ _ _",
        " /\\\\ / ___'_ __ _ _(_)_ __  __ _ \\ \\ \\ \\",
        "( ( )\\___ | '_ | '_| | '_ \\/ _` | \\ \\ \\ \\",
        " \\\\/  ___)| |_)| | | | | || (_| |  ) ) ) )",
        "  '  |____| .__|_| |_|_| |_\\__, | / / / /",
        " =========|_|==============|___/=/_/_/_/",
        "",
        " :: Spring Boot ::                (v3.3.5)",
        "",
    ]

    def log(level: str, thread: str, logger: str, msg: str) -> None:
        lines.append(f"{ts()}  {level:>5} {pid} --- [orders-service] [{thread:>15}] {logger:<40} : {msg}")

    log(
        "INFO",
        "main",
        "c.a.orders.OrdersApplication",
        "Starting OrdersApplication v2.8.0 using Java 21.0.5 with PID 1 (/app/app.jar started by app in /app)",
    )
    log(
        "INFO", "main", "c.a.orders.OrdersApplication", 'The following 2 profiles are active: "prod", "kafka"'
    )
    log(
        "INFO",
        "main",
        ".s.d.r.c.RepositoryConfigurationDelegate",
        "Bootstrapping Spring Data JPA repositories in DEFAULT mode.",
    )
    log(
        "INFO",
        "main",
        ".s.d.r.c.RepositoryConfigurationDelegate",
        "Finished Spring Data repository scanning in 212 ms. Found 14 JPA repository interfaces.",
    )
    log("INFO", "main", "o.s.b.w.embedded.tomcat.TomcatWebServer", "Tomcat initialized with port 8080 (http)")
    log("INFO", "main", "o.apache.catalina.core.StandardService", "Starting service [Tomcat]")
    log(
        "INFO",
        "main",
        "o.apache.catalina.core.StandardEngine",
        "Starting Servlet engine: [Apache Tomcat/10.1.31]",
    )
    log(
        "INFO",
        "main",
        "o.a.c.c.C.[Tomcat].[localhost].[/]",
        "Initializing Spring embedded WebApplicationContext",
    )
    log(
        "INFO",
        "main",
        "w.s.c.ServletWebServerApplicationContext",
        "Root WebApplicationContext: initialization completed in 2841 ms",
    )
    log("INFO", "main", "com.zaxxer.hikari.HikariDataSource", "HikariPool-1 - Starting...")
    log(
        "INFO",
        "main",
        "com.zaxxer.hikari.pool.HikariPool",
        "HikariPool-1 - Added connection org.postgresql.jdbc.PgConnection@6f2cb653",
    )
    log("INFO", "main", "com.zaxxer.hikari.HikariDataSource", "HikariPool-1 - Start completed.")
    log(
        "INFO", "main", "o.f.c.internal.license.VersionPrinter", "Flyway Community Edition 10.10.0 by Redgate"
    )
    log(
        "INFO",
        "main",
        "o.f.core.internal.command.DbValidate",
        "Successfully validated 37 migrations (execution time 00:00.081s)",
    )
    log("INFO", "main", "o.f.core.internal.command.DbMigrate", 'Current version of schema "public": 37')
    log(
        "INFO",
        "main",
        "o.f.core.internal.command.DbMigrate",
        'Schema "public" is up to date. No migration necessary.',
    )
    log(
        "INFO",
        "main",
        "o.hibernate.jpa.internal.util.LogHelper",
        "HHH000204: Processing PersistenceUnitInfo [name: default]",
    )
    log("INFO", "main", "org.hibernate.Version", "HHH000412: Hibernate ORM core version 6.5.3.Final")
    log("INFO", "main", "o.h.c.internal.RegionFactoryInitiator", "HHH000026: Second-level cache disabled")
    log(
        "INFO",
        "main",
        "o.s.o.j.p.SpringPersistenceUnitInfo",
        "No LoadTimeWeaver setup: ignoring JPA class transformer",
    )
    log(
        "INFO",
        "main",
        "o.h.e.t.j.p.i.JtaPlatformInitiator",
        "HHH000489: No JTA platform available (set 'hibernate.transaction.jta.platform' to enable JTA platform integration)",
    )
    log(
        "INFO",
        "main",
        "j.LocalContainerEntityManagerFactoryBean",
        "Initialized JPA EntityManagerFactory for persistence unit 'default'",
    )
    for topic in (
        "orders.created",
        "orders.paid",
        "orders.shipped",
        "payments.settled",
        "inventory.reserved",
    ):
        log(
            "INFO",
            "main",
            "o.a.k.clients.consumer.ConsumerConfig",
            f"ConsumerConfig values: group.id = orders-service, topic = {topic}, auto.offset.reset = earliest, max.poll.records = 200",
        )
    log("INFO", "main", "o.a.kafka.common.utils.AppInfoParser", "Kafka version: 3.7.1")
    log(
        "WARN",
        "main",
        "JpaBaseConfiguration$JpaWebConfiguration",
        "spring.jpa.open-in-view is enabled by default. Therefore, database queries may be performed during view rendering. Explicitly configure spring.jpa.open-in-view to disable this warning",
    )
    log(
        "INFO",
        "main",
        "o.s.b.a.e.web.EndpointLinksResolver",
        "Exposing 3 endpoints beneath base path '/actuator'",
    )
    log(
        "WARN",
        "main",
        "ConfigServletWebServerApplicationContext",
        "Exception encountered during context initialization - cancelling refresh attempt: org.springframework.beans.factory.UnsatisfiedDependencyException: Error creating bean with name 'paymentsClient' defined in URL [jar:nested:/app/app.jar/!BOOT-INF/classes/!/com/acme/orders/payments/PaymentsClient.class]: Unsatisfied dependency expressed through constructor parameter 1: Error creating bean with name 'paymentsProperties': Could not bind properties to 'PaymentsProperties' : prefix=payments, ignoreInvalidFields=false, ignoreUnknownFields=true",
    )
    log(
        "INFO",
        "main",
        "j.LocalContainerEntityManagerFactoryBean",
        "Closing JPA EntityManagerFactory for persistence unit 'default'",
    )
    log("INFO", "main", "com.zaxxer.hikari.HikariDataSource", "HikariPool-1 - Shutdown initiated...")
    log("INFO", "main", "com.zaxxer.hikari.HikariDataSource", "HikariPool-1 - Shutdown completed.")
    log("INFO", "main", "o.apache.catalina.core.StandardService", "Stopping service [Tomcat]")
    log("INFO", "main", ".s.b.a.l.ConditionEvaluationReportLogger", "")
    lines += [
        "",
        "Error starting ApplicationContext. To display the condition evaluation report re-run your application with 'debug' enabled.",
    ]
    log("ERROR", "main", "o.s.b.d.LoggingFailureAnalysisReporter", "")
    lines += [
        "",
        "***************************",
        "APPLICATION FAILED TO START",
        "***************************",
        "",
        "Description:",
        "",
        "Binding to target [Bindable@3c0fae6c type = com.acme.orders.payments.PaymentsProperties, value = 'provided', annotations = array<Annotation>[@org.springframework.validation.annotation.Validated()]] failed:",
        "",
        "    Property: payments.base-url",
        '    Value: "null"',
        "    Reason: must not be null",
        "",
        "",
        "Action:",
        "",
        "Update your application's configuration",
        "",
    ]
    frames = [
        "org.springframework.beans.factory.support.ConstructorResolver.createArgumentArray(ConstructorResolver.java:795)",
        "org.springframework.beans.factory.support.ConstructorResolver.autowireConstructor(ConstructorResolver.java:237)",
        "org.springframework.beans.factory.support.AbstractAutowireCapableBeanFactory.autowireConstructor(AbstractAutowireCapableBeanFactory.java:1375)",
        "org.springframework.beans.factory.support.AbstractAutowireCapableBeanFactory.createBeanInstance(AbstractAutowireCapableBeanFactory.java:1212)",
        "org.springframework.beans.factory.support.AbstractAutowireCapableBeanFactory.doCreateBean(AbstractAutowireCapableBeanFactory.java:562)",
        "org.springframework.beans.factory.support.AbstractAutowireCapableBeanFactory.createBean(AbstractAutowireCapableBeanFactory.java:522)",
        "org.springframework.beans.factory.support.AbstractBeanFactory.lambda$doGetBean$0(AbstractBeanFactory.java:337)",
        "org.springframework.beans.factory.support.DefaultSingletonBeanRegistry.getSingleton(DefaultSingletonBeanRegistry.java:234)",
        "org.springframework.beans.factory.support.AbstractBeanFactory.doGetBean(AbstractBeanFactory.java:335)",
        "org.springframework.beans.factory.support.AbstractBeanFactory.getBean(AbstractBeanFactory.java:200)",
        "org.springframework.beans.factory.support.DefaultListableBeanFactory.preInstantiateSingletons(DefaultListableBeanFactory.java:975)",
        "org.springframework.context.support.AbstractApplicationContext.finishBeanFactoryInitialization(AbstractApplicationContext.java:971)",
        "org.springframework.context.support.AbstractApplicationContext.refresh(AbstractApplicationContext.java:625)",
        "org.springframework.boot.web.servlet.context.ServletWebServerApplicationContext.refresh(ServletWebServerApplicationContext.java:146)",
        "org.springframework.boot.SpringApplication.refresh(SpringApplication.java:754)",
        "org.springframework.boot.SpringApplication.refreshContext(SpringApplication.java:456)",
        "org.springframework.boot.SpringApplication.run(SpringApplication.java:335)",
        "org.springframework.boot.SpringApplication.run(SpringApplication.java:1363)",
        "org.springframework.boot.SpringApplication.run(SpringApplication.java:1352)",
        "com.acme.orders.OrdersApplication.main(OrdersApplication.java:14)",
        "java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)",
        "java.base/java.lang.reflect.Method.invoke(Method.java:580)",
        "org.springframework.boot.loader.launch.Launcher.launch(Launcher.java:91)",
        "org.springframework.boot.loader.launch.Launcher.launch(Launcher.java:53)",
        "org.springframework.boot.loader.launch.JarLauncher.main(JarLauncher.java:58)",
    ]
    bind = [
        "org.springframework.boot.context.properties.bind.validation.ValidationBindHandler.validate(ValidationBindHandler.java:143)",
        "org.springframework.boot.context.properties.bind.validation.ValidationBindHandler.onFinish(ValidationBindHandler.java:130)",
        "org.springframework.boot.context.properties.bind.Binder.handleBindResult(Binder.java:399)",
        "org.springframework.boot.context.properties.bind.Binder.bind(Binder.java:354)",
        "org.springframework.boot.context.properties.bind.Binder.bind(Binder.java:339)",
        "org.springframework.boot.context.properties.ConfigurationPropertiesBinder.bind(ConfigurationPropertiesBinder.java:96)",
        "org.springframework.boot.context.properties.ConfigurationPropertiesBindingPostProcessor.bind(ConfigurationPropertiesBindingPostProcessor.java:89)",
        "org.springframework.boot.context.properties.ConfigurationPropertiesBindingPostProcessor.postProcessBeforeInitialization(ConfigurationPropertiesBindingPostProcessor.java:78)",
        "org.springframework.beans.factory.support.AbstractAutowireCapableBeanFactory.applyBeanPostProcessorsBeforeInitialization(AbstractAutowireCapableBeanFactory.java:422)",
        "org.springframework.beans.factory.support.AbstractAutowireCapableBeanFactory.initializeBean(AbstractAutowireCapableBeanFactory.java:1798)",
        "org.springframework.beans.factory.support.AbstractAutowireCapableBeanFactory.doCreateBean(AbstractAutowireCapableBeanFactory.java:600)",
    ]
    lines.append(
        "org.springframework.beans.factory.UnsatisfiedDependencyException: Error creating bean with name 'paymentsClient' defined in URL "
        "[jar:nested:/app/app.jar/!BOOT-INF/classes/!/com/acme/orders/payments/PaymentsClient.class]: Unsatisfied dependency expressed "
        "through constructor parameter 1: Error creating bean with name 'paymentsProperties': Could not bind properties to 'PaymentsProperties' "
        ": prefix=payments, ignoreInvalidFields=false, ignoreUnknownFields=true"
    )
    lines += [f"\tat {f}" for f in frames]
    lines.append(
        "Caused by: org.springframework.beans.factory.BeanCreationException: Error creating bean with name 'paymentsProperties': Could not "
        "bind properties to 'PaymentsProperties' : prefix=payments, ignoreInvalidFields=false, ignoreUnknownFields=true"
    )
    lines += [f"\tat {f}" for f in bind + frames[4:]]
    lines.append(
        "Caused by: org.springframework.boot.context.properties.bind.BindException: Failed to bind properties under 'payments' to com.acme.orders.payments.PaymentsProperties"
    )
    lines += [f"\tat {f}" for f in bind[:7]]
    lines.append("\t... 31 common frames omitted")
    lines.append(
        "Caused by: org.springframework.boot.context.properties.bind.validation.BindValidationException: Binding validation errors on payments"
    )
    lines.append(
        "   - Field error in object 'payments' on field 'baseUrl': rejected value [null]; codes [NotNull.payments.baseUrl,NotNull.baseUrl,NotNull.java.net.URI,NotNull]; arguments [org.springframework.context.support.DefaultMessageSourceResolvable: codes [payments.baseUrl,baseUrl]; arguments []; default message [baseUrl]]; default message [must not be null]"
    )
    lines += [f"\tat {f}" for f in bind[:2]]
    lines.append("\t... 38 common frames omitted")
    lines.append("")
    return "\n".join(lines) + "\n"


def compose_logs(tmp: Path) -> str:
    """docker compose logs of a five-service stack, interleaved: the worker cannot reach the broker because
    of a wrong hostname in its environment, the rest is routine."""
    rnd = random.Random(77)
    out = []
    sec = [0.0]

    def t() -> str:
        sec[0] += rnd.random() * 0.6
        s = sec[0]
        return f"2026-12-06T07:{12 + int(s) // 60:02d}:{int(s) % 60:02d}.{int((s % 1) * 1e6):06d}Z"

    w = 13

    def emit(svc: str, msg: str) -> None:  # noqa: E306
        out.append(f"{svc:<{w}}| {msg}")

    emit("db-1", f"{t()} 0 [Note] starting PostgreSQL 16.4 on x86_64-pc-linux-musl")
    emit("db-1", f'{t()} 0 [Note] listening on IPv4 address "0.0.0.0", port 5432')
    emit("db-1", "2026-12-06 07:12:01.118 UTC [1] LOG:  database system is ready to accept connections")
    emit(
        "rabbitmq-1",
        "2026-12-06 07:12:02.210311+00:00 [info] <0.230.0> Starting RabbitMQ 3.13.7 on Erlang 26.2.5",
    )
    emit(
        "rabbitmq-1",
        "2026-12-06 07:12:05.998113+00:00 [info] <0.654.0> Ready to start client connection listeners",
    )
    emit("rabbitmq-1", "2026-12-06 07:12:06.004442+00:00 [info] <0.676.0> started TCP listener on [::]:5672")
    emit(
        "rabbitmq-1",
        "2026-12-06 07:12:06.101930+00:00 [info] <0.9.0> Server startup complete; 4 plugins started.",
    )
    emit("api-1", "[2026-12-06 07:12:03 +0000] [1] [INFO] Starting gunicorn 22.0.0")
    emit("api-1", "[2026-12-06 07:12:03 +0000] [1] [INFO] Listening at: http://0.0.0.0:8000 (1)")
    for k in range(4):
        emit("api-1", f"[2026-12-06 07:12:03 +0000] [{8 + k}] [INFO] Booting worker with pid: {8 + k}")
    emit("worker-1", "")
    emit("worker-1", " -------------- celery@4f1c2a9b0e7d v5.4.0 (opalescent)")
    emit("worker-1", "--- ***** ----- ")
    emit("worker-1", "-- ******* ---- Linux-6.8.0-49-generic-x86_64-with-glibc2.36 2026-12-06 07:12:04")
    emit("worker-1", "- *** --- * --- ")
    emit("worker-1", "- ** ---------- [config]")
    emit("worker-1", "- ** ---------- .> app:         shop:0x7f2e1c0b5d50")
    emit("worker-1", "- ** ---------- .> transport:   amqp://shop:**@rabbit:5672//")
    emit("worker-1", "- ** ---------- .> results:     redis://redis:6379/1")
    emit("worker-1", "- *** --- * --- .> concurrency: 4 (prefork)")
    emit("worker-1", "-- ******* ---- .> task events: OFF (enable -E to monitor tasks in this worker)")
    emit("worker-1", "--- ***** ----- ")
    emit("worker-1", " -------------- [queues]")
    emit("worker-1", "                .> celery           exchange=celery(direct) key=celery")
    emit("worker-1", "                .> emails           exchange=emails(direct) key=emails")
    emit("worker-1", "")
    paths = ["/api/products?page=1", "/api/products/SKU-1182", "/api/cart", "/api/cart/items", "/healthz", "/api/orders",
             "/api/me", "/static/app.js", "/api/search?q=lamp"]  # fmt: skip
    retry = 0
    for i in range(260):
        r = rnd.random()
        if r < 0.55:
            p = rnd.choice(paths)
            code = 201 if p == "/api/orders" else 200
            emit(
                "proxy-1",
                f'172.19.0.1 - - [06/Dec/2026:07:{12 + i // 60:02d}:{i % 60:02d} +0000] "GET {p} HTTP/1.1" {code} {rnd.randint(80, 9000)} "-" "Mozilla/5.0 (X11; Linux x86_64)" rt={rnd.random() * 0.3:.3f}',
            )
        elif r < 0.8:
            emit(
                "api-1",
                f"[2026-12-06 07:{12 + i // 60:02d}:{i % 60:02d} +0000] [{rnd.randint(8, 11)}] [INFO] request_id={rnd.getrandbits(48):012x} user={rnd.randint(1, 900)} ms={rnd.randint(3, 120)}",
            )
        elif r < 0.9 and retry < 9:
            retry += 1
            emit(
                "worker-1",
                f"[2026-12-06 07:{12 + i // 60:02d}:{i % 60:02d},{rnd.randint(0, 999):03d}: ERROR/MainProcess] consumer: Cannot connect to amqp://shop:**@rabbit:5672//: [Errno -2] Name or service not known.",
            )
            emit("worker-1", f"Trying again in {min(2 * retry, 32):.2f} seconds... ({retry}/100)")
            emit("worker-1", "")
        elif r < 0.95:
            emit(
                "db-1",
                f"2026-12-06 07:{12 + i // 60:02d}:{i % 60:02d}.{rnd.randint(0, 999):03d} UTC [{rnd.randint(60, 90)}] LOG:  checkpoint starting: time",
            )
        else:
            emit(
                "rabbitmq-1",
                f"2026-12-06 07:{12 + i // 60:02d}:{i % 60:02d}.{rnd.randint(0, 999999):06d}+00:00 [info] <0.{rnd.randint(700, 990)}.0> accepting AMQP connection 172.19.0.{rnd.randint(3, 9)}:{rnd.randint(40000, 60000)} -> 172.19.0.4:5672",
            )
    emit(
        "api-1",
        "[2026-12-06 07:16:22 +0000] [9] [WARNING] order 88213 placed but confirmation e-mail task is still PENDING after 120 s",
    )
    return "\n".join(out) + "\n"


def dmesg_oom(tmp: Path) -> str:
    """dmesg -T of a host with routine kernel messages and one OOM kill of a Java process in a cgroup."""
    rnd = random.Random(9)
    out = []
    t = 0.0

    frozen = False  # the OOM report's lines share one timestamp

    def line(msg: str) -> None:
        nonlocal t
        t += 0 if frozen else rnd.random() * 40
        h, m, s = 9 + int(t) // 3600, int(t) % 3600 // 60, int(t) % 60
        out.append(f"[Sun Dec  6 {h:02d}:{m:02d}:{s:02d} 2026] {msg}")

    for _ in range(90):
        k = rnd.random()
        if k < 0.35:
            line(f"eth0: renamed from veth{rnd.getrandbits(28):07x}")
            line(f"IPv6: ADDRCONF(NETDEV_CHANGE): veth{rnd.getrandbits(28):07x}: link becomes ready")
            line(f"cni0: port {rnd.randint(1, 30)}(veth{rnd.getrandbits(28):07x}) entered forwarding state")
        elif k < 0.55:
            line(f"cni0: port {rnd.randint(1, 30)}(veth{rnd.getrandbits(28):07x}) entered disabled state")
            line(f"device veth{rnd.getrandbits(28):07x} left promiscuous mode")
        elif k < 0.7:
            line(
                f"EXT4-fs (dm-{rnd.randint(1, 3)}): mounted filesystem {rnd.getrandbits(64):016x} r/w with ordered data mode. Quota mode: none."
            )
        elif k < 0.85:
            line(
                f'audit: type=1400 audit({1796540000 + int(t)}.{rnd.randint(100, 999)}:{rnd.randint(200, 900)}): apparmor="STATUS" operation="profile_replace" profile="unconfined" name="cri-containerd.apparmor.d" pid={rnd.randint(2000, 90000)} comm="apparmor_parser"'
            )
        else:
            line(
                "overlayfs: upperdir is in-use as upperdir/workdir of another mount, accessing files from both mounts will result in undefined behavior."
            )
        if len(out) > 160 and not any("oom" in s for s in out):
            pid = 48213
            line("java invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=936")
            frozen = True
            line(f"CPU: 3 PID: {pid} Comm: java Not tainted 6.8.0-49-generic #49-Ubuntu")
            line("Hardware name: Amazon EC2 m6i.xlarge/, BIOS 1.0 10/16/2017")
            line("Call Trace:")
            for fr in ["<TASK>", "dump_stack_lvl+0x76/0xa0", "dump_stack+0x10/0x20", "dump_header+0x47/0x1f0", "oom_kill_process+0x118/0x280",
                       "out_of_memory+0x103/0x350", "mem_cgroup_out_of_memory+0x145/0x170", "try_charge_memcg+0x6d6/0x7d0",
                       "charge_memcg+0x40/0xa0", "__mem_cgroup_charge+0x2d/0xa0", "do_anonymous_page+0x2a5/0x6d0", "__handle_mm_fault+0x8a4/0xbc0",
                       "handle_mm_fault+0x18d/0x380", "do_user_addr_fault+0x169/0x660", "exc_page_fault+0x83/0x1b0", "asm_exc_page_fault+0x27/0x30", "</TASK>"]:  # fmt: skip
                line(f" {fr}")
            line("memory: usage 2097152kB, limit 2097152kB, failcnt 1184")
            line("swap: usage 0kB, limit 0kB, failcnt 0")
            line(
                "Memory cgroup stats for /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7f3e9a1c_22b4_4d0e_9c51_0e8f2b6d1a44.slice/cri-containerd-5c1d0e.scope:"
            )
            for st in ["anon 2131886080", "file 1847296", "kernel 12288000", "kernel_stack 1622016", "pagetables 6946816", "sock 0", "shmem 0",
                       "file_mapped 622592", "file_dirty 0", "file_writeback 0", "anon_thp 1056964608", "inactive_anon 2131738624", "active_anon 147456",
                       "inactive_file 1032192", "active_file 815104", "unevictable 0", "slab_reclaimable 1198424", "slab_unreclaimable 1421136",
                       "pgfault 1398211", "pgmajfault 12", "workingset_refault_anon 0", "workingset_refault_file 318"]:  # fmt: skip
                line(st)
            line("Tasks state (memory values in pages):")
            line("[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name")
            line("[  48120]     0 48120      255        1    28672        0          -998 pause")
            line(f"[  {pid}]  1000 {pid}  1203322   521873  4825088        0           936 java")
            line("[  48377]  1000 48377      618      190    45056        0           936 sh")
            line(
                f"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-5c1d0e.scope,mems_allowed=0,oom_memcg=/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7f3e9a1c_22b4_4d0e_9c51_0e8f2b6d1a44.slice,task_memcg=/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7f3e9a1c_22b4_4d0e_9c51_0e8f2b6d1a44.slice/cri-containerd-5c1d0e.scope,task=java,pid={pid},uid=1000"
            )
            line(
                f"Memory cgroup out of memory: Killed process {pid} (java) total-vm:4813288kB, anon-rss:2082484kB, file-rss:5008kB, shmem-rss:0kB, UID:1000 pgtables:4712kB oom_score_adj:936"
            )
            frozen = False
    return "\n".join(out) + "\n"


def graphql_errors(tmp: Path) -> str:
    """A GraphQL answer (pretty JSON) with a page of data and an ``errors`` array for one field."""
    rnd = random.Random(12)
    edges = []
    for i in range(40):
        oid = 70100 + i * 13
        failing = i in (17, 29)
        node = {
            "id": f"T3JkZXI6{oid}",
            "number": f"SO-{oid}",
            "status": rnd.choice(["PAID", "SHIPPED", "SHIPPED", "DELIVERED"]),
            "placedAt": f"2026-11-{1 + i % 28:02d}T{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:00Z",
            "total": {"amount": f"{rnd.randint(900, 90000) / 100:.2f}", "currency": "EUR"},
            "customer": {
                "id": f"Q3VzdG9tZXI6{rnd.randint(1000, 9999)}",
                "email": f"buyer{rnd.randint(100, 999)}@example.org",
            },
            "shipment": None
            if failing
            else {
                "carrier": rnd.choice(["DHL", "DPD", "UPS"]),
                "trackingNumber": f"{rnd.getrandbits(40):012X}",
                "eta": f"2026-12-{rnd.randint(7, 14):02d}",
            },  # fmt: skip
        }
        edges.append({"cursor": f"b3JkZXI6{oid}", "node": node})
    doc = {
        "errors": [
            {"message": "Carrier API timeout after 5000ms (DPD /tracking/v2)", "locations": [{"line": 14, "column": 9}],
             "path": ["orders", "edges", 17, "node", "shipment"], "extensions": {"code": "UPSTREAM_TIMEOUT", "service": "shipping-gateway", "retryable": True}},
            {"message": "Carrier API timeout after 5000ms (DPD /tracking/v2)", "locations": [{"line": 14, "column": 9}],
             "path": ["orders", "edges", 29, "node", "shipment"], "extensions": {"code": "UPSTREAM_TIMEOUT", "service": "shipping-gateway", "retryable": True}},
        ],
        "data": {"orders": {"totalCount": 1287, "pageInfo": {"hasNextPage": True, "endCursor": edges[-1]["cursor"]}, "edges": edges}},
        "extensions": {"cost": {"requestedQueryCost": 412, "actualQueryCost": 388, "throttleStatus": {"maximumAvailable": 2000, "currentlyAvailable": 1612, "restoreRate": 100}}},
    }  # fmt: skip
    return json.dumps(doc, indent=2) + "\n"


# ---------------------------------------------------------------- gold helpers


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
    ("ansible-playbook", ansible_run, True, "ansible-playbook -i inventory.ini site.yml",
     "The provisioning run failed. Which host, which task, and why?",
     [r"^fatal: \[db1\]: FAILED!", r"^TASK \[Render postgres client config\]", r"^db1\s+: ok=\d+.*failed=1"]),
    ("django migrate", django_migrate, True, "python manage.py migrate",
     "migrate blows up on a fresh database. Which migration, and why?",
     [r"Applying crm\.0003_customer_email_unique\.\.\.Traceback", r"^django\.db\.utils\.IntegrityError: UNIQUE constraint failed"]),
    ("hypothesis falsifying example", hypothesis_fail, True, "pytest -v --hypothesis-show-statistics test_rle.py",
     "Which input breaks the RLE roundtrip, and in which test?",
     [r"^E\s+s='0',$", r"^FAILED test_rle\.py::test_roundtrip_any_text"]),
    ("OpenAPI JSON", openapi_json, True, "curl -s localhost:8000/openapi.json | jq .",
     "How do I cancel an order through the API? Path, method and what goes in the body.",
     [r'^    "/v2/orders/\{order_id\}/cancellation": \{', near(r'^    "/v2/orders/\{order_id\}/cancellation"', r'^      "post": \{$', 1),
      r'^      "CancelRequest": \{', near(r'^      "CancelRequest": \{', r'^          "(reason|notify_customer)": \{$', 8)]),
    ("pre-commit run", precommit_run, True, "pre-commit run --all-files",
     "pre-commit fails on my commit. Ignore black, we're reformatting separately: what else do I have to fix?",
     [r"^flake8\.+Failed", r"F811 redefinition of unused 'command'", r"E702 multiple statements on one line",
      r"^no breakpoint\(\) or pdb\.+Failed", r"^httpie/sessions\.py:\d+:    import pdb; pdb\.set_trace\(\)"]),
    ("Go panic + goroutine dump", go_panic, False, "kubectl logs ingest-gateway-7c9f5d8b6-x2kqp --previous",
     "ingest-gateway crashed overnight. What's the bug?",
     [r"^panic: assignment to entry in nil map", r"^goroutine 1873 \[running\]:", r"\(\*Registry\)\.Touch\(",
      r"registry\.go:88 ", r"batch\.go:57 "]),
    ("Spring Boot crashloop", spring_crashloop, False, "kubectl logs orders-service-5d4b8c7f9-qk2xw --previous",
     "orders-service is in CrashLoopBackOff since the deploy, why?",
     [r"^    Property: payments\.base-url", r"^    Reason: must not be null", r"Field error in object 'payments' on field 'baseUrl'"]),
    ("docker compose logs", compose_logs, False, "docker compose logs",
     "order confirmation emails aren't going out on my local stack. what's wrong?",
     [r"Cannot connect to amqp://shop:\*\*@rabbit:5672//: \[Errno -2\] Name or service not known", r"\.> transport:\s+amqp://shop:\*\*@rabbit:5672//"]),
    ("dmesg OOM kill", dmesg_oom, False, "dmesg -T",
     "Our java pod keeps restarting with exit code 137. This is dmesg from its node: what killed it?",
     [r"java invoked oom-killer", r"\] memory: usage 2097152kB, limit 2097152kB", r"Memory cgroup out of memory: Killed process 48213 \(java\)"]),
    ("GraphQL errors", graphql_errors, False, "curl -s -X POST https://api.shop.example/graphql -d @orders.json | jq .",
     "Some orders show no shipment info on the orders page. What is the API telling us?",
     [r'^      "message": "Carrier API timeout', r'^        "code": "UPSTREAM_TIMEOUT"']),
    ("cmake configure", cmake_libgit2, True, "cmake -S . -B build -DUSE_SSH=libssh2 -DUSE_HTTPS=OpenSSL",
     "cmake fails, what's missing?",
     [r"^CMake Error at cmake/SelectSSH\.cmake:20", r"LIBSSH2 not found\.", r"Could NOT find LibSSH2"]),
]  # fmt: skip


if __name__ == "__main__":
    survey_main(SURVEY4_SPECS, OUT, "the fourth survey's held-out tool-output cases")
