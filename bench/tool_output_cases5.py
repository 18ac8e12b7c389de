#!/usr/bin/env python3
# ruff: noqa: E501  (realistic tool outputs written inline have long lines)
"""A fifth survey of tool outputs, held out: ``heldout3/cases.jsonl.gz``, to be scored once as a fresh measure.

usage: tool_output_cases5.py [--only NAME,...]     # (re)build bench/data/tool_outputs/heldout3/cases.jsonl.gz

Same record shape as ``tool_output_cases.py`` (name, real, tool, task, text, gold_lines); gold patterns are
regexes read by its ``gold_lines`` (``@L<n>`` names a line, ``1:`` keeps the first match only) or callables
over the lines (as in ``tool_output_cases4.py``).

DESCRIPTION
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
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import free_port, wait_port  # noqa: E402
from tool_output_cases import MIRROR, REPO, checkout, gold_lines, sh  # noqa: E402

OUT = REPO / "bench" / "data" / "tool_outputs" / "heldout3" / "cases.jsonl.gz"
TOOLS = Path(os.environ.get("TOOLS_VENV", "/tmp/survey5-venv")) / "bin"
NODE_TOOLS = Path(os.environ.get("NODE_TOOLS", "/tmp/survey5-npm")) / "node_modules" / ".bin"
SDISTS = {"requests": "2.32.3", "paramiko": "3.4.0", "httpie": "3.2.2", "rich": "13.9.4"}


def sdist(name: str, tmp: Path) -> Path:
    """The PyPI sdist of ``name`` (pinned in SDISTS), unpacked under ``tmp``."""
    ver = SDISTS[name]
    sh(f"{TOOLS / 'pip'} download -q --no-deps --no-binary :all: -d {tmp} {name}=={ver} 2>/dev/null")
    sh(f"tar --no-same-owner -xzf {tmp / f'{name}-{ver}.tar.gz'} -C {tmp}")
    return tmp / f"{name}-{ver}"


def git(repo: str, args: str) -> str:
    return sh(f"git --git-dir={MIRROR / repo / 'repo'} {args}")


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


# ---------------------------------------------------------------- gold helpers

Pattern = str | Callable[[list[str]], list[str]]


def near(anchor: str, line: str, span: int) -> Callable[[list[str]], list[str]]:
    """The lines matching ``line`` within ``span`` lines of the (first) line matching ``anchor``."""

    def pick(lines: list[str]) -> list[str]:
        i = next(i for i, s in enumerate(lines) if re.search(anchor, s))
        lo, hi = max(0, i - span), min(len(lines), i + span + 1)
        return [f"@L{j + 1}" for j in range(lo, hi) if re.search(line, lines[j])]

    return pick


def top_by(line: str, key: Callable[[re.Match[str]], float]) -> Callable[[list[str]], list[str]]:
    """The line matching ``line`` whose match has the largest ``key`` (a figure that changes on a rebuild)."""

    def pick(lines: list[str]) -> list[str]:
        hits = [(key(m), i) for i, s in enumerate(lines) if (m := re.search(line, s))]
        return [f"@L{max(hits)[1] + 1}"]

    return pick


def resolve(text: str, pats: list[Pattern]) -> list[str]:
    lines = text.split("\n")
    out: list[str] = []
    for p in pats:
        out += p(lines) if callable(p) else [p]
    return out


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
]  # fmt: skip


def make(only: set[str] | None) -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    old = {}
    if OUT.exists():
        old = {c["name"]: c for c in map(json.loads, gzip.open(OUT, "rt"))}
    out = []
    for name, fn, real, cmd, task, pats in SURVEY5_SPECS:
        if only and name not in only and name in old:
            out.append(old[name])
            continue
        tmp = Path(tempfile.mkdtemp(prefix="tool-outputs5-"))
        try:
            text = fn(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        try:
            gold = gold_lines(text, resolve(text, pats))
        except (SystemExit, StopIteration, ValueError) as e:
            print(f"{name}: {e!r}", file=sys.stderr)
            gold = []
        out.append({"name": name, "real": real, "tool": cmd, "task": task, "text": text, "gold_lines": gold})
        print(f"{name}: {len(text)} chars, {text.count(chr(10))} lines, {len(gold)} gold", file=sys.stderr)
    with open(OUT, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write("".join(json.dumps(c) + "\n" for c in out).encode())


def main() -> None:
    ap = argparse.ArgumentParser(description="build the fifth survey's held-out tool-output cases")
    ap.add_argument("--only", default="", help="rebuild only these cases (comma-separated names)")
    args = ap.parse_args()
    make({s for s in args.only.split(",") if s} or None)


if __name__ == "__main__":
    main()
