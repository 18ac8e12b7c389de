"""The page in a real browser: Chromium draws the chart from live data, its numbers equal /sidecar/health.

Debian's ``chromium`` is started by the test (sidecar.testing.browser) and driven over the DevTools protocol.
Without a Chromium the test is skipped on a developer's machine, and fails under CI (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sidecar.testing.browser import Chromium, find_chromium

from .conftest import SECRET_LINE, send_traffic

pytestmark = pytest.mark.timeout(90)

# Change with every request (the page's own polling included): not compared.
MOVING = {"proxy.uptime_s"}
FIGURES_JS = """JSON.stringify([...document.querySelectorAll('[data-key]')].map(
  e => ({key: e.dataset.key, value: e.dataset.value, text: e.textContent})))"""


def chromium_or_skip() -> str:
    path = find_chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run must install it (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return path


def usd(value: float) -> str:
    return f"${value:,.4f}" if value and abs(value) < 1 else f"${value:,.2f}"


def expected_text(key: str, value: object) -> str:
    if isinstance(value, bool):
        return (
            ("open" if value else "closed") if key == "pruning.deepinfra_circuit_open" else str(value).lower()
        )
    if key.startswith("savings.usd") or key.endswith("_usd"):
        return usd(float(value))  # type: ignore[arg-type]
    if key.endswith(("_p50", "_p99")):
        return f"{float(value):.2f}"  # type: ignore[arg-type]
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def lookup(doc: dict, key: str) -> object:
    for part in key.split("."):
        doc = doc[part]
    return doc


async def test_page_renders_live_numbers_equal_to_health(sidecar, tmp_path: Path) -> None:
    executable = chromium_or_skip()
    client = await sidecar()
    await send_traffic(client)
    import json

    async with Chromium.launch(executable) as browser:
        page = await browser.open(str(client.make_url("/sidecar/")))
        await page.wait_for("Number(document.documentElement.dataset.rendered) >= 1")
        total = await page.wait_for("Number(document.getElementById('chart').dataset.total)")
        bars = await page.evaluate("document.querySelectorAll('#chart rect.saved').length")
        figures = json.loads(await page.evaluate(FIGURES_JS))  # type: ignore[arg-type]
        agents = await page.evaluate(
            "[...document.querySelectorAll('[data-dimension=agent] tbody tr')].map(r => r.dataset.name)"
        )
        recent = await page.evaluate("document.querySelectorAll('#recent tr.seg').length")
        html = await page.evaluate("document.documentElement.outerHTML")
        text = await page.evaluate("document.body.innerText")
        png = await page.screenshot()
    health = await (await client.get("/sidecar/health")).json()

    saved = health["middleware"]["tokens_saved_total"]
    assert saved > 0 and total == saved == health["savings"]["tokens_saved"]
    assert bars >= 1
    compared = set()
    for figure in figures:
        key = figure["key"]
        if key in MOVING or key.startswith("derived."):
            continue
        value = lookup(health, key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            assert figure["value"] == str(value).lower() if isinstance(value, bool) else str(value), key
        else:
            assert float(figure["value"]) == value, key  # JSON numbers, as the page got them
        assert figure["text"] == expected_text(key, value), key
        compared.add(key)
    assert {
        "middleware.tokens_saved_total", "middleware.requests_pruned", "middleware.added_ms_p50",
        "middleware.added_ms_p99", "pruning.cache_hits", "pruning.fallbacks_deepinfra", "pruning.backend",
        "savings.usd_saved_raw", "savings.usd_saved_cache_aware",
    } <= compared  # fmt: skip
    derived = {f["key"]: f["text"] for f in figures if f["key"].startswith("derived.")}
    mw, pr = health["middleware"], health["pruning"]
    assert (
        derived["derived.share_saved"] == f"{100 * mw['tokens_saved_total'] / mw['tokens_before_total']:.1f}%"
    )
    rate = pr["cache_hits"] / (pr["cache_hits"] + pr["cache_misses"])
    assert derived["derived.cache_hit_rate"] == f"{100 * rate:.1f}%"
    assert set(agents) == {"OpenAI/Python", "claude-cli/2.1.4"}  # type: ignore[arg-type]
    assert recent == 5
    # Nothing sensitive on the page by default: no tool output, no key, no raw User-Agent.
    for secret in (SECRET_LINE, "AWS_SECRET", "def helper_alpha_1", "sk-test", "jane.doe", "external, cli"):
        assert secret not in html and secret not in text  # type: ignore[operator]
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    (tmp_path / "dashboard.png").write_bytes(png)


async def test_kept_versus_cut_view_with_show_text(sidecar) -> None:
    executable = chromium_or_skip()
    client = await sidecar(dashboard={"show_text": True})
    await send_traffic(client)
    async with Chromium.launch(executable) as browser:
        page = await browser.open(str(client.make_url("/sidecar/")))
        await page.wait_for("document.querySelectorAll('#recent tr.seg').length === 5")
        await page.evaluate("document.querySelector('#recent tr.seg').click()")
        await page.wait_for("document.querySelector('#recent tr.detail pre') !== null")
        cut = await page.evaluate("document.querySelectorAll('#recent tr.detail pre span.cut').length")
        kept = await page.evaluate("document.querySelectorAll('#recent tr.detail pre span:not(.cut)').length")
        scripts = await page.evaluate("document.querySelectorAll('#recent script, #recent img').length")
    assert cut > 0 and kept > 0
    assert scripts == 0  # text is inserted as text, never as markup
