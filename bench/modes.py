#!/usr/bin/env python3
"""Execution modes: latency and tokens per mode, verbose vs stripped prompts, with and without constraints.

usage: modes.py [--reps N] [--scale F]

Real servers in one process: the fake upstream standing in for four providers at realistic speeds
(sidecar.fake_upstream.PROVIDER_PROFILES: time to first byte, then output paced at a token rate,
429 above the provider's capacity; ``--scale`` multiplies every delay), and the
sidecar with routing in front of it. Each cell sends the bundled verbose prompts
(sidecar/data/verbose_prompts.json, 8 EN/FR prompts) at once, ``--reps`` times, through one mode.
Latency is per request (median and p90 over all requests of the cell); tokens are the totals per prompt
set, as the fake provider counted them (input: what it received; output: what it generated, the
auditor's included for DOUBLE-CHECK). The last table fires a burst at one provider to show the limiter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sidecar.app import build_app
from sidecar.config import load_config
from sidecar.routing.middleware import install_routing
from sidecar.testing.fake_upstream import PROVIDER_PROFILES, FakeUpstream, Profile, routing_reply

VARIANTS = [  # (label, strip, output constraint)
    ("verbose", False, None),
    ("stripped", True, None),
    ("verbose", False, "code"),
    ("stripped", True, "code"),
]


def prompts() -> list[list[dict[str, str]]]:
    text = resources.files("sidecar").joinpath("data/verbose_prompts.json").read_text(encoding="utf-8")
    return [p["messages"] for p in json.loads(text)["prompts"]]


async def start(scale: float) -> tuple[FakeUpstream, web.AppRunner, str]:
    profiles = {
        name: Profile(
            latency_ms=p.latency_ms * scale,
            tokens_per_s=(p.tokens_per_s or 100.0) / scale,
            max_concurrent=p.max_concurrent,
        )
        for name, p in PROVIDER_PROFILES.items()
    }
    fake = FakeUpstream(profiles=profiles, reply=routing_reply, record=False)
    await fake.start()
    lines = [f'[upstream]\nurl = "{fake.url}"\n']
    for name, profile in PROVIDER_PROFILES.items():
        limit = profile.max_concurrent
        env = f"BENCH_{name.upper()}_KEY"
        os.environ[env] = f"bench-{name}"
        lines.append(
            f'[providers.{name}]\nbase_url = "{fake.url}/p/{name}/v1"\napi_key_env = "{env}"\n'
            f"max_concurrent = {limit}\n"
            + ("supports_json_response_format = false\n" if name == "codestral" else "")
        )
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as fh:
        fh.write("\n".join(lines))
    config = load_config(cli_path=fh.name, env={})
    os.unlink(fh.name)
    runner = web.AppRunner(build_app(config, installers=[install_routing]), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return fake, runner, f"http://127.0.0.1:{port}"


async def one(
    http: aiohttp.ClientSession,
    url: str,
    mode: str,
    messages: list[dict[str, str]],
    strip: bool,
    output: str | None,
) -> tuple[float, int, int, str]:
    headers = {"X-Sidecar-Mode": mode, "X-Sidecar-Strip": "on" if strip else "off"}
    if output:
        headers["X-Sidecar-Output"] = output
    started = time.perf_counter()
    async with http.post(
        f"{url}/v1/chat/completions", json={"model": "m", "messages": messages}, headers=headers
    ) as r:
        doc = await r.json()
        assert r.status == 200, (r.status, doc)
        provider = r.headers["X-Sidecar-Provider"]
    elapsed = (time.perf_counter() - started) * 1000
    usage = doc["usage"]
    out = usage["completion_tokens"]
    audit = doc.get("sidecar_audit")
    if audit and audit.get("usage"):
        out += audit["usage"]["completion_tokens"]
    return elapsed, usage["prompt_tokens"], out, provider


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(reps: int, scale: float) -> None:
    fake, runner, url = await start(scale)
    sets = prompts()
    rows: list[list[str]] = []
    try:
        async with aiohttp.ClientSession() as http:
            for mode in ("fast", "build", "double-check"):
                base_lat = base_in = base_out = 0.0
                for label, strip, output in VARIANTS:
                    lats: list[float] = []
                    tin = tout = 0
                    used: set[str] = set()
                    for _ in range(reps):
                        results = await asyncio.gather(
                            *(one(http, url, mode, m, strip, output) for m in sets)
                        )
                        lats += [r[0] for r in results]
                        tin += sum(r[1] for r in results)
                        tout += sum(r[2] for r in results)
                        used |= {r[3] for r in results}
                    med = statistics.median(lats)
                    tin_set, tout_set = tin / reps, tout / reps
                    if not base_lat:
                        base_lat, base_in, base_out = med, tin_set, tout_set
                    rows.append(
                        [
                            mode,
                            label,
                            output or "-",
                            "+".join(sorted(used)),
                            f"{med:.0f}",
                            f"{pct(lats, 0.9):.0f}",
                            f"{tin_set:.0f}",
                            f"{tout_set:.0f}",
                            f"{med / base_lat:.2f}",
                            f"{tin_set / base_in:.2f}",
                            f"{tout_set / base_out:.2f}",
                        ]
                    )
            burst = await burst_test(http, url, fake)
    finally:
        await runner.cleanup()
        await fake.stop()
    head = [
        "mode",
        "prompts",
        "output",
        "executor",
        "p50 ms",
        "p90 ms",
        "tok in",
        "tok out",
        "lat x",
        "in x",
        "out x",
    ]
    print(
        f"# modes.py --reps {reps} --scale {scale}: {len(sets)} prompts a set, sent at once;"
        " x = vs verbose, no constraint"
    )
    table(head, rows)
    print()
    table(
        ["burst", "requests", "wall ms", "provider max in flight", "provider 429s", "client errors"], [burst]
    )


async def burst_test(http: aiohttp.ClientSession, url: str, fake: FakeUpstream) -> list[str]:
    """40 requests at once to deepseek (max_concurrent 5, answers 429 above it): queued, never refused."""
    messages = [{"role": "user", "content": "write parse_port"}]
    fake.max_in_flight.pop("deepseek", None)
    started = time.perf_counter()
    results = await asyncio.gather(
        *(
            http.post(
                f"{url}/v1/chat/completions",
                json={"model": "sidecar/build", "messages": messages, "max_tokens": 4000},
                headers={"X-Sidecar-Output": "code"},
            )
            for _ in range(40)
        )
    )
    wall = (time.perf_counter() - started) * 1000
    errors = sum(1 for r in results if r.status != 200)
    for r in results:
        r.release()
    health = await (await http.get(f"{url}/sidecar/health")).json()
    status = health["routing"]["providers"]["deepseek"]["upstream_status"]
    return [
        "deepseek x40",
        "40",
        f"{wall:.0f}",
        str(fake.max_in_flight.get("deepseek")),
        str(status.get("429", 0)),
        str(errors),
    ]


def table(head: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="prompt sets per cell (default 3)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every provider delay (default 1)")
    args = parser.parse_args()
    asyncio.run(main(args.reps, args.scale))
