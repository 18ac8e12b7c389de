#!/usr/bin/env python3
"""MCP latency: ``prune_text`` on a 50 KB text through /sidecar/mcp (Streamable HTTP), in-process sidecar.

usage: mcp_latency.py [--iterations N] [--size BYTES] [--no-sdk]

Rows:
  http json, cold   raw JSON-RPC POST (aiohttp client, plain JSON answer); every text is new (cache miss)
  http json, warm   the same text each time (cache hit: the MCP + HTTP overhead alone)
  http sse, cold    as cold, with ``Accept: text/event-stream``
  sdk client, cold  the official ``mcp`` client's ``call_tool`` (adds its pydantic parsing and
                    outputSchema validation on the client side)
  engine only       ``Pruner.prune`` called directly on the same texts (what MCP adds = the difference)

The text is the sidecar's own source (real code), cut to ``--size`` bytes; "new" texts differ in one
appended comment line so each call misses the cache. The heuristic backend (default config).
Acceptance bar (issue 5): p50 <= 25 ms for the cold JSON row.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import aiohttp
from aiohttp import web

from sidecar.app import build_app
from sidecar.config import load_config
from sidecar.mcpserver.http import install_mcp
from sidecar.pruning.lifecycle import PRUNER, install_pruner

GOAL = "the MCP server answers tools/call prune_text with structuredContent and a session id"


def corpus(size: int) -> str:
    text = "\n".join(p.read_text() for p in sorted((REPO / "sidecar").glob("*.py")))
    while len(text) < size:
        text += "\n" + text
    return text[:size]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(n: int, calls: dict[str, Callable[[int], Awaitable[None]]]) -> dict[str, list[float]]:
    """Time every row's call ``n`` times, round-robin, so that all rows see the same machine load."""
    for i in range(5):  # warm-up: imports, first connections
        for call in calls.values():
            await call(-1 - i)
    out: dict[str, list[float]] = {name: [] for name in calls}
    for i in range(n):
        for name, call in calls.items():
            started = time.perf_counter()
            await call(i)
            out[name].append((time.perf_counter() - started) * 1000.0)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--size", type=int, default=50_000)
    parser.add_argument("--no-sdk", action="store_true", help="skip the official mcp client row")
    args = parser.parse_args()

    base = corpus(args.size)

    def text(i: int, salt: str) -> str:
        return f"{base[: args.size - 40]}\n# {salt} call {i}"

    app = build_app(load_config(env={}), installers=[install_pruner, install_mcp])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/sidecar/mcp"
    calls: dict[str, Callable[[int], Awaitable[None]]] = {}
    try:
        async with contextlib.AsyncExitStack() as stack:
            http = await stack.enter_async_context(aiohttp.ClientSession())
            init = {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {"protocolVersion": "2025-11-25"},
            }
            async with http.post(url, json=init) as resp:
                session = resp.headers["Mcp-Session-Id"]
            headers = {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}

            def http_call(salt: str, accept: str, fixed: bool) -> Callable[[int], Awaitable[None]]:
                async def call(i: int) -> None:
                    arguments = {
                        "text": base if fixed else text(i, salt),
                        "goal_hint": GOAL,
                        "source_type": "code",
                    }
                    params = {"name": "prune_text", "arguments": arguments}
                    body = json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": params})
                    async with http.post(url, data=body, headers={**headers, "Accept": accept}) as r:
                        payload = await r.read()
                        assert r.status == 200 and b'"prune_id"' in payload, r.status

                return call

            calls["http json, cold"] = http_call("json", "application/json", False)
            calls["http json, warm"] = http_call("json", "application/json", True)
            calls["http sse, cold"] = http_call("sse", "text/event-stream", False)
            if not args.no_sdk:
                from mcp import Client

                client = await stack.enter_async_context(Client(url, mode="legacy"))

                async def sdk_call(i: int) -> None:
                    arguments = {"text": text(i, "sdk"), "goal_hint": GOAL, "source_type": "code"}
                    assert not (await client.call_tool("prune_text", arguments)).is_error

                calls["sdk client, cold"] = sdk_call
            pruner = app[PRUNER]

            async def engine(i: int) -> None:
                await pruner.prune(text(i, "engine"), GOAL, source_type="code")

            calls["engine only, cold"] = engine
            rows = await measure(args.iterations, calls)
    finally:
        await runner.cleanup()

    print(f"prune_text through /sidecar/mcp: {args.size} bytes, {args.iterations} calls per row, heuristic")
    print(f"{'path':<20} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name, samples in rows.items():
        p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
        print(f"{name:<20} {p50:8.2f} {p99:8.2f} {statistics.fmean(samples):8.2f}")


if __name__ == "__main__":
    asyncio.run(main())
