"""Pruner.prune latency: in-process cache vs the Redis store (hit, miss), and with Redis down or hung.

Usage: .venv/bin/python bench/redis_store.py [--n 200]
Starts its own redis-server on a free loopback port (no persistence) and stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time

from sidecar.config import CacheConfig, Config
from sidecar.pruning.service import Pruner
from sidecar.pruning.types import PruneOptions

GOAL = "fix parse_retry_alpha so that it honours the limit"
OPTS = PruneOptions(keep_ratio=0.3)


def text(seed: str, n: int = 120) -> str:
    out = [f'"""Module {seed}."""', "", "import os", ""]
    for i in range(n):
        out += [
            f"def helper_{seed}_{i}(value, limit={i}):",
            f"    total = compute_{i}(value) + {i}",
            "    return total",
            "",
        ]
    return "\n".join(out)


def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def timed(pruner: Pruner, texts: list[str]) -> list[float]:
    out = []
    for t in texts:
        started = time.perf_counter()
        await pruner.prune(t, GOAL, options=OPTS)
        out.append((time.perf_counter() - started) * 1000)
    return out


def row(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"| {name:<44} | {len(ms):>4} | {statistics.median(ms):>8.3f} | {p99:>8.3f} | {ms[-1]:>8.3f} |")


async def main(n: int) -> None:
    p = port()
    tmp = tempfile.mkdtemp()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(p),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            tmp,
        ],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    url = f"redis://127.0.0.1:{p}/0"
    texts = [text(f"s{i}") for i in range(n)]
    print(f"text: {len(texts[0])} chars, {len(texts[0].splitlines())} lines; redis-server 127.0.0.1:{p}")
    print("| case | n | median ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    try:
        mem = Pruner(Config(), env={})
        await mem.start()
        row("memory: miss (heuristic runs)", await timed(mem, texts))
        row("memory: hit", await timed(mem, texts))
        await mem.aclose()
        a = Pruner(Config(cache=CacheConfig(url=url)), env={})
        b = Pruner(Config(cache=CacheConfig(url=url)), env={})
        await a.start()
        await b.start()
        row("redis: miss on replica A (runs, stores)", await timed(a, texts))
        row("redis: hit on replica B (from Redis)", await timed(b, texts))
        row("redis: hit on replica A again", await timed(a, texts))
        proc.send_signal(signal.SIGSTOP)
        hung = [text(f"h{i}") for i in range(n)]
        first = await timed(a, hung[:1])
        row("redis hung (SIGSTOP): the call that meets it", first)
        row("redis hung: next calls (grace, Redis skipped)", await timed(a, hung[1:]))
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait()
        await asyncio.sleep(0.3)
        down = [text(f"d{i}") for i in range(n)]
        row("redis killed: misses (in-process only)", await timed(a, down))
        row("redis killed: hits (in-process only)", await timed(a, down))
        h = a.health()
        print(f"\nreplica A: redis_errors={h.redis_errors} redis_fallback_active={h.redis_fallback_active}")
        await a.aclose()
        await b.aclose()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    asyncio.run(main(parser.parse_args().n))
