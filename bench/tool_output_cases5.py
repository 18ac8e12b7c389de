#!/usr/bin/env python3
# ruff: noqa: E501  (realistic tool outputs written inline have long lines)
"""A fifth survey of tool outputs, held out: ``heldout3/cases.jsonl.gz``, to be scored once as a fresh measure.

usage: tool_output_cases5.py [--only NAME,...]     # (re)build bench/data/tool_outputs/heldout3/cases.jsonl.gz

Same record shape as ``tool_output_cases.py`` (name, real, tool, task, text, gold_lines); gold patterns are
regexes read by its ``gold_lines`` (``@L<n>`` names a line, ``1:`` keeps the first match only) or callables
over the lines (as in ``tool_output_cases4.py``).

Real outputs (run here): ``git log --oneline --graph`` and a ``git bisect run`` over the mirrored click,
markdownlint over click's docs, ``pip install --dry-run --report`` (celery[redis]), pipdeptree and
``python -X importtime`` of a tools venv, pyright over the rich sdist, vulture and ``radon cc`` over paramiko,
sqlite3 with ``.eqp on``, pytest under ``-W error::DeprecationWarning`` and ``pytest --lf``, ``python -m trace
--count --summary`` of a click app, ``nginx -T``, ``top -b -n 1``, a prometheus_client ``/metrics`` page, a
uvicorn log of a FastAPI app, ``alembic upgrade head`` failing, an SQLAlchemy ``echo=True`` import failing and
ApacheBench against a local server. Written by hand (seeded): a jstack dump with a deadlock, an Android logcat
crash, ``docker inspect`` of an OOM-killed container, ``kubectl get pods -A -o wide``, ``dig +trace``, a Celery
worker log, an OpenTelemetry collector's debug exporter, an xcodebuild failure, ``go mod graph`` and
``systemd-analyze blame``.

Rebuilding needs the pallets/click mirror under /work/.mirror, network to PyPI (sdists, the pip report), Debian's
sqlite3, nginx(-light), apache2-utils (ab), procps (top) and curl, node with NODE_TOOLS (default
/tmp/survey5-npm: markdownlint-cli, pyright), TOOLS_VENV (default /tmp/survey5-venv: vulture radon pipdeptree
prometheus_client sqlalchemy alembic uvicorn fastapi) and /tmp/survey4-venv (pytest, django, fastapi: the venv
pipdeptree/importtime look at). A rebuild changes what carries times, ports, process ids, this machine's state
(top) or PyPI's newest versions (the pip report, pipdeptree); gold patterns are written to follow.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import free_port, wait_port  # noqa: E402
from tool_output_cases import MIRROR, REPO, Pattern, checkout, git, sh, survey_main  # noqa: E402
from tool_output_cases import sdist as pypi_sdist  # noqa: E402

OUT = REPO / "bench" / "data" / "tool_outputs" / "heldout3" / "cases.jsonl.gz"
TOOLS = Path(os.environ.get("TOOLS_VENV", "/tmp/survey5-venv")) / "bin"
NODE_TOOLS = Path(os.environ.get("NODE_TOOLS", "/tmp/survey5-npm")) / "node_modules" / ".bin"
SDISTS = {"requests": "2.32.3", "paramiko": "3.4.0", "httpie": "3.2.2", "rich": "13.9.4"}


def sdist(name: str, tmp: Path) -> Path:
    """The PyPI sdist of ``name`` (pinned in SDISTS), unpacked under ``tmp``."""
    return pypi_sdist(name, SDISTS[name], tmp, TOOLS / "pip")


def py(tmp: Path, name: str, code: str) -> Path:
    p = tmp / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(code)
    return p


# ---------------------------------------------------------------- real outputs


def git_graph(tmp: Path) -> str:
    return git("pallets+click", "log --oneline --graph --decorate -n 500")


BISECT_CHECK = """\
#!/bin/sh
# exits 0 (good) while an unknown colour name still raises TypeError
out=$(PYTHONPATH=src python3 -c "import click; click.style('deploy', fg='nope')" 2>&1)
echo "$out" | tail -n 1
echo "$out" | grep -q '^TypeError'
"""


def git_bisect_run(tmp: Path) -> str:
    sh(f"git clone -q --shared {MIRROR / 'pallets+click' / 'repo'} {tmp / 'click'}")
    d = tmp / "click"
    py(tmp, "check_style.sh", BISECT_CHECK).chmod(0o755)
    env = {"GIT_PAGER": "cat"}
    out = sh("git bisect start HEAD 8.3.0 2>&1", cwd=d, env=env)
    out += sh(f"git bisect run {tmp / 'check_style.sh'} 2>&1", cwd=d, env=env)
    out += sh("git bisect log 2>&1", cwd=d, env=env)
    sh("git bisect reset -q", cwd=d)
    return out.replace(str(tmp), "/home/dev")


def markdownlint_click(tmp: Path) -> str:
    src = checkout("pallets+click", tmp / "click")
    return sh(f"{NODE_TOOLS / 'markdownlint'} docs '*.md' 2>&1", cwd=src)


def pip_report(tmp: Path) -> str:
    return sh(
        f"{TOOLS / 'pip'} install --dry-run --ignore-installed --report - -q 'celery[redis]==5.4.0' 2>/dev/null"
    )


def pipdeptree(tmp: Path) -> str:
    survey4 = Path("/tmp/survey4-venv/bin/python")
    return sh(f"{TOOLS / 'pipdeptree'} --python {survey4} 2>&1")


def importtime(tmp: Path) -> str:
    return sh(
        f"{Path('/tmp/survey4-venv/bin/python')} -X importtime -c 'import fastapi, django.db.models' 2>&1"
    )


def pyright_rich(tmp: Path) -> str:
    src = sdist("rich", tmp)
    out = sh(f"{NODE_TOOLS / 'pyright'} rich 2>&1", cwd=src)
    return out.replace(str(src), "/home/dev/rich")


def vulture_paramiko(tmp: Path) -> str:
    src = sdist("paramiko", tmp)
    return sh(f"{TOOLS / 'vulture'} paramiko 2>&1", cwd=src)


def radon_paramiko(tmp: Path) -> str:
    src = sdist("paramiko", tmp)
    return sh(f"{TOOLS / 'radon'} cc -s paramiko 2>&1", cwd=src)


SHOP_SQL = """\
CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, country TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE UNIQUE INDEX ix_customers_email ON customers(email);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), status TEXT NOT NULL,
                     total_cents INTEGER NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX ix_orders_customer ON orders(customer_id);
CREATE INDEX ix_orders_created ON orders(created_at);
CREATE TABLE order_items (order_id INTEGER NOT NULL REFERENCES orders(id), sku TEXT NOT NULL, qty INTEGER NOT NULL, price_cents INTEGER NOT NULL);
CREATE INDEX ix_items_order ON order_items(order_id);
"""

SHOP_QUERIES = """\
.headers on
.mode column
.eqp on
-- top customers this year
SELECT c.email, count(o.id) AS orders, sum(o.total_cents)/100.0 AS revenue
  FROM customers c JOIN orders o ON o.customer_id = c.id
 WHERE o.created_at >= '2026-01-01' GROUP BY c.id ORDER BY revenue DESC LIMIT 40;
-- monthly report
SELECT strftime('%Y-%m', o.created_at) AS month, o.status, count(*) AS n, sum(i.qty) AS units
  FROM orders o JOIN order_items i ON i.order_id = o.id
 WHERE strftime('%Y', o.created_at) = '2026' GROUP BY month, o.status ORDER BY month, o.status;
-- skus by country
SELECT c.country, i.sku, sum(i.qty) AS units FROM order_items i
  JOIN orders o ON o.id = i.order_id JOIN customers c ON c.id = o.customer_id
 WHERE c.country IN ('DE', 'FR') GROUP BY c.country, i.sku HAVING units > 40 ORDER BY units DESC LIMIT 60;
"""


def sqlite_eqp(tmp: Path) -> str:
    import sqlite3

    rnd = random.Random(5)
    db = tmp / "shop.db"
    con = sqlite3.connect(db)
    con.executescript(SHOP_SQL)
    for cid in range(1, 1201):
        con.execute("INSERT INTO customers VALUES (?,?,?,?)", (cid, f"user{cid}@example.{rnd.choice(['com', 'de', 'fr'])}",
                    rnd.choice(["DE", "FR", "NL", "AT", "IT", "ES"]), f"2025-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"))  # fmt: skip
    for oid in range(1, 9001):
        con.execute("INSERT INTO orders VALUES (?,?,?,?,?)", (oid, rnd.randint(1, 1200), rnd.choice(["paid", "shipped", "refunded", "cancelled"]),
                    rnd.randint(500, 40000), f"{rnd.choice([2025, 2026])}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d} {rnd.randint(0, 23):02d}:00:00"))  # fmt: skip
        for _ in range(rnd.randint(1, 4)):
            con.execute(
                "INSERT INTO order_items VALUES (?,?,?,?)",
                (oid, f"SKU-{rnd.randint(100, 160)}", rnd.randint(1, 5), rnd.randint(300, 9000)),
            )
    con.commit()
    con.close()
    (tmp / "report.sql").write_text(SHOP_QUERIES)
    return sh(f"sqlite3 {db} < {tmp / 'report.sql'} 2>&1")


DEPRECATED_APP = {
    "shopcfg/__init__.py": "",
    "shopcfg/tls.py": """\
import ssl


def client_context(cafile=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = True
    if cafile:
        ctx.load_verify_locations(cafile)
    else:
        ctx.load_default_certs()
    return ctx
""",
    "shopcfg/money.py": """\
from decimal import ROUND_HALF_UP, Decimal


def to_cents(value):
    return int((Decimal(str(value)) * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def fmt(cents, currency="EUR"):
    return f"{cents / 100:.2f} {currency}"
""",
    "shopcfg/settings.py": """\
import os

from . import tls


def load():
    return {
        "db_url": os.environ.get("DATABASE_URL", "sqlite:///shop.db"),
        "currency": os.environ.get("SHOP_CURRENCY", "EUR"),
        "tls": tls.client_context(),
    }
""",
    "tests/test_money.py": """\
import pytest

from shopcfg import money


@pytest.mark.parametrize("value,cents", [(0, 0), (1, 100), ("2.5", 250), (0.105, 11), (19.99, 1999), (-3.335, -334), ("1e2", 10000), (7.005, 701)])
def test_to_cents(value, cents):
    assert money.to_cents(value) == cents


@pytest.mark.parametrize("cents,text", [(0, "0.00 EUR"), (199, "1.99 EUR"), (-5, "-0.05 EUR"), (123456, "1234.56 EUR")])
def test_fmt(cents, text):
    assert money.fmt(cents) == text
""",
    "tests/test_settings.py": """\
from shopcfg import settings, tls


def test_defaults(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    cfg = settings.load()
    assert cfg["db_url"] == "sqlite:///shop.db"
    assert cfg["currency"] == "EUR"


def test_currency_override(monkeypatch):
    monkeypatch.setenv("SHOP_CURRENCY", "CHF")
    assert settings.load()["currency"] == "CHF"


def test_tls_verifies():
    ctx = tls.client_context()
    assert ctx.check_hostname
""",
}


def pytest_w_error(tmp: Path) -> str:
    d = tmp / "shopcfg"
    for name, code in DEPRECATED_APP.items():
        py(d, name, code)
    out = sh(
        f"{Path('/tmp/survey4-venv/bin/python')} -W error::DeprecationWarning -m pytest -v -p no:cacheprovider tests 2>&1",
        cwd=d,
    )
    return out.replace(str(d), "/home/dev/shopcfg")


TRACE_APP = """\
import click


@click.group()
@click.option("--verbose", "-v", count=True)
@click.pass_context
def cli(ctx, verbose):
    ctx.obj = {"verbose": verbose}


@cli.command()
@click.argument("names", nargs=-1)
@click.option("--shout/--no-shout", default=False)
def greet(names, shout):
    for name in names or ("world",):
        msg = f"hello {name}"
        click.echo(click.style(msg.upper() if shout else msg, fg="green"))


@cli.command()
@click.option("--count", type=click.IntRange(1, 10), default=3)
def countdown(count):
    with click.progressbar(range(count), label="counting", file=open("/dev/null", "w")) as bar:
        for _ in bar:
            pass
    click.echo("liftoff")


if __name__ == "__main__":
    cli(["-v", "greet", "ada", "--shout"], standalone_mode=False)
    cli(["countdown", "--count", "4"], standalone_mode=False)
"""


def trace_count(tmp: Path) -> str:
    src = checkout("pallets+click", tmp / "click")
    py(tmp, "app/cli.py", TRACE_APP)
    out = sh(
        f"PYTHONPATH={src / 'src'} python3 -m trace --count --summary --missing -C {tmp / 'cover'} cli.py 2>&1",
        cwd=tmp / "app",
    )
    return out.replace(str(tmp), "/home/dev")


LF_TESTS = {
    "ledger/__init__.py": "",
    "ledger/core.py": """\
import warnings
from datetime import date


def parse_date(s):
    warnings.warn("parse_date() is deprecated, use date.fromisoformat()", DeprecationWarning, stacklevel=2)
    y, m, d = (int(x) for x in s.split("-"))
    return date(y, m, d)


def balance(entries):
    total = 0
    for e in entries:
        total += e["amount"] if e["kind"] == "credit" else -e["amount"]
    return round(total, 2)


def month_key(s):
    d = parse_date(s)
    return f"{d.year}-{d.month}"


def split_evenly(cents, n):
    base, extra = divmod(cents, n)
    return [base + (1 if i < extra else 0) for i in range(n)]
""",
    "tests/test_core.py": """\
import pytest

from ledger import core


@pytest.mark.parametrize("s", [f"2026-{m:02d}-{d:02d}" for m in range(1, 13) for d in (1, 15, 28)])
def test_parse_date(s):
    assert core.parse_date(s).isoformat() == s


@pytest.mark.parametrize("s,key", [(f"2026-{m:02d}-{d:02d}", f"2026-{m:02d}") for m in range(1, 13) for d in (5, 30)])
def test_month_key(s, key):
    assert core.month_key(s) == key


def test_balance():
    assert core.balance([{"kind": "credit", "amount": 10.5}, {"kind": "debit", "amount": 0.25}]) == 10.25


def test_balance_refund_is_credit():
    entries = [{"kind": "debit", "amount": 40.0}, {"kind": "refund", "amount": 15.0}, {"kind": "credit", "amount": 5.0}]
    assert core.balance(entries) == -20.0


@pytest.mark.parametrize("cents,n", [(100, 3), (1, 2), (999, 7), (0, 4)])
def test_split_evenly(cents, n):
    parts = core.split_evenly(cents, n)
    assert sum(parts) == cents and max(parts) - min(parts) <= 1
""",
}


def pytest_lf(tmp: Path) -> str:
    d = tmp / "ledger"
    for name, code in LF_TESTS.items():
        py(d, name, code)
    pytest = "/tmp/survey4-venv/bin/python -m pytest"
    sh(f"{pytest} -q tests", cwd=d)
    # fix one of the two bugs, as a developer would, then rerun the last failures
    core = d / "ledger" / "core.py"
    core.write_text(
        core.read_text().replace('return f"{d.year}-{d.month}"', 'return f"{d.year}-{d.month:02d}"')
    )
    out = sh(f"{pytest} --lf -rA tests 2>&1", cwd=d)
    return out.replace(str(d), "/home/dev/ledger")


NGINX_CONF = """\
user www-data;
worker_processes auto;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    server_tokens off;
    client_max_body_size 16m;
    access_log {tmp}/access.log;
    gzip on;
    gzip_types text/plain text/css application/json application/javascript text/xml application/xml image/svg+xml;
    include {tmp}/conf.d/*.conf;
    include {tmp}/sites-enabled/*;
}}
"""

NGINX_SITES = {
    "conf.d/upstreams.conf": """\
upstream shop_api {
    least_conn;
    server 10.0.3.21:8000 max_fails=3 fail_timeout=10s;
    server 10.0.3.22:8000 max_fails=3 fail_timeout=10s;
    server 10.0.3.23:8000 backup;
    keepalive 32;
}

upstream shop_web {
    server 10.0.3.31:3000;
    server 10.0.3.32:3000;
}

upstream admin_app {
    server 127.0.0.1:8081;
}

upstream grafana {
    server 10.0.5.10:3000;
}
""",
    "conf.d/ratelimit.conf": """\
limit_req_zone $binary_remote_addr zone=api_per_ip:10m rate=20r/s;
limit_req_zone $binary_remote_addr zone=login_per_ip:10m rate=5r/m;
limit_conn_zone $binary_remote_addr zone=conn_per_ip:10m;
map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
}
""",
    "conf.d/security-headers.conf": """\
add_header X-Frame-Options SAMEORIGIN always;
add_header X-Content-Type-Options nosniff always;
add_header Referrer-Policy strict-origin-when-cross-origin always;
""",
    "sites-enabled/00-default": """\
server {
    listen 127.0.0.1:18080 default_server;
    server_name _;
    return 444;
}
""",
    "sites-enabled/shop.example.com": """\
server {
    listen 127.0.0.1:18080;
    server_name shop.example.com www.shop.example.com;

    root /srv/shop/public;
    index index.html;

    location = /healthz {
        access_log off;
        return 200 "ok\\n";
    }

    location /static/ {
        alias /srv/shop/static/;
        expires 30d;
        add_header Cache-Control "public, immutable";
    }

    location /api/auth/login {
        limit_req zone=login_per_ip burst=5 nodelay;
        proxy_pass http://shop_api;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }

    location /api/ {
        limit_req zone=api_per_ip burst=40;
        limit_conn conn_per_ip 20;
        proxy_pass http://shop_api/v2/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_read_timeout 30s;
        proxy_connect_timeout 3s;
    }

    location /ws/ {
        proxy_pass http://shop_api;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_read_timeout 1h;
    }

    location / {
        proxy_pass http://shop_web;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
}
""",
    "sites-enabled/admin.shop.example.com": """\
server {
    listen 127.0.0.1:18080;
    server_name admin.shop.example.com;

    allow 10.0.0.0/8;
    allow 192.168.10.0/24;
    deny all;

    location / {
        proxy_pass http://admin_app;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }

    location /grafana/ {
        proxy_pass http://grafana/;
        proxy_set_header Host $host;
    }
}
""",
}


def nginx_dump(tmp: Path) -> str:
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp))
    for name, text in NGINX_SITES.items():
        py(tmp, name, text)
    out = sh(f"nginx -T -c {conf} 2>&1")
    return out.replace(str(tmp), "/etc/nginx")


def top_batch(tmp: Path) -> str:
    return sh("COLUMNS=160 top -b -n 1 -w 160")


METRICS_APP = """\
import random
import sys
import time

from prometheus_client import Counter, Gauge, Histogram, Summary, start_http_server

REQS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
LAT = Histogram("http_request_duration_seconds", "Request latency", ["route"],
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
INFLIGHT = Gauge("http_requests_in_flight", "Requests being served")
QUEUE = Gauge("worker_queue_depth", "Jobs waiting", ["queue"])
DB = Summary("db_query_duration_seconds", "DB query time", ["table"])
CACHE = Counter("cache_operations_total", "Cache operations", ["result"])

rnd = random.Random(11)
routes = {"/": (0.02, 0.0), "/products": (0.05, 0.001), "/products/{id}": (0.03, 0.001), "/cart": (0.04, 0.002),
          "/checkout": (0.9, 0.06), "/login": (0.08, 0.004), "/search": (0.2, 0.01), "/healthz": (0.001, 0.0)}
for _ in range(20000):
    route = rnd.choice(list(routes))
    mean, err = routes[route]
    method = "POST" if route in ("/checkout", "/login", "/cart") and rnd.random() < 0.7 else "GET"
    r = rnd.random()
    status = "500" if r < err else "502" if route == "/checkout" and r < err * 1.5 else "404" if r > 0.995 else "200"
    REQS.labels(method, route, status).inc()
    LAT.labels(route).observe(rnd.expovariate(1 / mean))
for t in ("orders", "products", "customers", "sessions"):
    for _ in range(500):
        DB.labels(t).observe(rnd.expovariate(1 / (0.4 if t == "orders" else 0.01)))
for q, n in (("emails", 3), ("invoices", 1840), ("webhooks", 12)):
    QUEUE.labels(q).set(n)
for res in ("hit", "miss"):
    CACHE.labels(res).inc(rnd.randint(1000, 90000))
INFLIGHT.set(7)
start_http_server(int(sys.argv[1]), addr="127.0.0.1")
time.sleep(60)
"""


def prometheus_metrics(tmp: Path) -> str:
    port = free_port()
    app = py(tmp, "metrics_app.py", METRICS_APP)
    proc = subprocess.Popen(
        [str(TOOLS / "python"), str(app), str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_port(port)
        time.sleep(0.5)
        return sh(f"curl -s http://127.0.0.1:{port}/metrics")
    finally:
        proc.terminate()
        proc.wait()


UVICORN_APP = """\
import logging

from fastapi import FastAPI, HTTPException

app = FastAPI()
log = logging.getLogger("shop")

PRODUCTS = {i: {"id": i, "name": f"product {i}", "price_cents": 500 + i * 37, "stock": (i * 7) % 13} for i in range(1, 60)}
CARTS: dict[str, list[int]] = {}
COUPONS = {"WELCOME10": 10, "BLACKFRIDAY": 30}


@app.get("/products")
def products(limit: int = 20, offset: int = 0):
    return list(PRODUCTS.values())[offset : offset + limit]


@app.get("/products/{pid}")
def product(pid: int):
    if pid not in PRODUCTS:
        raise HTTPException(404, "no such product")
    return PRODUCTS[pid]


@app.post("/carts/{cid}/items/{pid}")
def add_item(cid: str, pid: int):
    CARTS.setdefault(cid, []).append(pid)
    return {"items": len(CARTS[cid])}


@app.get("/carts/{cid}/total")
def cart_total(cid: str, coupon: str | None = None):
    items = CARTS.get(cid, [])
    total = sum(PRODUCTS[p]["price_cents"] for p in items)
    if coupon:
        total -= total * COUPONS[coupon.upper()] // 100
    return {"total_cents": total, "items": len(items)}
"""


def uvicorn_log(tmp: Path) -> str:
    py(tmp, "shop/main.py", UVICORN_APP)
    port = free_port()
    log = open(tmp / "uvicorn.log", "w")
    proc = subprocess.Popen([str(TOOLS / "uvicorn"), "main:app", "--host", "127.0.0.1", "--port", str(port), "--no-use-colors"],
                            cwd=tmp / "shop", stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_port(port)
        rnd = random.Random(4)
        urls = []
        for i in range(160):
            cid = f"c{rnd.randint(100, 140)}"
            k = rnd.random()
            if k < 0.35:
                urls.append(
                    ("GET", f"/products?limit={rnd.choice([10, 20, 50])}&offset={rnd.randint(0, 40)}")
                )
            elif k < 0.6:
                urls.append(("GET", f"/products/{rnd.randint(1, 64)}"))
            elif k < 0.85:
                urls.append(("POST", f"/carts/{cid}/items/{rnd.randint(1, 59)}"))
            else:
                coupon = rnd.choice(
                    ["", "", "welcome10", "BLACKFRIDAY", "SPRING25" if i > 60 else "WELCOME10"]
                )
                urls.append(("GET", f"/carts/{cid}/total" + (f"?coupon={coupon}" if coupon else "")))
        for method, url in urls:
            sh(f"curl -s -o /dev/null -X {method} 'http://127.0.0.1:{port}{url}'")
    finally:
        proc.terminate()
        proc.wait()
        log.close()
    return (tmp / "uvicorn.log").read_text().replace(str(tmp), "/srv").replace(f":{port}", ":8000")


ALEMBIC_REVS = {
    "a1f0c3d2e001_create_customers.py": """\
\"\"\"create customers

Revision ID: a1f0c3d2e001
Revises:
Create Date: 2026-10-02 09:14:11.204817
\"\"\"
import sqlalchemy as sa
from alembic import op

revision = "a1f0c3d2e001"
down_revision = None


def upgrade():
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(255), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime, server_default=sa.func.now()),
    )
    op.execute("INSERT INTO customers (email) VALUES ('ada@example.com'), ('bob@example.com'), ('cy@example.com')")


def downgrade():
    op.drop_table("customers")
""",
    "b7e2d4c1f002_create_orders.py": """\
\"\"\"create orders

Revision ID: b7e2d4c1f002
Revises: a1f0c3d2e001
Create Date: 2026-10-19 16:40:02.771203
\"\"\"
import sqlalchemy as sa
from alembic import op

revision = "b7e2d4c1f002"
down_revision = "a1f0c3d2e001"


def upgrade():
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("total_cents", sa.Integer, nullable=False),
    )
    op.create_index("ix_orders_customer_id", "orders", ["customer_id"])


def downgrade():
    op.drop_index("ix_orders_customer_id", "orders")
    op.drop_table("orders")
""",
    "c93a5e7b0003_add_customer_tier.py": """\
\"\"\"add customer tier

Revision ID: c93a5e7b0003
Revises: b7e2d4c1f002
Create Date: 2026-11-28 11:02:45.118390
\"\"\"
import sqlalchemy as sa
from alembic import op

revision = "c93a5e7b0003"
down_revision = "b7e2d4c1f002"


def upgrade():
    op.add_column("customers", sa.Column("tier", sa.String(16), nullable=False))
    op.create_index("ix_customers_tier", "customers", ["tier"])


def downgrade():
    op.drop_index("ix_customers_tier", "customers")
    op.drop_column("customers", "tier")
""",
    "d5b8f1a2c004_orders_status.py": """\
\"\"\"orders status

Revision ID: d5b8f1a2c004
Revises: c93a5e7b0003
Create Date: 2026-12-01 08:21:37.551002
\"\"\"
import sqlalchemy as sa
from alembic import op

revision = "d5b8f1a2c004"
down_revision = "c93a5e7b0003"


def upgrade():
    op.add_column("orders", sa.Column("status", sa.String(16), nullable=False, server_default="new"))


def downgrade():
    op.drop_column("orders", "status")
""",
}


def alembic_upgrade(tmp: Path) -> str:
    d = tmp / "shop"
    d.mkdir()
    alembic = TOOLS / "alembic"
    sh(f"{alembic} init migrations", cwd=d)
    ini = d / "alembic.ini"
    ini.write_text(ini.read_text().replace("driver://user:pass@localhost/dbname", "sqlite:///shop.db"))
    for name, code in ALEMBIC_REVS.items():
        py(d / "migrations" / "versions", name, code)
    out = sh(f"{alembic} upgrade head 2>&1", cwd=d)
    return out.replace(str(d), "/srv/shop").replace(str(TOOLS.parent), "/srv/shop/.venv")


SQLA_SCRIPT = """\
import csv
import io
import random

from sqlalchemy import ForeignKey, String, UniqueConstraint, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

class Base(DeclarativeBase):
    pass


class Supplier(Base):
    __tablename__ = "suppliers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    products: Mapped[list["Product"]] = relationship(back_populates="supplier")


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("supplier_id", "sku", name="uq_products_supplier_sku"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    price_cents: Mapped[int]
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    supplier: Mapped[Supplier] = relationship(back_populates="products")


rnd = random.Random(8)
rows = []
for i in range(70):
    sup = rnd.choice(["Acme GmbH", "Nordic Supply AB", "Iberia Parts SL"])
    rows.append((sup, f"SKU-{1000 + i}", f"item {i}", rnd.randint(199, 9999)))
rows.insert(57, ("Nordic Supply AB", rows[12][1] if rows[12][0] == "Nordic Supply AB" else "SKU-1012", "item 12 (reissue)", 4599))
rows[12] = ("Nordic Supply AB", "SKU-1012", "item 12", rows[12][3])
buf = io.StringIO()
csv.writer(buf).writerows(rows)

engine = create_engine("sqlite:///catalog.db", echo=True)
Base.metadata.create_all(engine)
with Session(engine) as s:
    suppliers = {}
    for sup, sku, title, price in csv.reader(io.StringIO(buf.getvalue())):
        if sup not in suppliers:
            suppliers[sup] = s.scalar(select(Supplier).where(Supplier.name == sup)) or Supplier(name=sup)
            s.add(suppliers[sup])
            s.flush()
        s.add(Product(sku=sku, title=title, price_cents=int(price), supplier=suppliers[sup]))
        s.flush()
    s.commit()
"""


def sqlalchemy_echo(tmp: Path) -> str:
    py(tmp, "import_catalog.py", SQLA_SCRIPT)
    out = sh(f"{TOOLS / 'python'} import_catalog.py 2>&1", cwd=tmp)
    ms = iter(range(512, 10**6, 3))
    out = re.sub(
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}",
        lambda _: f"2026-12-06 09:41:{7 + (n := next(ms)) // 1000:02d},{n % 1000:03d}",
        out,
        flags=re.M,
    )
    return out.replace(str(tmp), "/srv/catalog").replace(str(TOOLS.parent), "/srv/catalog/.venv")


AB_SERVER = """\
import random
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

rnd = random.Random(2)


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        slow = 0.03 if self.path.startswith("/api/v2/search") else 0.004
        time.sleep(rnd.expovariate(1 / slow) + (0.25 if rnd.random() < 0.01 else 0))
        n = 40 if rnd.random() < 0.97 or not self.path.endswith("page=1") else rnd.randint(41, 99)  # the list's body length varies
        body = (b'{"items": [' + b",".join(b'{"id": %d}' % i for i in range(n)) + b"]}")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def ab_bench(tmp: Path) -> str:
    port = free_port()
    srv = py(tmp, "server.py", AB_SERVER)
    proc = subprocess.Popen(
        [sys.executable, str(srv), str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_port(port)
        out = ""
        for path in ("/api/v2/products?page=1", "/api/v2/products/4821", "/api/v2/search?q=running+shoes"):
            out += f"$ ab -n 2000 -c 25 'http://api.shop.internal:8080{path}'\n"
            out += (
                sh(f"ab -n 2000 -c 25 -H 'Accept: application/json' 'http://127.0.0.1:{port}{path}' 2>&1")
                + "\n"
            )
    finally:
        proc.terminate()
        proc.wait()
    return out.replace(f"Server Port:            {port}", "Server Port:            8080").replace(
        "127.0.0.1", "api.shop.internal"
    )


# ---------------------------------------------------------------- written by hand (seeded)


def jstack_deadlock(tmp: Path) -> str:
    """jstack of a JVM with ~70 threads (pools idle, Tomcat workers parked) and a Java-level deadlock between two workers."""
    rnd = random.Random(21)
    out = ["2026-12-06 10:14:52", "Full thread dump OpenJDK 64-Bit Server VM (21.0.5+11-LTS mixed mode, sharing):", "",
           "Threads class SMR info:", "_java_thread_list=0x00007f3a8c0a1230, length=71, elements={",
           "0x00007f3a8c028a10, 0x00007f3a8c02b1e0, 0x00007f3a8c02c9f0, 0x00007f3a8c02e2b0,", "0x00007f3a8c02f870, 0x00007f3a8c030e30, ...", "}", ""]  # fmt: skip
    tid = iter(range(1, 400))

    def hexa() -> str:
        return f"0x00007f3a{rnd.getrandbits(32):08x}"

    def thread(name: str, daemon: bool, state: str, frames: list[str], prio: int = 5) -> None:
        nid = rnd.randint(40, 900)
        d = " daemon" if daemon else ""
        out.append(
            f'"{name}" #{next(tid)} [{nid}]{d} prio={prio} os_prio=0 cpu={rnd.uniform(0.1, 9000):.2f}ms elapsed={rnd.uniform(100, 90000):.2f}s tid={hexa()} nid={nid} {state.split(":")[0]}  [{hexa()}]'
        )
        out.append(f"   java.lang.Thread.State: {state.split(':', 1)[1] if ':' in state else state}")
        out.extend(f"\tat {f}" if not f.startswith("-") else f"\t{f}" for f in frames)
        out.append("")

    parked = ["jdk.internal.misc.Unsafe.park(java.base@21.0.5/Native Method)", "- parking to wait for  <0x00000000c1a2b3c8> (a java.util.concurrent.locks.AbstractQueuedSynchronizer$ConditionObject)",
              "java.util.concurrent.locks.LockSupport.park(java.base@21.0.5/LockSupport.java:371)",
              "java.util.concurrent.locks.AbstractQueuedSynchronizer$ConditionNode.block(java.base@21.0.5/AbstractQueuedSynchronizer.java:519)",
              "java.util.concurrent.ForkJoinPool.unmanagedBlock(java.base@21.0.5/ForkJoinPool.java:3780)",
              "java.util.concurrent.locks.AbstractQueuedSynchronizer$ConditionObject.await(java.base@21.0.5/AbstractQueuedSynchronizer.java:1707)",
              "java.util.concurrent.LinkedBlockingQueue.take(java.base@21.0.5/LinkedBlockingQueue.java:435)",
              "org.apache.tomcat.util.threads.TaskQueue.take(TaskQueue.java:117)", "org.apache.tomcat.util.threads.TaskQueue.take(TaskQueue.java:33)",
              "org.apache.tomcat.util.threads.ThreadPoolExecutor.getTask(ThreadPoolExecutor.java:1113)",
              "org.apache.tomcat.util.threads.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1175)",
              "org.apache.tomcat.util.threads.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:659)",
              "org.apache.tomcat.util.threads.TaskThread$WrappingRunnable.run(TaskThread.java:63)", "java.lang.Thread.runWith(java.base@21.0.5/Thread.java:1596)",
              "java.lang.Thread.run(java.base@21.0.5/Thread.java:1583)"]  # fmt: skip
    web = ["org.springframework.web.servlet.DispatcherServlet.doDispatch(DispatcherServlet.java:1089)", "org.springframework.web.servlet.DispatcherServlet.doService(DispatcherServlet.java:979)",
           "org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1014)", "org.springframework.web.servlet.FrameworkServlet.doPost(FrameworkServlet.java:914)",
           "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:590)", "org.apache.catalina.core.ApplicationFilterChain.internalDoFilter(ApplicationFilterChain.java:195)",
           "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:140)", "org.apache.catalina.core.StandardWrapperValve.invoke(StandardWrapperValve.java:167)",
           "org.apache.coyote.http11.Http11Processor.service(Http11Processor.java:391)", "org.apache.tomcat.util.net.NioEndpoint$SocketProcessor.doRun(NioEndpoint.java:1736)",
           "org.apache.tomcat.util.threads.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1191)", "java.lang.Thread.run(java.base@21.0.5/Thread.java:1583)"]  # fmt: skip
    thread("Reference Handler", True, "runnable:RUNNABLE", ["java.lang.ref.Reference.waitForReferencePendingList(java.base@21.0.5/Native Method)",
           "java.lang.ref.Reference.processPendingReferences(java.base@21.0.5/Reference.java:246)", "java.lang.ref.Reference$ReferenceHandler.run(java.base@21.0.5/Reference.java:208)"], 10)  # fmt: skip
    thread("Finalizer", True, "in Object.wait():WAITING (on object monitor)", ["java.lang.Object.wait0(java.base@21.0.5/Native Method)",
           "java.lang.Object.wait(java.base@21.0.5/Object.java:366)", "java.lang.ref.NativeReferenceQueue.await(java.base@21.0.5/NativeReferenceQueue.java:48)",
           "java.lang.ref.Finalizer$FinalizerThread.run(java.base@21.0.5/Finalizer.java:172)"], 8)  # fmt: skip
    thread("Signal Dispatcher", True, "waiting on condition:RUNNABLE", [], 9)
    thread("Common-Cleaner", True, "waiting on condition:TIMED_WAITING (parking)", parked[:3] + ["java.lang.ref.ReferenceQueue.remove(java.base@21.0.5/ReferenceQueue.java:167)", "jdk.internal.ref.CleanerImpl.run(java.base@21.0.5/CleanerImpl.java:140)"], 8)  # fmt: skip
    for i in range(1, 7):
        thread("HikariPool-1 housekeeper" if i == 1 else f"HikariPool-1 connection adder-{i}", True, "waiting on condition:TIMED_WAITING (parking)", parked[:3] + ["java.util.concurrent.ScheduledThreadPoolExecutor$DelayedWorkQueue.take(java.base@21.0.5/ScheduledThreadPoolExecutor.java:1182)", "java.lang.Thread.run(java.base@21.0.5/Thread.java:1583)"])  # fmt: skip
    a, b = 17, 31
    for i in range(1, 51):
        name = f"http-nio-8080-exec-{i}"
        if i == a:
            thread(name, True, "waiting for monitor entry:BLOCKED (on object monitor)", [
                "com.shop.orders.inventory.StockLedger.reserve(StockLedger.java:58)", "- waiting to lock <0x00000000c4d10e70> (a com.shop.orders.inventory.StockLedger)",
                "com.shop.orders.service.OrderService.placeOrder(OrderService.java:112)", "- locked <0x00000000c4d0f2a8> (a com.shop.orders.service.OrderService)",
                "com.shop.orders.api.OrderController.create(OrderController.java:47)", "java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)", *web])  # fmt: skip
        elif i == b:
            thread(name, True, "waiting for monitor entry:BLOCKED (on object monitor)", [
                "com.shop.orders.service.OrderService.onStockChanged(OrderService.java:164)", "- waiting to lock <0x00000000c4d0f2a8> (a com.shop.orders.service.OrderService)",
                "com.shop.orders.inventory.StockLedger.release(StockLedger.java:91)", "- locked <0x00000000c4d10e70> (a com.shop.orders.inventory.StockLedger)",
                "com.shop.orders.api.OrderController.cancel(OrderController.java:71)", "java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)", *web])  # fmt: skip
        elif i in (4, 9, 22, 40):
            thread(name, True, "waiting for monitor entry:BLOCKED (on object monitor)", [
                "com.shop.orders.service.OrderService.findOrder(OrderService.java:88)", "- waiting to lock <0x00000000c4d0f2a8> (a com.shop.orders.service.OrderService)",
                "com.shop.orders.api.OrderController.get(OrderController.java:39)", *web])  # fmt: skip
        else:
            thread(name, True, "waiting on condition:WAITING (parking)", parked)
    for n in ("http-nio-8080-Poller", "http-nio-8080-Acceptor"):
        thread(n, True, "runnable:RUNNABLE", ["sun.nio.ch.EPoll.wait(java.base@21.0.5/Native Method)", "sun.nio.ch.EPollSelectorImpl.doSelect(java.base@21.0.5/EPollSelectorImpl.java:121)",
               "sun.nio.ch.SelectorImpl.lockAndDoSelect(java.base@21.0.5/SelectorImpl.java:130)", "org.apache.tomcat.util.net.NioEndpoint$Poller.run(NioEndpoint.java:788)", "java.lang.Thread.run(java.base@21.0.5/Thread.java:1583)"])  # fmt: skip
    out.append(f'"VM Thread" os_prio=0 cpu=812.44ms elapsed=90211.53s tid={hexa()} nid=19 runnable')
    for i in range(4):
        out.append(
            f'"GC Thread#{i}" os_prio=0 cpu={rnd.uniform(100, 900):.2f}ms elapsed=90211.55s tid={hexa()} nid={20 + i} runnable'
        )
    out += ["", "JNI global refs: 24, weak refs: 0", "", "", "Found one Java-level deadlock:", "=============================",
            f'"http-nio-8080-exec-{a}":', "  waiting to lock monitor 0x00007f3a5c0031a0 (object 0x00000000c4d10e70, a com.shop.orders.inventory.StockLedger),",
            f'  which is held by "http-nio-8080-exec-{b}"', "", f'"http-nio-8080-exec-{b}":',
            "  waiting to lock monitor 0x00007f3a5c002f80 (object 0x00000000c4d0f2a8, a com.shop.orders.service.OrderService),",
            f'  which is held by "http-nio-8080-exec-{a}"', "", "Java stack information for the threads listed above:", "===================================================",
            f'"http-nio-8080-exec-{a}":', "\tat com.shop.orders.inventory.StockLedger.reserve(StockLedger.java:58)", "\t- waiting to lock <0x00000000c4d10e70> (a com.shop.orders.inventory.StockLedger)",
            "\tat com.shop.orders.service.OrderService.placeOrder(OrderService.java:112)", "\t- locked <0x00000000c4d0f2a8> (a com.shop.orders.service.OrderService)",
            "\tat com.shop.orders.api.OrderController.create(OrderController.java:47)", "", f'"http-nio-8080-exec-{b}":',
            "\tat com.shop.orders.service.OrderService.onStockChanged(OrderService.java:164)", "\t- waiting to lock <0x00000000c4d0f2a8> (a com.shop.orders.service.OrderService)",
            "\tat com.shop.orders.inventory.StockLedger.release(StockLedger.java:91)", "\t- locked <0x00000000c4d10e70> (a com.shop.orders.inventory.StockLedger)",
            "\tat com.shop.orders.api.OrderController.cancel(OrderController.java:71)", "", "Found 1 deadlock.", ""]  # fmt: skip
    return "\n".join(out)


def logcat_crash(tmp: Path) -> str:
    """adb logcat of an Android shop app: system chatter, then a fatal NullPointerException in a fragment."""
    rnd = random.Random(33)
    out = []
    t = 0.0
    pid = 12873
    tags = [("I", "ActivityManager", 1432), ("D", "ConnectivityService", 1432), ("W", "ziparchive", pid), ("I", "Choreographer", pid),
            ("D", "OkHttp", pid), ("I", "chatty", 1432), ("D", "BluetoothAdapter", 2210), ("V", "FA", pid), ("D", "EGL_emulation", pid),
            ("I", "GoogleApiManager", 3011), ("W", "System", pid), ("D", "ProfileInstaller", pid)]  # fmt: skip
    msgs = {"ActivityManager": lambda: f"Start proc {rnd.randint(3000, 20000)}:com.google.android.{rnd.choice(['gms', 'apps.photos', 'youtube'])}/u0a{rnd.randint(100, 200)} for service",
            "ConnectivityService": lambda: f"NetworkAgentInfo [WIFI () - {rnd.randint(100, 130)}] validation passed",
            "ziparchive": lambda: "Unable to open '/data/app/~~Xk2=/com.shop.app-1/base.dm': No such file or directory",
            "Choreographer": lambda: f"Skipped {rnd.randint(30, 90)} frames!  The application may be doing too much work on its main thread.",
            "OkHttp": lambda: rnd.choice([f"--> GET https://api.shop.example/v2/products?page={rnd.randint(1, 9)}", f"<-- 200 https://api.shop.example/v2/products ({rnd.randint(40, 900)}ms, unknown-length body)",
                                          "--> GET https://api.shop.example/v2/cart", f"<-- 200 https://api.shop.example/v2/cart ({rnd.randint(40, 300)}ms, 2 B body)"]),
            "chatty": lambda: f"uid=1000(system) Binder:1432_{rnd.randint(1, 9)} identical {rnd.randint(2, 40)} lines",
            "BluetoothAdapter": lambda: "isLeEnabled(): ON", "FA": lambda: f"Logging event (FE): screen_view(_vs), Bundle[{{ga_screen_class=ProductListFragment, ga_event_id={rnd.getrandbits(40)}}}]",
            "EGL_emulation": lambda: "app_time_stats: avg=16.71ms min=3.22ms max=48.90ms count=59", "GoogleApiManager": lambda: "Failed to get service from broker.",
            "System": lambda: "A resource failed to call close.", "ProfileInstaller": lambda: "Installing profile for com.shop.app"}  # fmt: skip

    def emit(level: str, tag: str, p: int, msg: str, tid: int | None = None, same: bool = False) -> None:
        nonlocal t
        t += 0 if same else rnd.random() * 0.4
        out.append(
            f"12-06 10:{22 + int(t) // 60:02d}:{int(t) % 60:02d}.{int(t * 1000) % 1000:03d} {p:5d} {tid or p:5d} {level} {tag}: {msg}"
        )

    for _ in range(320):
        lvl, tag, p = rnd.choice(tags)
        emit(lvl, tag, p, msgs[tag]())
    emit("I", "ActivityManager", 1432, "Displayed com.shop.app/.MainActivity: +412ms", 1490)
    emit("D", "OkHttp", pid, "--> GET https://api.shop.example/v2/cart")
    emit("D", "OkHttp", pid, "<-- 204 https://api.shop.example/v2/cart (88ms, 0-byte body)")
    crash = ["FATAL EXCEPTION: main", "Process: com.shop.app, PID: 12873",
             "java.lang.NullPointerException: Attempt to invoke virtual method 'java.util.List com.shop.app.cart.CartDto.getItems()' on a null object reference",
             "\tat com.shop.app.cart.CartViewModel.toUiState(CartViewModel.kt:142)", "\tat com.shop.app.cart.CartViewModel.access$toUiState(CartViewModel.kt:31)",
             "\tat com.shop.app.cart.CartViewModel$load$1.invokeSuspend(CartViewModel.kt:66)", "\tat kotlin.coroutines.jvm.internal.BaseContinuationImpl.resumeWith(ContinuationImpl.kt:33)",
             "\tat kotlinx.coroutines.DispatchedTask.run(DispatchedTask.kt:108)", "\tat android.os.Handler.handleCallback(Handler.java:958)",
             "\tat android.os.Handler.dispatchMessage(Handler.java:99)", "\tat android.os.Looper.loopOnce(Looper.java:205)", "\tat android.os.Looper.loop(Looper.java:294)",
             "\tat android.app.ActivityThread.main(ActivityThread.java:8177)", "\tat java.lang.reflect.Method.invoke(Native Method)",
             "\tat com.android.internal.os.RuntimeInit$MethodAndArgsCaller.run(RuntimeInit.java:552)", "\tat com.android.internal.os.ZygoteInit.main(ZygoteInit.java:971)",
             "\tSuppressed: kotlinx.coroutines.internal.DiagnosticCoroutineContextException: [StandaloneCoroutine{Cancelling}@5e2a1f0, Dispatchers.Main.immediate]"]  # fmt: skip
    for i, c in enumerate(crash):
        emit("E", "AndroidRuntime", pid, c, same=i > 0)
    emit("W", "ActivityTaskManager", 1432, "  Force finishing activity com.shop.app/.MainActivity", 4821)
    emit("I", "Process", pid, "Sending signal. PID: 12873 SIG: 9")
    emit("I", "ActivityManager", 1432, "Process com.shop.app (pid 12873) has died: fg  TOP ", 1490)
    for _ in range(60):
        lvl, tag, p = rnd.choice([x for x in tags if x[2] != pid])
        emit(lvl, tag, p, msgs[tag]())
    return "\n".join(out) + "\n"


def docker_inspect(tmp: Path) -> str:
    """docker inspect of a worker container that keeps exiting (OOM-killed, restart policy on-failure with a cap)."""
    doc = [{
        "Id": "5f1c2a9d8e7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d",
        "Created": "2026-12-05T21:04:17.118239551Z", "Path": "/usr/local/bin/docker-entrypoint.sh",
        "Args": ["celery", "-A", "shop.tasks", "worker", "--concurrency=8", "--loglevel=INFO"],
        "State": {"Status": "exited", "Running": False, "Paused": False, "Restarting": False, "OOMKilled": True, "Dead": False, "Pid": 0, "ExitCode": 137,
                  "Error": "", "StartedAt": "2026-12-06T09:51:02.441927033Z", "FinishedAt": "2026-12-06T09:58:44.902114876Z",
                  "Health": {"Status": "unhealthy", "FailingStreak": 3, "Log": [
                      {"Start": "2026-12-06T09:57:44.118Z", "End": "2026-12-06T09:57:49.120Z", "ExitCode": -1, "Output": "Health check exceeded timeout (5s)"},
                      {"Start": "2026-12-06T09:58:14.121Z", "End": "2026-12-06T09:58:19.123Z", "ExitCode": -1, "Output": "Health check exceeded timeout (5s)"},
                      {"Start": "2026-12-06T09:58:44.124Z", "End": "2026-12-06T09:58:44.901Z", "ExitCode": -1, "Output": "container not running"}]}},
        "Image": "sha256:9b2e4f6a8c0d1e3f5a7b9c1d3e5f7a9b1c3d5e7f9a1b3c5d7e9f1a3b5c7d9e1f",
        "ResolvConfPath": "/var/lib/docker/containers/5f1c2a9d8e7b/resolv.conf", "HostnamePath": "/var/lib/docker/containers/5f1c2a9d8e7b/hostname",
        "HostsPath": "/var/lib/docker/containers/5f1c2a9d8e7b/hosts", "LogPath": "/var/lib/docker/containers/5f1c2a9d8e7b/5f1c2a9d8e7b-json.log",
        "Name": "/shop-worker-1", "RestartCount": 5, "Driver": "overlay2", "Platform": "linux", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "docker-default",
        "ExecIDs": None,
        "HostConfig": {"Binds": ["/srv/shop/media:/app/media:rw"], "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {"max-file": "3", "max-size": "50m"}},
                       "NetworkMode": "shop_default", "PortBindings": {}, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 5}, "AutoRemove": False,
                       "VolumeDriver": "", "VolumesFrom": None, "ConsoleSize": [0, 0], "CapAdd": None, "CapDrop": None, "CgroupnsMode": "private", "Dns": [], "DnsOptions": [],
                       "DnsSearch": [], "ExtraHosts": [], "GroupAdd": None, "IpcMode": "private", "Cgroup": "", "Links": None, "OomScoreAdj": 0, "PidMode": "",
                       "Privileged": False, "PublishAllPorts": False, "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "", "UsernsMode": "", "ShmSize": 67108864,
                       "Runtime": "runc", "Isolation": "", "CpuShares": 0, "Memory": 536870912, "NanoCpus": 2000000000, "CgroupParent": "", "BlkioWeight": 0,
                       "BlkioWeightDevice": None, "BlkioDeviceReadBps": None, "BlkioDeviceWriteBps": None, "BlkioDeviceReadIOps": None, "BlkioDeviceWriteIOps": None,
                       "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": None,
                       "DeviceCgroupRules": None, "DeviceRequests": None, "MemoryReservation": 0, "MemorySwap": 1073741824, "MemorySwappiness": None,
                       "OomKillDisable": None, "PidsLimit": None, "Ulimits": None, "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
                       "MaskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                                       "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"],
                       "ReadonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]},
        "GraphDriver": {"Data": {"LowerDir": "/var/lib/docker/overlay2/3c1e8f0a2b4d6f8a0c2e4a6c8e0a2c4e-init/diff:/var/lib/docker/overlay2/7a9c1e3f5b7d9f1b3d5f7b9d1f3b5d7f/diff:/var/lib/docker/overlay2/e2c4a6e8c0e2a4c6e8a0c2e4a6c8e0a2/diff",
                                 "MergedDir": "/var/lib/docker/overlay2/3c1e8f0a2b4d6f8a0c2e4a6c8e0a2c4e/merged", "UpperDir": "/var/lib/docker/overlay2/3c1e8f0a2b4d6f8a0c2e4a6c8e0a2c4e/diff",
                                 "WorkDir": "/var/lib/docker/overlay2/3c1e8f0a2b4d6f8a0c2e4a6c8e0a2c4e/work"}, "Name": "overlay2"},
        "Mounts": [{"Type": "bind", "Source": "/srv/shop/media", "Destination": "/app/media", "Mode": "rw", "RW": True, "Propagation": "rprivate"}],
        "Config": {"Hostname": "5f1c2a9d8e7b", "Domainname": "", "User": "app", "AttachStdin": False, "AttachStdout": True, "AttachStderr": True, "Tty": False,
                   "OpenStdin": False, "StdinOnce": False,
                   "Env": ["DJANGO_SETTINGS_MODULE=shop.settings.prod", "CELERY_BROKER_URL=redis://redis:6379/0", "CELERY_RESULT_BACKEND=redis://redis:6379/1",
                           "DATABASE_URL=postgres://shop:***@db:5432/shop", "THUMBNAIL_MAX_SIDE=6000", "SENTRY_ENVIRONMENT=production",
                           "PATH=/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D",
                           "PYTHON_VERSION=3.12.8", "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"],
                   "Cmd": ["celery", "-A", "shop.tasks", "worker", "--concurrency=8", "--loglevel=INFO"],
                   "Healthcheck": {"Test": ["CMD-SHELL", "celery -A shop.tasks inspect ping -d celery@$HOSTNAME"], "Interval": 30000000000, "Timeout": 5000000000, "Retries": 3},
                   "Image": "registry.example.com/shop/app:2026.12.5-3", "Volumes": None, "WorkingDir": "/app", "Entrypoint": ["/usr/local/bin/docker-entrypoint.sh"], "OnBuild": None,
                   "Labels": {"com.docker.compose.config-hash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "com.docker.compose.container-number": "1",
                              "com.docker.compose.depends_on": "redis:service_started:false,db:service_healthy:false", "com.docker.compose.image": "sha256:9b2e4f6a8c0d",
                              "com.docker.compose.oneoff": "False", "com.docker.compose.project": "shop", "com.docker.compose.project.config_files": "/srv/shop/compose.yml",
                              "com.docker.compose.project.working_dir": "/srv/shop", "com.docker.compose.service": "worker", "com.docker.compose.version": "2.31.0",
                              "org.opencontainers.image.created": "2026-12-05T18:22:40Z", "org.opencontainers.image.revision": "a9d3f21c", "org.opencontainers.image.source": "https://git.example.com/shop/app"}},
        "NetworkSettings": {"Bridge": "", "SandboxID": "", "SandboxKey": "", "Ports": {}, "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
                            "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None, "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                            "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
                            "Networks": {"shop_default": {"IPAMConfig": None, "Links": None, "Aliases": ["shop-worker-1", "worker"], "MacAddress": "", "DriverOpts": None,
                                                          "NetworkID": "c0ffee12ab34cd56ef78ab90cd12ef34ab56cd78ef90ab12cd34ef56ab78cd90", "EndpointID": "", "Gateway": "", "IPAddress": "",
                                                          "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": None}}},
    }]  # fmt: skip
    return json.dumps(doc, indent=4) + "\n"


def kubectl_pods_wide(tmp: Path) -> str:
    """kubectl get pods -A -o wide on a 9-node cluster: one node's pods are failing (disk pressure evictions, image pulls)."""
    rnd = random.Random(44)
    nodes = [
        f"ip-10-0-{rnd.randint(1, 9)}-{rnd.randint(10, 250)}.eu-central-1.compute.internal" for _ in range(9)
    ]
    bad = nodes[5]
    apps = {"default": ["web", "api", "worker", "scheduler", "search-indexer", "thumbnailer", "mailer"], "payments": ["payments-api", "payments-worker", "ledger"],
            "monitoring": ["prometheus-node-exporter", "grafana", "loki-promtail", "alertmanager"], "kube-system": ["coredns", "kube-proxy", "aws-node", "ebs-csi-node"],
            "ingress-nginx": ["ingress-nginx-controller"], "cert-manager": ["cert-manager", "cert-manager-webhook"]}  # fmt: skip
    rows = [
        (
            "NAMESPACE",
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES",
        )
    ]
    for ns, names in apps.items():
        for app in names:
            daemon = app in (
                "prometheus-node-exporter",
                "kube-proxy",
                "aws-node",
                "ebs-csi-node",
                "loki-promtail",
            )
            reps = len(nodes) if daemon else rnd.choice([1, 2, 3, 3, 4, 6])
            h = f"{rnd.getrandbits(36):09x}"
            for r in range(reps):
                node = nodes[r] if daemon else rnd.choice(nodes)
                suffix = "".join(rnd.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
                name = f"{app}-{suffix}" if daemon else f"{app}-{h[:9]}-{suffix}"
                ready, status, restarts = ("1/1", "Running", "0")
                if rnd.random() < 0.15:
                    restarts = f"{rnd.randint(1, 3)} ({rnd.randint(2, 9)}d ago)"
                ip = f"10.0.{rnd.randint(1, 9)}.{rnd.randint(2, 254)}"
                if node == bad and not daemon and ns in ("default", "payments"):
                    status = rnd.choice(["Evicted", "ContainerStatusUnknown", "ImagePullBackOff", "Evicted"])
                    ready, ip = "0/1", "<none>" if status == "Evicted" else ip
                rows.append(
                    (
                        ns,
                        name,
                        ready,
                        status,
                        restarts,
                        f"{rnd.randint(1, 40)}d",
                        ip,
                        node,
                        "<none>",
                        "<none>",
                    )
                )
    rows.append(
        (
            "default",
            "api-7d9c8b6f5-pend1",
            "0/1",
            "Pending",
            "0",
            "14m",
            "<none>",
            "<none>",
            "<none>",
            "<none>",
        )
    )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return (
        "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
        + "\n"
    )


def dig_trace(tmp: Path) -> str:
    """dig +trace of an API name that, after a migration, still resolves through a stale CNAME to the old load balancer."""
    roots = "abcdefghijklm"
    out = [
        "",
        "; <<>> DiG 9.18.28-1~deb12u2-Debian <<>> +trace api.shop.example.com",
        ";; global options: +cmd",
    ]
    for r in roots:
        out.append(f".\t\t\t518400\tIN\tNS\t{r}.root-servers.net.")
    out.append(
        ".\t\t\t518400\tIN\tRRSIG\tNS 8 0 518400 20261219050000 20261206040000 61809 . kC4Fo8Wl0j3dD1JtQf0l7kL2QmWv1Zq1oX5bBqJfZz4dR8uH3Zk9fA6pB2nL5qT0hW3rY8mE1sC7vU4xN9gK2iD6jO5aP3lF8wV0tM7yQ1bS4cH9zG6eJ2uR5kX8nA3dL0vT7fI4oW1qY6hM9sB2pC5gE8jK== "
    )
    out.append(";; Received 525 bytes from 192.168.1.1#53(192.168.1.1) in 4 ms")
    out.append("")
    for tld in "abcdefghijklm":
        out.append(f"com.\t\t\t172800\tIN\tNS\t{tld}.gtld-servers.net.")
    out += [
        "com.\t\t\t86400\tIN\tDS\t19718 13 2 8ACBB0CD28F41250A80A491389424D341522D946B0DA0C0291F2D3D7 71D7805A",
        "com.\t\t\t86400\tIN\tRRSIG\tDS 8 1 86400 20261219050000 20261206040000 61809 . Vp3HqG8u2kJ6lN0bR4tX8fZ1cW5yA9dE3hM7qS1vB5nK9pT3xF7jL1oU5sY9wC3gI7mQ1eV5zH9kN3rD7bT1fX5jP9u== ",
        ";; Received 1170 bytes from 198.41.0.4#53(a.root-servers.net) in 12 ms",
        "",
    ]
    for ns in (
        "ns-1204.awsdns-22.org.",
        "ns-331.awsdns-41.com.",
        "ns-1722.awsdns-23.co.uk.",
        "ns-812.awsdns-37.net.",
    ):
        out.append(f"example.com.\t\t172800\tIN\tNS\t{ns}")
    out += [
        "CK0POJMG874LJREF7EFN8430QVIT8BSM.com. 86400 IN NSEC3 1 1 0 - CK0Q2D6NI4I7EQH8NA30NS61O48UL8G5 NS SOA RRSIG DNSKEY NSEC3PARAM",
        "CK0POJMG874LJREF7EFN8430QVIT8BSM.com. 86400 IN RRSIG NSEC3 13 2 86400 20261211002522 20261203231522 23202 com. Yz2dL7kB1nV5pR9tX3fH7jM1qS5wA9cE3gK7oU1yI5eO9sC3vG7mQ1bT5xN9hL3dF7rJ1pW5zY9kA3uE7iM==",
        ";; Received 764 bytes from 192.12.94.30#53(e.gtld-servers.net) in 16 ms",
        "",
        "api.shop.example.com.\t300\tIN\tCNAME\tshop-api-legacy-1842077311.eu-west-1.elb.amazonaws.com.",
        ";; Received 131 bytes from 205.251.196.180#53(ns-1204.awsdns-22.org) in 20 ms",
        "",
    ]
    out += [
        "",
        "; <<>> DiG 9.18.28-1~deb12u2-Debian <<>> shop-api-legacy-1842077311.eu-west-1.elb.amazonaws.com",
        ";; global options: +cmd",
        ";; Got answer:",
        ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 40112",
        ";; flags: qr rd ra; QUERY: 1, ANSWER: 3, AUTHORITY: 0, ADDITIONAL: 1",
        "",
        ";; OPT PSEUDOSECTION:",
        "; EDNS: version: 0, flags:; udp: 1232",
        ";; QUESTION SECTION:",
        ";shop-api-legacy-1842077311.eu-west-1.elb.amazonaws.com. IN A",
        "",
        ";; ANSWER SECTION:",
        "shop-api-legacy-1842077311.eu-west-1.elb.amazonaws.com. 60 IN A 52.48.201.17",
        "shop-api-legacy-1842077311.eu-west-1.elb.amazonaws.com. 60 IN A 34.246.90.122",
        "shop-api-legacy-1842077311.eu-west-1.elb.amazonaws.com. 60 IN A 54.217.11.63",
        "",
        ";; Query time: 28 msec",
        ";; SERVER: 192.168.1.1#53(192.168.1.1) (UDP)",
        ";; WHEN: Sun Dec 06 10:31:12 UTC 2026",
        ";; MSG SIZE  rcvd: 133",
        "",
    ]
    out += ["", "; <<>> DiG 9.18.28-1~deb12u2-Debian <<>> shop-api-prod-20931.eu-central-1.elb.amazonaws.com", ";; global options: +cmd", ";; Got answer:",
            ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 5523", ";; flags: qr rd ra; QUERY: 1, ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 1", "",
            ";; OPT PSEUDOSECTION:", "; EDNS: version: 0, flags:; udp: 1232", ";; QUESTION SECTION:", ";shop-api-prod-20931.eu-central-1.elb.amazonaws.com. IN A", "",
            ";; ANSWER SECTION:", "shop-api-prod-20931.eu-central-1.elb.amazonaws.com. 60 IN A 3.74.18.205", "shop-api-prod-20931.eu-central-1.elb.amazonaws.com. 60 IN A 18.153.40.77", "",
            ";; Query time: 31 msec", ";; SERVER: 192.168.1.1#53(192.168.1.1) (UDP)", ";; WHEN: Sun Dec 06 10:31:14 UTC 2026", ";; MSG SIZE  rcvd: 112", ""]  # fmt: skip
    return "\n".join(out)


def celery_worker_log(tmp: Path) -> str:
    """A Celery worker's log over a busy hour: most tasks succeed, one task type keeps failing on a template error."""
    rnd = random.Random(55)
    out = [" ", " -------------- celery@worker-3 v5.4.0 (opalescent)", "--- ***** ----- ", "-- ******* ---- Linux-6.8.0-49-generic-x86_64-with-glibc2.36 2026-12-06 08:00:02",
           "- *** --- * --- ", "- ** ---------- [config]", "- ** ---------- .> app:         shop:0x7f2c1a9e3d10", "- ** ---------- .> transport:   redis://redis:6379/0",
           "- ** ---------- .> results:     redis://redis:6379/1", "- *** --- * --- .> concurrency: 8 (prefork)",
           "-- ******* ---- .> task events: OFF (enable -E to monitor tasks in this worker)", "--- ***** ----- ", " -------------- [queues]",
           "                .> celery           exchange=celery(direct) key=celery", "                .> emails           exchange=emails(direct) key=emails", "",
           "[tasks]", "  . shop.tasks.emails.send_order_confirmation", "  . shop.tasks.emails.send_shipping_update", "  . shop.tasks.invoices.render_invoice_pdf",
           "  . shop.tasks.search.reindex_product", "  . shop.tasks.thumbnails.make_thumbnails", "  . shop.tasks.webhooks.deliver", "",
           "[2026-12-06 08:00:03,118: INFO/MainProcess] Connected to redis://redis:6379/0", "[2026-12-06 08:00:03,131: INFO/MainProcess] mingle: searching for neighbors",
           "[2026-12-06 08:00:04,152: INFO/MainProcess] mingle: sync with 2 nodes", "[2026-12-06 08:00:04,153: INFO/MainProcess] mingle: sync complete",
           "[2026-12-06 08:00:04,170: INFO/MainProcess] celery@worker-3 ready."]  # fmt: skip
    t = 4.0
    kinds = [("shop.tasks.emails.send_order_confirmation", 0.3), ("shop.tasks.search.reindex_product", 0.05), ("shop.tasks.thumbnails.make_thumbnails", 2.1),
             ("shop.tasks.webhooks.deliver", 0.4), ("shop.tasks.emails.send_shipping_update", 0.3), ("shop.tasks.invoices.render_invoice_pdf", 1.2)]  # fmt: skip
    failed_once = False
    for _ in range(330):
        t += rnd.random() * 9
        task, dur = rnd.choice(kinds)
        tid = f"{rnd.getrandbits(32):08x}-{rnd.getrandbits(16):04x}-4{rnd.getrandbits(12):03x}-{rnd.getrandbits(16):04x}-{rnd.getrandbits(48):012x}"
        ts = f"2026-12-06 {8 + int(t) // 3600:02d}:{int(t) % 3600 // 60:02d}:{int(t) % 60:02d},{rnd.randint(0, 999):03d}"
        out.append(f"[{ts}: INFO/MainProcess] Task {task}[{tid}] received")
        worker = f"ForkPoolWorker-{rnd.randint(1, 8)}"
        if task.endswith("render_invoice_pdf") and rnd.random() < 0.6:
            out.append(
                f"[{ts}: ERROR/{worker}] Task {task}[{tid}] raised unexpected: UndefinedError(\"'None' has no attribute 'vat_id'\")"
            )
            if not failed_once:
                failed_once = True
                out += ["Traceback (most recent call last):",
                        '  File "/usr/local/lib/python3.12/site-packages/celery/app/trace.py", line 453, in trace_task', "    R = retval = fun(*args, **kwargs)",
                        "                 ^^^^^^^^^^^^^^^^^^^^", '  File "/usr/local/lib/python3.12/site-packages/celery/app/trace.py", line 736, in __protected_call__',
                        "    return self.run(*args, **kwargs)", "           ^^^^^^^^^^^^^^^^^^^^^^^^^", '  File "/app/shop/tasks/invoices.py", line 41, in render_invoice_pdf',
                        "    html = render_to_string(\"invoices/invoice.html\", {\"invoice\": invoice, \"company\": invoice.billing_company})",
                        "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
                        '  File "/usr/local/lib/python3.12/site-packages/django/template/loader.py", line 62, in render_to_string',
                        "    return template.render(context, request)", "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
                        '  File "/usr/local/lib/python3.12/site-packages/django/template/backends/jinja2.py", line 64, in render',
                        "    return self.template.render(context)", "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
                        '  File "/usr/local/lib/python3.12/site-packages/jinja2/environment.py", line 1295, in render',
                        "    self.environment.handle_exception()", '  File "/usr/local/lib/python3.12/site-packages/jinja2/environment.py", line 942, in handle_exception',
                        "    raise rewrite_traceback_stack(source=source)", '  File "/app/shop/templates/invoices/invoice.html", line 27, in top-level template code',
                        "    <td>VAT ID: {{ company.vat_id }}</td>", '  File "/usr/local/lib/python3.12/site-packages/jinja2/environment.py", line 490, in getattr',
                        "    return getattr(obj, attribute)", "           ^^^^^^^^^^^^^^^^^^^^^^^", "jinja2.exceptions.UndefinedError: 'None' has no attribute 'vat_id'"]  # fmt: skip
            continue
        if task.endswith("webhooks.deliver") and rnd.random() < 0.2:
            out.append(
                f"[{ts}: INFO/{worker}] Task {task}[{tid}] retry: Retry in {rnd.choice([10, 20, 40])}s: ReadTimeout(\"HTTPSConnectionPool(host='hooks.partner.example', port=443): Read timed out. (read timeout=5)\")"
            )
            continue
        if task.endswith("make_thumbnails"):
            out.append(
                f"[{ts}: WARNING/{worker}] image {rnd.randint(1000, 9999)}.jpg is {rnd.randint(6001, 9000)}px wide, downscaling before thumbnailing"
            )
        out.append(
            f"[{ts}: INFO/{worker}] Task {task}[{tid}] succeeded in {rnd.expovariate(1 / dur):.6f}s: {rnd.choice(['None', 'True', repr({'sent': 1})])}"
        )
    return "\n".join(out) + "\n"


def otel_debug(tmp: Path) -> str:
    """An OpenTelemetry collector's debug exporter (verbosity: detailed) printing spans of a few checkout traces."""
    rnd = random.Random(66)
    out = []
    services = [("frontend", ["GET /", "GET /products", "GET /products/{id}", "POST /cart"]), ("checkout", ["POST /checkout"]),
                ("payments", ["POST /charge"]), ("inventory", ["ReserveStock", "GET /stock/{sku}"])]  # fmt: skip
    t0 = 1796551200_000000000  # 10:00:00 UTC
    for batch in range(7):
        out.append(
            f'2026-12-06T10:{20 + batch}:{rnd.randint(0, 59):02d}.{rnd.randint(0, 999):03d}Z\tinfo\tTracesExporter\t{{"kind": "exporter", "data_type": "traces", "name": "debug", "resource spans": 4, "spans": 11}}'
        )
        for svc, ops in services:
            out += [f"ResourceSpans #{services.index((svc, ops))}", "Resource SchemaURL: https://opentelemetry.io/schemas/1.24.0", "Resource attributes:",
                    f"     -> service.name: Str({svc})", f"     -> service.version: Str(2026.12.{rnd.randint(1, 5)})", "     -> deployment.environment: Str(production)",
                    f"     -> k8s.pod.name: Str({svc}-{rnd.getrandbits(36):09x})", "     -> telemetry.sdk.language: Str(python)", "     -> telemetry.sdk.version: Str(1.29.0)",
                    "ScopeSpans #0", "ScopeSpans SchemaURL: ", f"InstrumentationScope opentelemetry.instrumentation.{'httpx' if svc != 'inventory' else 'grpc'} 0.50b0"]  # fmt: skip
            for k in range(rnd.randint(2, 4)):
                op = rnd.choice(ops)
                trace = f"{rnd.getrandbits(128):032x}"
                start = t0 + (20 + batch) * 60_000_000_000 + rnd.randint(0, 58_000_000_000)
                dur = int(rnd.expovariate(1 / 40_000_000))
                err = svc == "payments" and batch == 4 and k == 0
                if err:
                    trace, dur = "4bf92f3577b34da6a3ce929d0e0e4736", 30_004_118_220
                    start = t0 + 24 * 60_000_000_000 + 11_071_402_118
                out += [f"Span #{k}", f"    Trace ID       : {trace}", f"    Parent ID      : {rnd.getrandbits(64):016x}", f"    ID             : {rnd.getrandbits(64):016x}",
                        f"    Name           : {op}", "    Kind           : Server", f"    Start time     : 2026-12-06 10:{(start // 10**9) % 3600 // 60:02d}:{(start // 10**9) % 60:02d}.{start % 10**9:09d} +0000 UTC",
                        f"    End time       : 2026-12-06 10:{((start + dur) // 10**9) % 3600 // 60:02d}:{((start + dur) // 10**9) % 60:02d}.{(start + dur) % 10**9:09d} +0000 UTC",
                        f"    Status code    : {'Error' if err else 'Unset'}", f"    Status message : {'upstream acquirer timeout after 30s (adyen /payments)' if err else ''}",
                        "Attributes:", f"     -> http.method: Str({op.split()[0] if ' ' in op else 'POST'})", f"     -> http.route: Str({op.split()[-1]})",
                        f"     -> http.status_code: Int({504 if err else 200})", f"     -> net.peer.ip: Str(10.0.{rnd.randint(1, 9)}.{rnd.randint(2, 254)})",
                        f"     -> user_agent.original: Str({rnd.choice(['Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)', 'okhttp/4.12.0', 'python-httpx/0.28.1'])})"]  # fmt: skip
                if err:
                    out += ["Events:", "SpanEvent #0", "     -> Name: exception", "     -> Timestamp: 2026-12-06 10:24:41.075220000 +0000 UTC", "     -> DroppedAttributesCount: 0",
                            "     -> Attributes::", "          -> exception.type: Str(httpx.ReadTimeout)", "          -> exception.message: Str(timed out)"]  # fmt: skip
    return "\n".join(out) + "\n"


def xcodebuild_fail(tmp: Path) -> str:
    """xcodebuild of an iOS app: long compile/link command lines for many Swift files, two warnings, one error."""
    rnd = random.Random(77)
    dd = "/Users/dev/Library/Developer/Xcode/DerivedData/ShopApp-fhqzkxbmgdlwtacyvjoeuhnqaprs"
    src = "/Users/dev/src/shop-ios/ShopApp"
    files = ["App/ShopApp.swift", "App/AppDelegate.swift", "App/RootView.swift", "Catalog/ProductListView.swift", "Catalog/ProductDetailView.swift",
             "Catalog/ProductListViewModel.swift", "Catalog/ProductCell.swift", "Cart/CartView.swift", "Cart/CartViewModel.swift", "Cart/CartItemRow.swift",
             "Cart/CouponField.swift", "Checkout/CheckoutView.swift", "Checkout/CheckoutViewModel.swift", "Checkout/AddressForm.swift", "Checkout/PaymentSheet.swift",
             "Account/LoginView.swift", "Account/AccountView.swift", "Account/OrderHistoryView.swift", "Networking/APIClient.swift", "Networking/Endpoints.swift",
             "Networking/Models.swift", "Networking/AuthInterceptor.swift", "Support/Formatters.swift", "Support/ImageCache.swift", "Support/Analytics.swift"]  # fmt: skip
    out = ["Command line invocation:", "    /Applications/Xcode.app/Contents/Developer/usr/bin/xcodebuild -scheme ShopApp -destination \"platform=iOS Simulator,name=iPhone 16\" -configuration Debug build", "",
           "User defaults from command line:", "    IDEPackageSupportUseBuiltinSCM = YES", "", "Prepare packages", "", "ComputeTargetDependencyGraph", "note: Building targets in dependency order",
           "note: Target dependency graph (3 targets)", "    Target 'ShopApp' in project 'ShopApp'", "        ➜ Explicit dependency on target 'ShopKit' in project 'ShopApp'",
           "        ➜ Implicit dependency on target 'Kingfisher' in project 'Kingfisher' via options '-framework Kingfisher' in build setting 'OTHER_LDFLAGS'",
           "    Target 'ShopKit' in project 'ShopApp' (no dependencies)", "    Target 'Kingfisher' in project 'Kingfisher' (no dependencies)", "",
           "GatherProvisioningInputs", "", "CreateBuildDescription", "",
           "ExecuteExternalTool /Applications/Xcode.app/Contents/Developer/Toolchains/XcodeDefault.xctoolchain/usr/bin/clang -v -E -dM -isysroot /Applications/Xcode.app/Contents/Developer/Platforms/iPhoneSimulator.platform/Developer/SDKs/iPhoneSimulator18.2.sdk -x c -c /dev/null", "",
           "Build description signature: 5e1f0c2d9a8b7c6d5e4f3a2b1c0d9e8f", f"Build description path: {dd}/Build/Intermediates.noindex/XCBuildData/5e1f0c2d9a8b7c6d5e4f3a2b1c0d9e8f.xcbuilddata", ""]  # fmt: skip
    for f in files:
        name = f.split("/")[-1]
        base = name[:-6]
        out.append(
            f"SwiftCompile normal arm64 Compiling\\ {name} {src}/{f} (in target 'ShopApp' from project 'ShopApp')"
        )
        out.append("    cd /Users/dev/src/shop-ios")
        out.append(f"    builtin-swiftTaskExecution -- /Applications/Xcode.app/Contents/Developer/Toolchains/XcodeDefault.xctoolchain/usr/bin/swift-frontend -frontend -c -primary-file {src}/{f} "
                   + " ".join(f"{src}/{g}" for g in files if g != f)
                   + f" -emit-dependencies-path {dd}/Build/Intermediates.noindex/ShopApp.build/Debug-iphonesimulator/ShopApp.build/Objects-normal/arm64/{base}.d"
                   f" -emit-const-values-path {dd}/Build/Intermediates.noindex/ShopApp.build/Debug-iphonesimulator/ShopApp.build/Objects-normal/arm64/{base}.swiftconstvalues"
                   " -target arm64-apple-ios17.0-simulator -Xllvm -aarch64-use-tbi -enable-objc-interop -sdk /Applications/Xcode.app/Contents/Developer/Platforms/iPhoneSimulator.platform/Developer/SDKs/iPhoneSimulator18.2.sdk"
                   f" -I {dd}/Build/Products/Debug-iphonesimulator -F {dd}/Build/Products/Debug-iphonesimulator -no-color-diagnostics -enable-testing -g -module-cache-path {dd}/../ModuleCache.noindex"
                   " -swift-version 5 -enforce-exclusivity=checked -Onone -D DEBUG -enable-bare-slash-regex -module-name ShopApp -frontend-parseable-output -disable-clang-spi"
                   f" -target-sdk-version 18.2 -o {dd}/Build/Intermediates.noindex/ShopApp.build/Debug-iphonesimulator/ShopApp.build/Objects-normal/arm64/{base}.o -index-system-modules")  # fmt: skip
        if name == "ProductCell.swift":
            out += [f"{src}/{f}:48:13: warning: initialization of immutable value 'placeholder' was never used; consider replacing with assignment to '_' or removing it",
                    "        let placeholder = UIImage(systemName: \"photo\")", "        ~~~~^~~~~~~~~~~", "        _"]  # fmt: skip
        if name == "ImageCache.swift":
            out += [f"{src}/{f}:22:30: warning: 'kCFURLVolumeIsInternalKey' was deprecated in iOS 17.0", "            let internal = values[.volumeIsInternalKey]",
                    "                             ^"]  # fmt: skip
        if name == "CheckoutView.swift":
            out += [f"{src}/{f}:112:46: error: value of type 'CartViewModel' has no member 'totalPrice'",
                    "                Text(\"Total: \\(cart.totalPrice, format: .currency(code: \"EUR\"))\")", "                                 ~~~~ ^~~~~~~~~~",
                    f"{src}/Cart/CartViewModel.swift:14:9: note: did you mean 'totalCents'?", "    var totalCents: Int {", "        ^"]  # fmt: skip
        out.append("")
    out += ["", "** BUILD FAILED **", "", "", "The following build commands failed:",
            f"\tSwiftCompile normal arm64 Compiling\\ CheckoutView.swift {src}/Checkout/CheckoutView.swift (in target 'ShopApp' from project 'ShopApp')",
            f"\tSwiftCompile normal arm64 {src}/Checkout/CheckoutView.swift (in target 'ShopApp' from project 'ShopApp')",
            "(2 failures)", ""]  # fmt: skip
    del rnd
    return "\n".join(out)


def go_mod_graph(tmp: Path) -> str:
    """go mod graph of a Go service: a few hundred module edges; two paths pull in an old golang.org/x/crypto."""
    rnd = random.Random(88)
    main = "git.example.com/shop/ingest"
    direct = ["github.com/aws/aws-sdk-go-v2@v1.32.6", "github.com/aws/aws-sdk-go-v2/service/s3@v1.71.0", "github.com/go-chi/chi/v5@v5.1.0",
              "github.com/jackc/pgx/v5@v5.7.1", "github.com/prometheus/client_golang@v1.20.5", "github.com/rs/zerolog@v1.33.0", "github.com/spf13/cobra@v1.8.1",
              "github.com/spf13/viper@v1.19.0", "go.opentelemetry.io/otel@v1.32.0", "go.opentelemetry.io/otel/sdk@v1.32.0", "golang.org/x/sync@v0.10.0",
              "google.golang.org/grpc@v1.68.1", "github.com/segmentio/kafka-go@v0.4.47", "github.com/redis/go-redis/v9@v9.7.0", "github.com/pkg/sftp@v1.13.1"]  # fmt: skip
    pool = ["github.com/beorn7/perks@v1.0.1", "github.com/cespare/xxhash/v2@v2.3.0", "github.com/davecgh/go-spew@v1.1.1", "github.com/fsnotify/fsnotify@v1.7.0",
            "github.com/go-logr/logr@v1.4.2", "github.com/go-logr/stdr@v1.2.2", "github.com/golang/protobuf@v1.5.4", "github.com/google/go-cmp@v0.6.0",
            "github.com/google/uuid@v1.6.0", "github.com/hashicorp/hcl@v1.0.0", "github.com/inconshreveable/mousetrap@v1.1.0", "github.com/jackc/pgpassfile@v1.0.0",
            "github.com/jackc/pgservicefile@v0.0.0-20240606120523-5a60cdf6a761", "github.com/jackc/puddle/v2@v2.2.2", "github.com/klauspost/compress@v1.17.11",
            "github.com/magiconair/properties@v1.8.7", "github.com/mattn/go-colorable@v0.1.13", "github.com/mattn/go-isatty@v0.0.20", "github.com/mitchellh/mapstructure@v1.5.0",
            "github.com/munnerz/goautoneg@v0.0.0-20191010083416-a7dc8b61c822", "github.com/pelletier/go-toml/v2@v2.2.2", "github.com/pierrec/lz4/v4@v4.1.21",
            "github.com/pmezard/go-difflib@v1.0.0", "github.com/prometheus/client_model@v0.6.1", "github.com/prometheus/common@v0.55.0", "github.com/prometheus/procfs@v0.15.1",
            "github.com/sagikazarmark/locafero@v0.4.0", "github.com/sourcegraph/conc@v0.3.0", "github.com/spf13/afero@v1.11.0", "github.com/spf13/cast@v1.6.0",
            "github.com/spf13/pflag@v1.0.5", "github.com/stretchr/testify@v1.9.0", "github.com/subosito/gotenv@v1.6.0", "go.opentelemetry.io/otel/metric@v1.32.0",
            "go.opentelemetry.io/otel/trace@v1.32.0", "go.uber.org/multierr@v1.11.0", "golang.org/x/exp@v0.0.0-20230905200255-921286631fa9", "golang.org/x/net@v0.32.0",
            "golang.org/x/sys@v0.28.0", "golang.org/x/text@v0.21.0", "google.golang.org/genproto/googleapis/rpc@v0.0.0-20241202173237-19429a94021a",
            "google.golang.org/protobuf@v1.35.2", "gopkg.in/ini.v1@v1.67.0", "gopkg.in/yaml.v3@v3.0.1", "github.com/kr/fs@v0.1.0", "github.com/xdg-go/scram@v1.1.2",
            "github.com/xdg-go/pbkdf2@v1.0.0", "github.com/xdg-go/stringprep@v1.0.4", "github.com/aws/smithy-go@v1.22.1", "github.com/aws/aws-sdk-go-v2/internal/ini@v1.8.1",
            "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream@v1.6.7", "github.com/jmespath/go-jmespath@v0.4.0", "github.com/dgryski/go-rendezvous@v0.0.0-20200823014737-9f7001d12a5f"]  # fmt: skip
    edges = [(main, d) for d in direct] + [(main, "golang.org/x/crypto@v0.31.0")]
    for d in direct + pool:
        for dep in rnd.sample(pool, rnd.randint(2, 9)):
            if dep != d:
                edges.append((d, dep))
        if rnd.random() < 0.3:
            edges.append((d, f"golang.org/x/sys@v0.{rnd.randint(5, 27)}.0"))
    edges += [("github.com/pkg/sftp@v1.13.1", "golang.org/x/crypto@v0.0.0-20210421170649-83a5a9bb288b"), ("github.com/pkg/sftp@v1.13.1", "github.com/kr/fs@v0.1.0"),
              ("github.com/segmentio/kafka-go@v0.4.47", "github.com/xdg-go/scram@v1.1.2"), ("github.com/xdg-go/scram@v1.1.2", "golang.org/x/crypto@v0.17.0"),
              ("golang.org/x/crypto@v0.0.0-20210421170649-83a5a9bb288b", "golang.org/x/sys@v0.0.0-20210420072515-93ed5bcd2bfe"),
              ("golang.org/x/crypto@v0.17.0", "golang.org/x/sys@v0.15.0"), ("golang.org/x/crypto@v0.31.0", "golang.org/x/sys@v0.28.0")]  # fmt: skip
    rnd.shuffle(edges)
    edges.sort(key=lambda e: e[0] != main)
    return "\n".join(f"{a} {b}" for a, b in edges) + "\n"


def systemd_blame(tmp: Path) -> str:
    """systemd-analyze blame and critical-chain of a VM whose boot waits on network-online."""
    rnd = random.Random(99)
    units = ["apt-daily-upgrade.service", "snapd.seeded.service", "cloud-init.service", "docker.service", "containerd.service", "postgresql@16-main.service",
             "nginx.service", "redis-server.service", "ssh.service", "systemd-journald.service", "systemd-udev-trigger.service", "systemd-logind.service",
             "ufw.service", "rsyslog.service", "cron.service", "polkit.service", "dbus.service", "systemd-timesyncd.service", "systemd-resolved.service",
             "systemd-tmpfiles-setup.service", "systemd-sysctl.service", "keyboard-setup.service", "lvm2-monitor.service", "e2scrub_reap.service",
             "dev-hugepages.mount", "dev-mqueue.mount", "sys-kernel-debug.mount", "sys-kernel-tracing.mount", "kmod-static-nodes.service", "modprobe@drm.service",
             "modprobe@fuse.service", "systemd-remount-fs.service", "systemd-random-seed.service", "systemd-update-utmp.service", "user@1000.service",
             "user-runtime-dir@1000.service", "systemd-user-sessions.service", "snapd.service", "snap-core22-1663.mount", "snap-lxd-31333.mount",
             "multipathd.service", "plymouth-quit-wait.service", "unattended-upgrades.service", "fwupd-refresh.service", "setvtrgb.service",
             "console-setup.service", "grub-common.service", "networkd-dispatcher.service", "ModemManager.service", "udisks2.service", "blk-availability.service",
             "systemd-fsck@dev-disk-by\\x2duuid-7A1B\\x2d3C4D.service", "boot-efi.mount", "finalrd.service", "apport.service", "systemd-networkd.service"]  # fmt: skip
    times = {u: rnd.expovariate(1 / 0.35) for u in units}
    times["systemd-networkd-wait-online.service"] = 2 * 60 + 0.412
    times["cloud-init.service"] = 4.871
    times["docker.service"] = 3.207
    times["snapd.seeded.service"] = 2.903
    times["apt-daily-upgrade.service"] = 9.55

    def fmt(s: float) -> str:
        return (
            f"{int(s // 60)}min {s % 60:.3f}s" if s >= 60 else f"{s:.3f}s" if s >= 1 else f"{s * 1000:.0f}ms"
        )

    out = ["$ systemd-analyze", "Startup finished in 3.912s (kernel) + 2min 9.618s (userspace) = 2min 13.530s", "graphical.target reached after 2min 9.402s in userspace.", "",
           "$ systemd-analyze blame"]  # fmt: skip
    for u, s in sorted(times.items(), key=lambda x: -x[1]):
        out.append(f"{fmt(s):>14} {u}")
    out += ["", "$ systemd-analyze critical-chain", "The time when unit became active or started is printed after the \"@\" character.",
            "The time the unit took to start is printed after the \"+\" character.", "", "graphical.target @2min 9.402s", "└─multi-user.target @2min 9.401s",
            "  └─docker.service @2min 6.190s +3.207s", "    └─network-online.target @2min 6.183s", "      └─systemd-networkd-wait-online.service @6.771s +2min 412ms",
            "        └─systemd-networkd.service @6.512s +251ms", "          └─systemd-udevd.service @2.118s +1.102s", "            └─systemd-tmpfiles-setup-dev.service @1.950s +161ms",
            "              └─kmod-static-nodes.service @1.402s +88ms", "                └─systemd-journald.socket @1.377s", "                  └─system.slice @1.201s",
            "                    └─-.slice @1.201s", ""]  # fmt: skip
    return "\n".join(out)


# ---------------------------------------------------------------- gold helpers


def near(anchor: str, line: str, span: int) -> Callable[[list[str]], list[str]]:
    """The lines matching ``line`` within ``span`` lines of the (first) line matching ``anchor``."""

    def pick(lines: list[str]) -> list[str]:
        i = next(i for i, s in enumerate(lines) if re.search(anchor, s))
        lo, hi = max(0, i - span), min(len(lines), i + span + 1)
        return [f"@L{j + 1}" for j in range(lo, hi) if re.search(line, lines[j])]

    return pick


def after(anchor: str, line: str, span: int) -> Callable[[list[str]], list[str]]:
    """The first line matching ``line`` within ``span`` lines after the (first) line matching ``anchor``."""

    def pick(lines: list[str]) -> list[str]:
        i = next(i for i, s in enumerate(lines) if re.search(anchor, s))
        return [
            next(
                f"@L{j + 1}" for j in range(i + 1, min(len(lines), i + span + 1)) if re.search(line, lines[j])
            )
        ]

    return pick


def below(anchor: str, line: str) -> Callable[[list[str]], list[str]]:
    """The lines matching ``line`` after the (first) line matching ``anchor``."""

    def pick(lines: list[str]) -> list[str]:
        i = next(i for i, s in enumerate(lines) if re.search(anchor, s))
        return [f"@L{j + 1}" for j in range(i + 1, len(lines)) if re.search(line, lines[j])]

    return pick


def top_by(line: str, key: Callable[[re.Match[str]], float]) -> Callable[[list[str]], list[str]]:
    """The line matching ``line`` whose match has the largest ``key`` (a figure that changes on a rebuild)."""

    def pick(lines: list[str]) -> list[str]:
        hits = [(key(m), i) for i, s in enumerate(lines) if (m := re.search(line, s))]
        return [f"@L{max(hits)[1] + 1}"]

    return pick


# ---------------------------------------------------------------- the cases

SURVEY5_SPECS: list[tuple[str, Callable[[Path], str], bool, str, str, list[Pattern]]] = [
    ("git log --graph", git_graph, True, "git log --oneline --graph --decorate -n 500",
     "Did anyone ever revert the default=True sentinel change for flags? Give me the commit.",
     [r"\* \| bb7be1f6 Revert "]),
    ("git bisect run", git_bisect_run, True, "git bisect start HEAD 8.3.0 && git bisect run ./check_style.sh && git bisect log",
     "bisect finished. which commit made style() stop raising TypeError for unknown colours?",
     [r"is the first bad commit$", near(r"is the first bad commit$", r"^    Validate style\(\) color arguments", 8)]),
    ("markdownlint", markdownlint_click, True, "markdownlint docs '*.md'",
     "Leaving line length aside, what does markdownlint flag in the FAQ page?",
     [r"^docs/faqs\.md:\d+(:\d+)? error MD0(?!13)"]),
    ("pip install --dry-run --report", pip_report, True, "pip install --dry-run --ignore-installed --report - -q 'celery[redis]==5.4.0'",
     "which redis client version would this pull in, and what range does celery allow for it?",
     [near(r'^        "name": "redis",$', r'^        "(name|version)": ', 2), r"^          \"redis !=4\.5\.5,<6\.0\.0,>=4\.5\.2 ; extra == 'redis'\",$"]),
    ("pipdeptree", pipdeptree, True, "pipdeptree --python /tmp/survey4-venv/bin/python",
     "what in this venv needs PyYAML? any conflicting version requirements?",
     [r"PyYAML \[required", r"^(ansible-core|bandit|pre_commit|yamllint)=="]),
    ("python -X importtime", importtime, True, "python -X importtime -c 'import fastapi, django.db.models'",
     "startup got slow. which single module costs the most import time on its own (self)?",
     [top_by(r"^import time:\s+(\d+) \|", lambda m: int(m.group(1)))]),
    ("pyright", pyright_rich, True, "pyright rich",
     "Could anything in live.py blow up on a None at runtime, according to pyright?",
     [r"rich/live\.py:\d+:\d+ - error: .*reportOptional"]),
    ("vulture", vulture_paramiko, True, "vulture paramiko",
     "vulture output is mostly 60% noise. is there anything that is clearly dead logic rather than just an unused name?",
     [r"unreachable "]),
    ("radon cc", radon_paramiko, True, "radon cc -s paramiko",
     "Which is the most complex function in paramiko, and in which file?",
     [r"Transport\.run - E \(38\)", near(r"Transport\.run - E \(38\)", r"^paramiko/transport\.py$", 400)]),
    ("sqlite3 .eqp", sqlite_eqp, True, "sqlite3 shop.db < report.sql",
     "the monthly report query is slow. is it using the index on created_at?",
     [near(r"^month\s+status", r"^(QUERY PLAN|\|--SCAN i|\|--SEARCH o USING INTEGER PRIMARY KEY)", 5)]),
    ("pytest -W error::DeprecationWarning", pytest_w_error, True, "python -W error::DeprecationWarning -m pytest -v tests",
     "CI turns deprecation warnings into errors now. What deprecated call broke the tests, and where is it in our code?",
     [r"^E\s+DeprecationWarning: ssl\.PROTOCOL_TLS is deprecated", r"^shopcfg/tls\.py:5: in client_context"]),
    ("python -m trace --count --summary", trace_count, True, "python -m trace --count --summary --missing -C cover cli.py",
     "how much of click's termui module did that run actually execute?",
     [r"\s+click\.termui\s+\("]),
    ("pytest --lf", pytest_lf, True, "pytest --lf -rA tests",
     "I fixed month_key and reran the last failures. Ignore the warnings: is anything still failing, and why?",
     [r"^FAILED tests/test_core\.py::test_balance_refund_is_credit", r"^E\s+AssertionError: assert -50\.0 == -20\.0", r"^E\s+\+  where -50\.0 = "]),
    ("nginx -T", nginx_dump, True, "nginx -T",
     "Where do requests to shop.example.com/api/ end up? Which backend servers and which path?",
     [r"^    location /api/ \{", r"^        proxy_pass http://shop_api/v2/;", r"^upstream shop_api \{", r"^    server 10\.0\.3\.2[123]:8000"]),
    ("top -b -n 1", top_batch, True, "top -b -n 1",
     "how much memory is free on this box, and which process is using the most?",
     [r"^MiB Mem :", top_by(r"^\s*\d+\s+\S+\s+\S+\s+\S+\s+\d+\s+(\d+(?:\.\d+)?)([mg]?)\s", lambda m: float(m.group(1)) * {"": 1, "m": 1024, "g": 1 << 20}[m.group(2)])]),
    ("prometheus /metrics", prometheus_metrics, True, "curl -s localhost:9100/metrics",
     "Checkout is flaky. From the metrics, how many checkout requests failed with 5xx?",
     [r'^http_requests_total\{method="(GET|POST)",route="/checkout",status="50[02]"\}']),
    ("uvicorn log", uvicorn_log, True, "uvicorn main:app --host 0.0.0.0 --port 8000",
     "some customers get a 500 when they look at their cart total. what's going on?",
     [r"1:^KeyError: 'SPRING25'$", r'1:File "/srv/shop/main\.py", line \d+, in cart_total', r"1:total -= total \* COUPONS\[coupon\.upper\(\)\] // 100", r'1:"GET /carts/c\d+/total\?coupon=SPRING25 HTTP/1\.1" 500']),
    ("alembic upgrade", alembic_upgrade, True, "alembic upgrade head",
     "the deploy is broken, migrations fail on staging. why?",
     [r"Running upgrade b7e2d4c1f002 -> c93a5e7b0003, add customer tier", r"^sqlalchemy\.exc\.OperationalError: \(sqlite3\.OperationalError\)", r"^\[SQL: ALTER TABLE customers ADD COLUMN tier"]),
    ("sqlalchemy echo", sqlalchemy_echo, True, "python import_catalog.py",
     "The catalog import crashes partway. Which CSV row is the problem?",
     [r"^sqlalchemy\.exc\.IntegrityError: ", r"^\[parameters: \('SKU-1012', 'item 12 \(reissue\)'", r"\] \('SKU-1012', 'item 12', "]),
    ("ab", ab_bench, True, "for p in /api/v2/products?page=1 /api/v2/products/4821 /api/v2/search?q=running+shoes; do ab -n 2000 -c 25 http://api.shop.internal:8080$p; done",
     "Which endpoint has the worst p99, and did any requests actually fail?",
     [r"^Document Path:\s+/api/v2/search", after(r"^Document Path:\s+/api/v2/search", r"^  99%", 40),
      r"^Failed requests:\s+[1-9]", r"^   \(Connect: 0, Receive: 0, Length: [1-9]"]),
    ("jstack", jstack_deadlock, False, "jstack -l 1",
     "orders-service stops answering under load, threads pile up. this is jstack from the pod. what's going on?",
     [r"^Found one Java-level deadlock:", r"^  waiting to lock monitor ", below(r"^Java stack information for the threads listed above", r"^\tat com\.shop\.orders\.(inventory\.StockLedger\.(reserve|release)|service\.OrderService\.(placeOrder|onStockChanged))\(")]),
    ("adb logcat crash", logcat_crash, False, "adb logcat -d",
     "the app crashes right after opening the cart. find the cause in logcat",
     [r"AndroidRuntime: FATAL EXCEPTION: main", r"AndroidRuntime: java\.lang\.NullPointerException", r"at com\.shop\.app\.cart\.CartViewModel\.toUiState\(CartViewModel\.kt:142\)",
      r"OkHttp: <-- 204 https://api\.shop\.example/v2/cart"]),
    ("docker inspect", docker_inspect, False, "docker inspect shop-worker-1",
     "shop-worker-1 keeps dying. why did it exit last time, and will docker keep restarting it?",
     [r'^            "OOMKilled": true,', r'^            "ExitCode": 137,', r'^        "RestartCount": 5,', r'^\s+"Name": "on-failure",', r'^\s+"MaximumRetryCount": 5', r'^\s+"Memory": 536870912,']),
    ("kubectl get pods -o wide", kubectl_pods_wide, False, "kubectl get pods -A -o wide",
     "lots of pods are broken since this morning. is it one node?",
     [r"\s(Evicted|ContainerStatusUnknown|ImagePullBackOff)\s"]),
    ("dig +trace", dig_trace, False, "dig +trace api.shop.example.com; dig shop-api-legacy-1842077311.eu-west-1.elb.amazonaws.com; dig shop-api-prod-20931.eu-central-1.elb.amazonaws.com",
     "We migrated the API to the new load balancer yesterday but traffic still hits the old one. Why?",
     [r"^api\.shop\.example\.com\.\t300\tIN\tCNAME\tshop-api-legacy"]),
    ("celery worker log", celery_worker_log, False, "docker compose logs --no-log-prefix worker",
     "Customers say invoice PDFs never arrive. Anything in the worker log?",
     [r"1:ERROR/ForkPoolWorker-\d+\] Task shop\.tasks\.invoices\.render_invoice_pdf\[", r'File "/app/shop/templates/invoices/invoice\.html", line 27', r"^    <td>VAT ID: \{\{ company\.vat_id \}\}</td>",
      r"^jinja2\.exceptions\.UndefinedError: 'None' has no attribute 'vat_id'"]),
    ("otel collector debug exporter", otel_debug, False, "kubectl logs -n observability otel-collector-0",
     "a customer's checkout hung for 30 seconds around 10:24. Can you find the span that failed and why?",
     [r"^    Status code    : Error", r"^    Status message : upstream acquirer timeout", r"^          -> exception\.type: Str\(httpx\.ReadTimeout\)",
      near(r"^    Status code    : Error", r"^    (Name           : POST /charge|Trace ID       : 4bf92f35)", 7)]),
    ("xcodebuild", xcodebuild_fail, False, "xcodebuild -scheme ShopApp -destination 'platform=iOS Simulator,name=iPhone 16' build",
     "build is red. ignore the warnings, what's the actual error and where?",
     [r"CheckoutView\.swift:112:46: error: value of type 'CartViewModel' has no member 'totalPrice'", r"Cart/CartViewModel\.swift:14:9: note: did you mean 'totalCents'\?"]),
    ("go mod graph", go_mod_graph, False, "go mod graph",
     "govulncheck flags golang.org/x/crypto. which of our dependencies drag in the old versions?",
     [r" golang\.org/x/crypto@v0\.(0\.0-2021|17\.0)", r"^github\.com/segmentio/kafka-go@v0\.4\.47 github\.com/xdg-go/scram@v1\.1\.2$"]),
    ("systemd-analyze blame", systemd_blame, False, "systemd-analyze; systemd-analyze blame; systemd-analyze critical-chain",
     "the VM takes over two minutes to boot. what's holding it up?",
     [r"^\s+2min 0\.412s systemd-networkd-wait-online\.service$", r"^      └─systemd-networkd-wait-online\.service @6\.771s \+2min 412ms"]),
]  # fmt: skip


if __name__ == "__main__":
    survey_main(SURVEY5_SPECS, OUT, "the fifth survey's held-out tool-output cases")
