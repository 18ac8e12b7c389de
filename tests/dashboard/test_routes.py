"""The page and its data: self-contained HTML under a strict CSP, the JSON it draws, no secret by default."""

from __future__ import annotations

import re

from .conftest import SECRET_LINE, send_traffic


async def test_page_is_self_contained_under_a_strict_csp(sidecar) -> None:
    client = await sidecar()
    resp = await client.get("/sidecar/")
    html = await resp.text()
    assert resp.content_type == "text/html"
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+';", csp)
    assert resp.headers["X-Frame-Options"] == "DENY"
    # No CDN, no external resource of any kind: one inline script and one inline style.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert html.count("<script>") == 1 and "<script src" not in html
    assert 'fetch("dashboard.json"' in html
    assert "/*SCRIPT*/" not in html and "/*STYLE*/" not in html


async def test_data_is_health_plus_history_and_metadata_only(sidecar) -> None:
    client = await sidecar()
    await send_traffic(client)
    data = await (await client.get("/sidecar/dashboard.json")).json()
    health = await (await client.get("/sidecar/health")).json()
    for section in ("middleware", "pruning", "savings"):
        assert data["health"][section] == health[section]
    assert sum(b[1] for b in data["buckets"]) == health["middleware"]["tokens_saved_total"]
    assert {r["name"] for r in data["by"]["agent"]} == {"OpenAI/Python", "claude-cli/2.1.4"}
    assert {r["name"] for r in data["by"]["tool"]} == {"read_file", "Bash"}
    assert {r["name"] for r in data["by"]["model"]} == {"gpt-5.4", "claude-sonnet-5-5-20260701"}
    recent = data["recent"]
    assert len(recent) == 5 and recent[0]["tool"] == "Bash"  # newest first
    pruned = [r for r in recent if r["status"] == "pruned"]
    assert pruned and all(r["cut"] and r["tokens_after"] < r["tokens_before"] for r in pruned)
    assert all(r["text"] is None and r["pruned_text"] is None for r in recent)
    raw = await (await client.get("/sidecar/dashboard.json")).text()
    assert (
        SECRET_LINE not in raw and "AWS_SECRET" not in raw and "jane.doe" not in raw and "sk-test" not in raw
    )
    # Prices: the model seen, the key that priced it.
    prices = {p["model"]: p for p in data["prices"]}
    assert (
        prices["gpt-5.4"]["key"] == "gpt-5.4"
        and prices["claude-sonnet-5-5-20260701"]["key"] == "claude-sonnet-5-5"
    )
    assert data["health"]["savings"]["usd_saved_cache_aware"] < data["health"]["savings"]["usd_saved_raw"]


async def test_show_text_is_an_explicit_switch(sidecar) -> None:
    client = await sidecar(dashboard={"show_text": True, "max_text_chars": 500})
    await send_traffic(client)
    data = await (await client.get("/sidecar/dashboard.json")).json()
    assert data["show_text"] is True and data["health"]["savings"]["text_shown"] is True
    first = data["recent"][0]
    assert SECRET_LINE in first["text"] and len(first["text"]) == 500 and first["text_truncated"]
    assert first["pruned_text"]
