"""Kind detection: structural kinds from the text win over a weak hint; the rest as before."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from sidecar.pruning.engine.kinds import detect_kind
from tests.pruning.engine.samples import (
    dpkg_listing,
    git_log,
    ls_recursive,
    pytest_run,
    releases_json,
    rg_output,
)


def test_pretty_json_is_json_whatever_the_hint() -> None:
    text = releases_json()
    assert detect_kind(text) == "json"
    assert detect_kind(text, "code") == "json"  # a .json file read
    assert detect_kind(text, "logs") == "json"  # npm view --json is hinted as logs by its command


def test_json_after_an_http_response_head_is_json() -> None:
    head = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: W/"1"\r\n\r\n'  # curl -i, HTTPie
    assert detect_kind(head + releases_json()) == "json"
    assert detect_kind(head + "<html>\n" + "<p>text</p>\n" * 20) != "json"
    warning = "Warning: kubectl apply should be used on resources created by kubectl create\n"  # on stderr
    assert detect_kind(warning + releases_json()) == "json"
    assert detect_kind("int main()\n{\n" + "  f();\n" * 20 + "}\n") == "code"


def test_json_within_a_curl_verbose_trace_is_json() -> None:
    # `curl -v URL | python3 -m json.tool` with stderr merged: the trace first, its closing note last.
    trace = (
        "*   Trying 127.0.0.1:50121...\n* Connected to 127.0.0.1 (127.0.0.1) port 50121 (#0)\n"
        "> GET /inventory.json HTTP/1.1\n> Host: 127.0.0.1:50121\n> Accept: */*\n> \n"
        "< HTTP/1.0 200 OK\n< Content-type: application/json\n< \n{ [65536 bytes data]\n"
    )
    assert detect_kind(trace + releases_json()) == "json"
    close = "* Connection #0 to host 127.0.0.1 left intact\n"
    assert detect_kind(trace + releases_json() + "\n" + close) == "json"
    assert detect_kind(releases_json() + "\n" + trace) == "json"  # stderr printed after stdout
    assert detect_kind(trace + "<html>\n" + "<p>text</p>\n" * 20) != "json"


def test_one_line_or_malformed_json_is_not_json() -> None:
    assert detect_kind(json.dumps({"a": list(range(500))})) != "json"
    broken = releases_json()[:-40]  # truncated output
    assert detect_kind(broken) != "json"
    assert detect_kind("{ not json at all\n" * 20) != "json"


def test_diffs_and_logs_of_git() -> None:
    diff = "\n".join(
        ["diff --git a/x.py b/x.py", "index 1..2 100644", "--- a/x.py", "+++ b/x.py", "@@ -1,3 +1,3 @@"]
        + [" same", "-old", "+new"] * 5
    )
    assert detect_kind(diff) == "diff"
    assert detect_kind(git_log()) == "diff"


def test_search_results_in_their_three_forms() -> None:
    assert detect_kind(rg_output()) == "search"
    context = "\n".join(f"src/a.py-{k}-    context line\nsrc/a.py:{k + 1}:    match()" for k in range(10))
    assert detect_kind(context) == "search"
    heading = "src/a.py\n" + "\n".join(f"{k}:    x = timeout" for k in range(10)) + "\n\nsrc/b.py\n12:    y\n"
    assert detect_kind(heading) == "search"


def test_logs_code_and_docs_stay_as_before() -> None:
    logs = "\n".join(f"2024-05-01 10:00:{i % 60:02d} INFO worker {i} heartbeat ok" for i in range(50))
    assert detect_kind(logs) == "logs"
    assert detect_kind(pytest_run(), "logs") == "logs"
    code = "\n".join(f"def f{k}(x):\n    return x + {k}\n" for k in range(20))
    assert detect_kind(code) == "code"
    assert detect_kind(code, "docs") == "docs"  # a declared kind stands when the text shows no structure


@pytest.mark.parametrize("kind", ["json", "search", "diff"])
def test_declared_structural_kind_is_trusted(kind) -> None:
    assert detect_kind("plain words\n" * 10, kind) == kind


def test_every_kind_prunes_the_same_across_processes_and_hash_seeds(tmp_path) -> None:
    texts = {"json": releases_json(), "logs": pytest_run(), "search": rg_output(), "diff": git_log()}
    (tmp_path / "t.json").write_text(json.dumps(texts))
    script = (
        "import asyncio, hashlib, json, sys\n"
        "from sidecar.pruning.backends.heuristic import HeuristicBackend\n"
        "from sidecar.pruning.types import PruneOptions, PruneRequest\n"
        "texts = json.load(open(sys.argv[1]))\n"
        "for kind, text in sorted(texts.items()):\n"
        "    for keep in (None, 0.3):\n"
        "        r = PruneRequest(text=text, goal='why did version 2.17.0 fail in adapters.py heap',\n"
        "                         source_type=kind, prune_id='x' * 26,\n"
        "                         options=PruneOptions(keep_ratio=keep))\n"
        "        print(hashlib.sha256(bytes(asyncio.run(HeuristicBackend().prune(r)).keep)).hexdigest())\n"
    )
    outs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        p = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "t.json")],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        outs.add(hashlib.sha256(p.stdout.encode()).hexdigest())
    assert len(outs) == 1


def test_detection_never_raises_on_deep_nesting_or_lone_surrogates() -> None:
    from sidecar.pruning.engine.kinds import detect_kind

    assert detect_kind("[\n" * 5000 + "]\n" * 5000, "logs") == "logs"
    assert detect_kind("{\n" * 5 + '"a": "\ud800"' + "\n}" * 5, "logs") == "logs"


def _json_lines(n: int = 60) -> list[str]:
    records = [
        {"ts": f"2026-12-05T10:{i // 60:02d}:{i % 60:02d}Z", "level": "info", "msg": "request completed",
         "path": "/v1/orders", "status": 200, "request_id": f"req-{i * 7919:x}"}
        for i in range(n)
    ]  # fmt: skip
    return [json.dumps(r) for r in records]


def test_json_lines_are_a_log_whatever_the_hint() -> None:
    lines = _json_lines()
    text = "\n".join(lines) + "\n"
    assert detect_kind(text) == "logs"  # kubectl logs, an MCP tool: no hint
    assert detect_kind(text, "code") == "logs"  # a .json file read
    assert detect_kind(text, "docs") == "logs"
    lines[5] = lines[5][:40]  # a record cut short (a tool's truncation) is not enough to doubt them
    assert detect_kind("\n".join(lines)) == "logs"
    assert detect_kind("\n".join(_json_lines(5))) != "logs"  # too few records to say


def test_code_and_json_like_lines_are_not_json_lines() -> None:
    code = "\n".join(f"{{ x{k} = f(y); return {k}; }}" for k in range(30))  # braces, not JSON
    assert detect_kind(code) == "code"
    py = "\n".join(f"{{'a': {k}, 'b': None}}" for k in range(30))  # Python dicts
    assert detect_kind(py) != "logs"
    mostly = _json_lines(20) + [f"plain line {k}" for k in range(10)]  # a third not records
    assert detect_kind("\n".join(mostly)) != "logs"


def test_listings_with_no_hint_are_rows() -> None:
    find = "\n".join(f"/usr/lib/python3.11/pkg{k}/mod{j}.py" for k in range(20) for j in range(5)) + "\n"
    assert detect_kind(find) == "listing"
    assert detect_kind(find, "code") == "code"  # a hint stands: the listing rule reads texts with none
    csv = "dtype,input,output,ulperrortol\n" + "".join(
        f"np.float32,0x{k:08x},0x{k * 7:08x},2\n" for k in range(60)
    )
    assert detect_kind(csv) == "listing"
    assert detect_kind(dpkg_listing()) == "listing"
    assert detect_kind(ls_recursive(long=False)) == "listing"  # ls -R: headings over names
    assert detect_kind(ls_recursive(long=True)) == "listing"  # ls -lR: over ls -l rows


def test_what_is_no_listing_stays_as_before() -> None:
    logs = "\n".join(f"2024-05-01 10:00:{i % 60:02d} INFO worker {i:>3} heartbeat ok" for i in range(50))
    assert detect_kind(logs) == "logs"  # aligned, but timestamped: a log
    pip_show = "Name: aiohttp\nVersion: 3.14.5\nLocation: /venv/lib/python3.11/site-packages\nFiles:\n"
    pip_show += "\n".join(f"  aiohttp/mod{k}.py" for k in range(60))
    assert detect_kind(pip_show) != "listing"  # indented files under a header: a section, not rows
    table_of_code = "\n".join(
        f"    ({k:>3}, {k * 2:>4}, {k * 3:>5})," for k in range(40)
    )  # aligned, but code
    assert detect_kind(table_of_code) == "code"


PLAN = """\
terraform_data.db: Refreshing state... [id=5b090ace-5e14-fe43-ec9c-54df917ef7ea]
terraform_data.api: Refreshing state... [id=ebe22c19-bdc4-2614-8112-e864598fae64]

Terraform will perform the following actions:

  # terraform_data.db must be replaced
-/+ resource "terraform_data" "db" {
      ~ id               = "5b090ace-5e14-fe43-ec9c-54df917ef7ea" -> (known after apply)
      ~ input            = {
          ~ class  = "db.t3.medium" -> "db.r6g.large"
        }
    }

  # terraform_data.reports will be destroyed
  - resource "terraform_data" "reports" {
      - id     = "9d3e6afa-a6e7-14bf-c8bb-cded5fdbc159" -> null
      - input  = {
          - name = "reports.shop.internal"
        } -> null
    }

Plan: 0 to add, 0 to change, 2 to destroy.
"""


def test_a_terraform_plan_is_read_as_a_document_not_code() -> None:
    # Its braces and "=" read as code, whose "#" comments give way first: the plan's answer.
    assert detect_kind(PLAN) == "docs"
    assert detect_kind(PLAN, "logs") == "logs"  # a hint stands
    assert detect_kind('resource "aws_s3_bucket" "b" {\n  bucket = "x"\n  # a comment\n}\n' * 5) == "code"


def test_a_csv_with_dates_is_a_listing_not_grep_context_lines() -> None:
    # "…,starter,2025-03-25,900" once read as grep's context form "path-03-text".
    rows = [
        f"{10001 + k},Ada,Lovelace,ada{k}@example.com,NL,starter,2025-03-{k % 28 + 1:02d},900,false"
        for k in range(60)
    ]
    text = "customer_id,first_name,last_name,email,country,plan,signup_date,mrr_cents,churned\n" + "\n".join(
        rows
    )
    assert detect_kind(text) == "listing"
    assert (
        detect_kind("src/a.py-12-    x = 1\nsrc/a.py:13:    y = 2\n" * 5) == "search"
    )  # grep -C keeps its form
