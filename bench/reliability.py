#!/usr/bin/env python3
"""Reliability under load: hostile input, faults, slow clients, memory with the k8s config, shutdown.

usage: .venv/bin/python bench/reliability.py [--seconds 30] [--concurrency 64] [--baseline REF]
                                             [--only memory,hostile,faults,slow,big,shutdown,stale]
                                             [--stale-seconds 20] [--stale-idle 0.2]
                                             [--stale-spread 0.025] [--stale-clients 16]

Each phase runs a real `sidecar serve` process (its log captured), the fake upstream and the fake
DeepInfra in this process, redis-server and a rotel OTLP collector as processes. A probe asks
/sidecar/healthz every 100 ms throughout; every phase reports its slowest answer (bar: 200 ms).

    memory    the k8s config (64 MiB cache, 128 MiB recover store), C agents sending unique tool outputs
              (emoji-heavy, then ASCII) for S seconds: peak RSS (bar: the caps + 128 MiB, under the
              pod's 512 MiB limit)
    hostile   every input of sidecar.testing.hostile (deep/huge/odd JSON x headers and modes x paths,
              raw HTTP oddities, JSON-RPC bodies) while 16 agents send ordinary requests: no 5xx from
              the sidecar, no sentinel in its DEBUG log
    faults    C agents for S seconds while upstream faults (1 request in 4), Redis SIGSTOP/SIGCONT/SIGKILL,
              DeepInfra 500/slow/drop/NaN and the OTLP collector killed: healthy requests all 200
    slow      1000 slowloris connections (a header byte a second) amid ordinary traffic: all closed by
              server.header_timeout_s, ordinary requests all served
    big       one request of 10,000 tool outputs (27 MB): time the sidecar added, health probes meanwhile
    shutdown  SIGTERM with 40 s streams in flight, drain 1 s + timeout 5 s: time to exit; then idle
              with the collector down
    stale     an upstream (the fake's app) closing keep-alive connections idle for T = 0.2 s, the sidecar's
              default pool (30 s keepalive); 16 agents in lockstep, each sending after its own gap in
              T +- 2.5% (seeded): requests that meet the upstream's close on a pooled connection. 200s,
              502s and the resends counted (``stale_connection`` in /sidecar/health), per sidecar

``--baseline REF`` runs memory, big, shutdown and stale a second time on the sources of another commit
(git archive into bench/.cache), side by side: the numbers before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from harness import free_port

from sidecar.testing.fake_deepinfra import DEFAULT_MODEL_PATH, FakeDeepInfra
from sidecar.testing.hostile import (
    SENTINEL_KEY,
    SENTINEL_TEXT,
    chat_bodies,
    chat_paths,
    header_sets,
    mcp_bodies,
    raw_requests,
)

CACHE = ROOT / "bench" / ".cache"
K8S_CONFIG = ROOT / "deploy" / "k8s" / "base" / "config.toml"
MiB = 1024 * 1024
HEALTHZ_BAR_S = 0.2


class Serve:
    """A `sidecar serve` process: started with a config and an environment, log kept, always stopped."""

    def __init__(
        self, workdir: Path, toml: str, env: dict[str, str], source: Path = ROOT, upstream: str | None = None
    ) -> None:
        self.port = free_port()
        self.workdir, self.toml, self.env, self.source = workdir, toml, env, source
        self.upstream = ["--upstream", upstream] if upstream else []
        self.log = workdir / f"sidecar-{self.port}.log"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Serve:
        config = self.workdir / f"config-{self.port}.toml"
        config.write_text(self.toml)
        env = {**os.environ, "PYTHONPATH": str(self.source), **self.env}
        argv = ["-m", "sidecar", "serve", "--port", str(self.port), "--config", str(config), *self.upstream]
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=self.log.open("wb"),
            env=env,
            cwd=self.workdir,
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        if b"listening on" not in line:
            raise RuntimeError(f"sidecar did not start: {self.log.read_text()[-2000:]}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 60)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    def rss_mib(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def leaks(self) -> int:
        text = self.log.read_text(errors="replace")
        return text.count(SENTINEL_KEY[:12]) + text.count(SENTINEL_TEXT)


PROBE = """
import json, sys, threading, time, urllib.request
url, times, stop = sys.argv[1], [], threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
while not stop.is_set():
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            resp.read()
        times.append(time.perf_counter() - started)
    except OSError:
        times.append(10.0)
    stop.wait(0.1)
print(json.dumps(times))
"""


class Probe:
    """Ask /sidecar/healthz every 100 ms from a process of its own (this one's loop is busy with load)."""

    def __init__(self, url: str) -> None:
        self.url, self.times = url + "/sidecar/healthz", []
        self._proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Probe:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            PROBE,
            self.url,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._proc is not None:
            out, _ = await self._proc.communicate(b"")
            self.times = json.loads(out or b"[]")

    def summary(self) -> str:
        worst = max(self.times, default=0.0) * 1000
        over = sum(t > HEALTHZ_BAR_S for t in self.times)
        p99 = pct(self.times, 0.99)
        return f"{len(self.times)} probes: p99 {p99:.0f} ms, worst {worst:.0f} ms, {over} over 200 ms"


IDLE_CLOSING_UPSTREAM = """
import asyncio, sys
from aiohttp import web
from sidecar.testing.fake_upstream import FakeUpstream
async def main():
    port, idle = int(sys.argv[1]), float(sys.argv[2])
    app = FakeUpstream(record=False).app()
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, keepalive_timeout=idle)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()
asyncio.run(main())
"""


class Fake:
    """The fake upstream as a process (`sidecar fake-upstream`): its work stays out of this process."""

    def __init__(self, chunk_ms: float = 0.0, idle_close_s: float | None = None) -> None:
        self.port, self.chunk_ms, self.idle_close_s = free_port(), chunk_ms, idle_close_s
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> Fake:
        argv = [sys.executable, "-m", "sidecar", "fake-upstream", "--port", str(self.port)]
        argv += ["--chunk-ms", str(self.chunk_ms)]
        if self.idle_close_s is not None:  # the same app, its server closing idle connections sooner
            argv = [sys.executable, "-c", IDLE_CLOSING_UPSTREAM, str(self.port), str(self.idle_close_s)]
        self._proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return self
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError("fake upstream did not start")

    async def __aexit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)


def tool_output(i: int, chars: int, emoji: bool) -> str:
    mark = " 🚀✅😀 ünïcödé ✨" if emoji else " build ok"
    line = f"{i:08d} 2026-01-01 INFO step compiled module_%d.o{mark} in 3ms\n"
    rows = [line % j for j in range(chars // len(line) + 1)]
    rows[len(rows) // 2] = f"{i:08d} ERROR link failed: undefined symbol parse_port\n"
    return "".join(rows)[:chars]


def chat(i: int, *, chars: int = 40_000, emoji: bool = False, stream: bool = False) -> bytes:
    call = {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": '{"command":"make"}'}}
    messages = [
        {"role": "user", "content": "why does the link fail?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": tool_output(i, chars, emoji)},
    ]
    return json.dumps({"model": "gpt-test", "stream": stream, "messages": messages}).encode()


async def load(
    url: str, seconds: float, concurrency: int, make: Callable[[int], tuple[bytes, dict[str, str]]]
) -> tuple[Counter[str], list[float]]:
    """Run ``concurrency`` agents for ``seconds``; return status counts and latencies."""
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    end = time.monotonic() + seconds
    counter = iter(range(10**9))

    async def agent(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < end:
            body, headers = make(next(counter))
            started = time.perf_counter()
            try:
                async with session.post(url + "/v1/chat/completions", data=body, headers=headers) as resp:
                    await resp.read()
                    statuses[str(resp.status)] += 1
            except aiohttp.ClientPayloadError:
                statuses["cut"] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                statuses[type(exc).__name__] += 1
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(*(agent(session) for _ in range(concurrency)))
    return statuses, latencies


def unique_output(salt: int, emoji: bool, i: int) -> tuple[bytes, dict[str, str]]:
    """A chat request with a 100,000-character tool output no other request has."""
    return chat(salt * 10**6 + i, chars=100_000, emoji=emoji), {}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def baseline_source(ref: str) -> Path:
    """Extract ``sidecar/`` of commit ``ref`` into bench/.cache (once); return the directory."""
    out = CACHE / f"baseline-{ref}"
    if not (out / "sidecar").is_dir():
        data = subprocess.run(
            ["git", "-C", str(ROOT), "archive", ref, "sidecar"], capture_output=True, check=True
        )
        out.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(data.stdout)) as tar:
            tar.extractall(out, filter="data")
    return out


MEMORY_COLUMNS = ["sidecar", "tool output", "requests", "statuses", "peak RSS MiB", "final RSS MiB"]
MEMORY_COLUMNS += ["recover store MiB", "recover entries", "texts shed", "p50 ms", "healthz"]
HOSTILE_COLUMNS = ["inputs", "statuses", "sidecar 5xx", "sentinels in log", "healthz"]
FAULT_COLUMNS = ["requests", "statuses", "upstream faults injected", "DeepInfra fallbacks", "Redis errors"]
FAULT_COLUMNS += ["p50 / p99 ms", "sentinels in log", "healthz"]
SLOW_COLUMNS = ["slow connections", "closed by the server", "closed after (median)", "ordinary requests"]
SLOW_COLUMNS += ["p99 ms", "healthz"]
BIG_COLUMNS = ["sidecar", "body", "status", "X-Sidecar-Prune-Ms", "response s", "healthz"]
STALE_COLUMNS = ["sidecar", "requests", "200", "502", "other", "stale_connection (resent)"]
STALE_COLUMNS += ["upstream_errors", "p50 / p99 ms"]
SHUTDOWN_COLUMNS = ["sidecar", "bound", "exit, 20 streams in flight", "exit, idle, collector down"]


# ---- phases ---------------------------------------------------------------------------------------


async def memory(args: argparse.Namespace, work: Path, fake: Fake, source: Path, label: str) -> None:
    toml = K8S_CONFIG.read_text()  # as the pod runs it; only the upstream differs (--upstream)
    for emoji in (True, False) if not os.environ.get("BENCH_EMOJI_ONLY") else (True,):
        async with Serve(work, toml, {}, source, fake.url) as sidecar, Probe(sidecar.url) as probe:
            peak = 0.0

            async def sample() -> None:
                nonlocal peak
                while True:
                    peak = max(peak, sidecar.rss_mib())
                    await asyncio.sleep(0.5)

            sampler = asyncio.ensure_future(sample())  # noqa: TID251 - bench-local task, cancelled below
            make = functools.partial(unique_output, random.randrange(10**6), emoji)
            statuses, lat = await load(sidecar.url, args.seconds, args.concurrency, make)
            sampler.cancel()
            async with aiohttp.ClientSession() as session, session.get(sidecar.url + "/sidecar/health") as r:
                health = await r.json()
            final = sidecar.rss_mib()
        p = health["pruning"]
        kind, recover = "emoji" if emoji else "ASCII", p["recover_store_bytes"] / MiB
        row = [label, kind, sum(statuses.values()), dict(statuses), f"{peak:.0f}", f"{final:.0f}"]
        row += [
            f"{recover:.1f}",
            p["recover_store_entries"],
            p.get("calls_shed", "-"),
            f"{pct(lat, 0.5):.0f}",
        ]
        row.append(probe.summary())
        print("| " + " | ".join(map(str, row)) + " |", flush=True)


async def hostile(args: argparse.Namespace, work: Path, fake: Fake) -> None:
    keys = {f"BENCH_{name.upper()}_KEY": f"sk-{name}" for name in ("deepseek", "groq", "gemini", "codestral")}
    toml = f'[upstream]\nurl = "{fake.url}"\n[pruning]\nmin_chars_to_prune = 500\n'
    for name in ("deepseek", "groq", "gemini", "codestral"):
        toml += f'[providers.{name}]\nbase_url = "{fake.url}/p/{name}/v1"\n'
        toml += f'api_key_env = "BENCH_{name.upper()}_KEY"\n'
    env = {**keys, "SIDECAR_LOG_LEVEL": "DEBUG"}
    async with Serve(work, toml, env) as sidecar, Probe(sidecar.url) as probe:
        background = asyncio.ensure_future(  # noqa: TID251 - bench-local task, awaited below
            load(sidecar.url, 1e9, 16, lambda i: (chat(i, chars=5000), {}))
        )
        tried, own_5xx, statuses = 0, [], Counter[int]()
        async with aiohttp.ClientSession() as session:
            for case in chat_bodies():
                big = len(case.body) > MiB
                for hname, headers in header_sets():
                    for method, path in chat_paths():
                        if big and (hname not in ("plain", "strip") or path != "/v1/chat/completions"):
                            continue
                        tried += 1
                        data = io.BytesIO(case.body) if big else case.body
                        async with session.request(
                            method, sidecar.url + path, data=data, headers=headers
                        ) as r:
                            await r.read()
                            statuses[r.status] += 1
                            if r.status >= 500:
                                own_5xx.append(f"{case.name}|{hname}|{path}: {r.status}")
            for name, body in mcp_bodies():
                tried += 1
                async with session.post(sidecar.url + "/sidecar/mcp", data=body) as r:
                    statuses[r.status] += 1
                    if r.status >= 500:
                        own_5xx.append(f"mcp {name}: {r.status}")
        for name, data in raw_requests():
            tried += 1
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.port)
                writer.write(data)
                await writer.drain()
                answer = await asyncio.wait_for(reader.read(200), 3)
                writer.close()
                if answer[9:10] == b"5":
                    own_5xx.append(f"raw {name}: {answer[:12]!r}")
            except (ConnectionError, TimeoutError):
                pass
        background.cancel()
        await asyncio.gather(background, return_exceptions=True)
    row = [tried, dict(sorted(statuses.items())), len(own_5xx), sidecar.leaks(), probe.summary()]
    print("| " + " | ".join(map(str, row)) + " |")
    for line in own_5xx[:20]:
        print(f"    5xx: {line}")


async def faults(args: argparse.Namespace, work: Path, fake: Fake) -> None:
    import rotel

    reranker = FakeDeepInfra()
    await reranker.start()
    redis_port, otlp_port = free_port(), free_port()
    redis_argv = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""]
    redis = subprocess.Popen(
        redis_argv + ["--appendonly", "no", "--dir", str(work)], stdout=subprocess.DEVNULL
    )
    rotel_argv = [str(Path(rotel.__file__).parent / "rotel-agent"), "start", "--exporter", "blackhole"]
    rotel_argv += [
        "--otlp-http-endpoint",
        f"127.0.0.1:{otlp_port}",
        "--otlp-grpc-endpoint",
        f"127.0.0.1:{free_port()}",
    ]
    rotel_argv += ["--pid-file", str(work / "rotel.pid"), "--log-file", str(work / "rotel.log")]
    collector = subprocess.Popen(rotel_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await asyncio.sleep(1.0)
    env = {
        "SIDECAR_UPSTREAM_URL": fake.url,
        "KIMI_PRUNING_BACKEND": "deepinfra",
        "DEEPINFRA_API_KEY": "test-key",
        "DEEPINFRA_ENDPOINT_URL": reranker.url + DEFAULT_MODEL_PATH,
        "DEEPINFRA_TIMEOUT_MS": "300",
        "SIDECAR_CACHE_URL": f"redis://127.0.0.1:{redis_port}/0",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
    }
    toml = "[upstream]\nread_timeout_s = 2.0\n[pruning]\nmin_chars_to_prune = 500\n"
    kinds = ["status=503", "status=500", "drop-mid-stream", "stall", "stall-mid-stream"]
    faulty: dict[int, str] = {}

    def make(i: int) -> tuple[bytes, dict[str, str]]:
        if i % 4:
            return chat(i, chars=12_000, stream=i % 2 == 0), {}
        faulty[i] = kinds[i // 4 % len(kinds)]
        return chat(i, chars=12_000, stream=i % 2 == 0), {"X-Fake-Fault": faulty[i]}

    s = args.seconds
    script: list[tuple[float, str, Callable[[], object]]] = [
        (0.10 * s, "redis SIGSTOP", lambda: redis.send_signal(signal.SIGSTOP)),
        (0.20 * s, "redis SIGCONT", lambda: redis.send_signal(signal.SIGCONT)),
        (0.25 * s, "deepinfra 500", lambda: setattr(reranker, "fault", "500")),
        (0.35 * s, "deepinfra slow 2 s", lambda: setattr(reranker, "fault", "slow:2000")),
        (0.45 * s, "deepinfra drops", lambda: setattr(reranker, "fault", "drop")),
        (0.55 * s, "deepinfra NaN", lambda: setattr(reranker, "fault", "nan")),
        (0.60 * s, "deepinfra ok", lambda: setattr(reranker, "fault", None)),
        (0.65 * s, "redis SIGKILL", redis.kill),
        (0.75 * s, "collector SIGKILL", collector.kill),
    ]
    async with Serve(work, toml, env) as sidecar, Probe(sidecar.url) as probe:

        async def inject() -> None:
            started = time.monotonic()
            for at, _, act in script:
                await asyncio.sleep(max(0.0, started + at - time.monotonic()))
                act()

        (statuses, lat), _ = await asyncio.gather(load(sidecar.url, s, args.concurrency, make), inject())
        async with aiohttp.ClientSession() as session, session.get(sidecar.url + "/sidecar/health") as r:
            health = await r.json()
    await reranker.stop()
    for proc in (redis, collector):
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    p = health["pruning"]
    row = [sum(statuses.values()), dict(statuses), len(faulty), p["fallbacks_deepinfra"], p["redis_errors"]]
    row += [f"{pct(lat, 0.5):.0f} / {pct(lat, 0.99):.0f}", sidecar.leaks(), probe.summary()]
    print("| " + " | ".join(map(str, row)) + " |")
    print("    faults: " + ", ".join(f"{at:.0f} s {name}" for at, name, _ in script))


async def slow(args: argparse.Namespace, work: Path, fake: Fake) -> None:
    toml = f'[upstream]\nurl = "{fake.url}"\n'  # server.header_timeout_s: the default, 10 s
    async with Serve(work, toml, {}) as sidecar, Probe(sidecar.url) as probe:
        conns = [await asyncio.open_connection("127.0.0.1", sidecar.port) for _ in range(1000)]
        started = time.monotonic()

        async def slowloris(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> float:
            head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200
            for byte in head:
                try:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    if not await _still_open(reader):
                        return time.monotonic() - started
                except ConnectionError:
                    return time.monotonic() - started
            return float("inf")

        results = asyncio.gather(*(slowloris(r, w) for r, w in conns))
        statuses, lat = await load(sidecar.url, 15, 16, lambda i: (chat(i, chars=3000), {}))
        closed_after = await results
        for _, writer in conns:
            writer.close()
    closed = [t for t in closed_after if t != float("inf")]
    print(
        f"| 1000 | {len(closed)} | {statistics.median(closed) if closed else 0:.1f} s | "
        f"{dict(statuses)} | {pct(lat, 0.99):.0f} | {probe.summary()} |"
    )


async def _still_open(reader: asyncio.StreamReader) -> bool:
    try:
        await asyncio.wait_for(reader.read(1), 1.0)
    except TimeoutError:
        return True
    return False


async def big(args: argparse.Namespace, work: Path, fake: Fake, source: Path, label: str) -> None:
    messages: list[object] = [{"role": "user", "content": "why does the build fail?"}]
    for i in range(10_000):
        call = {
            "id": f"c{i}",
            "type": "function",
            "function": {"name": "bash", "arguments": '{"command":"make"}'},
        }
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": f"c{i}", "content": tool_output(i, 2600, False)})
    body = json.dumps({"model": "m", "messages": messages}).encode()
    async with (
        Serve(work, f'[upstream]\nurl = "{fake.url}"\n', {}, source) as sidecar,
        Probe(sidecar.url) as probe,
    ):
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        async with aiohttp.ClientSession() as session:
            async with session.post(sidecar.url + "/v1/chat/completions", data=io.BytesIO(body)) as r:
                await r.read()
                added, status = r.headers.get("X-Sidecar-Prune-Ms", "-"), r.status
        took = time.perf_counter() - started
        await asyncio.sleep(3)  # the rest is pruned in the background: probes go on
    print(f"| {label} | {len(body) / 1e6:.1f} MB | {status} | {added} | {took:.2f} | {probe.summary()} |")


async def shutdown(args: argparse.Namespace, work: Path, source: Path, label: str) -> None:
    streamer = await Fake(chunk_ms=5000).__aenter__()  # 8 chunks: a 40 s stream
    toml = f'[upstream]\nurl = "{streamer.url}"\n[server]\ndrain_delay_s = 1.0\nshutdown_timeout_s = 5.0\n'
    sidecar = Serve(work, toml, {}, source)
    await sidecar.__aenter__()
    assert sidecar.proc is not None
    body = chat(0, chars=100, stream=True)
    async with aiohttp.ClientSession() as session:
        streams = [await session.post(sidecar.url + "/v1/chat/completions", data=body) for _ in range(20)]
        started = time.monotonic()
        sidecar.proc.send_signal(signal.SIGTERM)
        await sidecar.proc.wait()
        with_streams = time.monotonic() - started
        for s in streams:
            s.close()
    await streamer.__aexit__()
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}"}  # nothing listens there
    idle = Serve(work, "[server]\nshutdown_timeout_s = 5.0\n", env, source)
    await idle.__aenter__()
    assert idle.proc is not None
    started = time.monotonic()
    idle.proc.send_signal(signal.SIGTERM)
    await idle.proc.wait()
    print(f"| {label} | 1 + 5 = 6 s | {with_streams:.1f} s | {time.monotonic() - started:.1f} s |")


async def stale(args: argparse.Namespace, work: Path, source: Path, label: str) -> None:
    """Agents in lockstep against an upstream that closes connections idle for T: how many races end in 502.

    aiohttp's pool hands out the connection idle the longest, and it only grows with concurrency: agents
    sending on their own, even with gaps around T, reuse connections idle far less than T and never meet
    the upstream's close (16 such agents, T = 0.5 s, gaps 0.8-1.2 T: no race in 30 s). A round of ``clients``
    concurrent requests leaves as many connections idle from the same instant; each agent then waits its
    own gap, uniform in T +- spread (seeded, the same on both sides), and takes one of them: the gaps set
    the idle times, and those just over T are requests the upstream's close meets on their way.
    """
    idle, clients = args.stale_idle, args.stale_clients
    lo, hi = idle * (1 - args.stale_spread), idle * (1 + args.stale_spread)
    rng = random.Random(0)
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    rounds = 0

    async def send(session: aiohttp.ClientSession, url: str, delay: float, i: int) -> None:
        await asyncio.sleep(delay)
        started = time.perf_counter()
        try:
            async with session.post(url + "/v1/chat/completions", data=chat(i, chars=2000)) as resp:
                await resp.read()
                statuses[str(resp.status)] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            statuses[type(exc).__name__] += 1
        latencies.append(time.perf_counter() - started)

    async def upstream_errors(url: str) -> dict[str, int]:
        async with aiohttp.ClientSession() as session, session.get(url + "/sidecar/health") as r:
            errors: dict[str, int] = (await r.json())["proxy"]["upstream_errors"]
        return errors

    async with (
        Fake(idle_close_s=idle) as upstream,
        Serve(work, f'[upstream]\nurl = "{upstream.url}"\n', {}, source) as sidecar,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
    ):
        started = time.monotonic()
        report = started + 5
        while time.monotonic() < started + args.stale_seconds:
            rounds += 1
            gaps = [rng.uniform(lo, hi) for _ in range(clients)]
            await asyncio.gather(
                *(send(session, sidecar.url, g, rounds * clients + n) for n, g in enumerate(gaps))
            )
            if time.monotonic() >= report:
                report += 5
                print(
                    f"    {label}, {time.monotonic() - started:.0f} s: {rounds} rounds, {dict(statuses)}, "
                    f"upstream_errors {await upstream_errors(sidecar.url)}",
                    flush=True,
                )
        errors = await upstream_errors(sidecar.url)
    other = {k: v for k, v in statuses.items() if k not in ("200", "502")}
    row = [label, sum(statuses.values()), statuses["200"], statuses["502"], other or "-"]
    row += [
        errors.get("stale_connection", 0),
        errors or "-",
        f"{pct(latencies, 0.5):.1f} / {pct(latencies, 0.99):.1f}",
    ]
    print("| " + " | ".join(map(str, row)) + " |", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="load duration of memory and faults")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--baseline", default=None, help="also run memory, big, shutdown and stale on this commit"
    )
    parser.add_argument("--only", default="memory,hostile,faults,slow,big,shutdown,stale")
    parser.add_argument("--stale-seconds", type=float, default=20.0, help="stale: duration, per sidecar")
    parser.add_argument("--stale-idle", type=float, default=0.2, help="stale: the upstream's idle close T")
    parser.add_argument("--stale-spread", type=float, default=0.025, help="stale: gaps uniform in T +- this")
    parser.add_argument("--stale-clients", type=int, default=16, help="stale: agents in lockstep")
    args = parser.parse_args()
    phases = set(args.only.split(","))
    work = CACHE / "reliability"
    work.mkdir(parents=True, exist_ok=True)
    systems = [(ROOT, "this tree")] + (
        [(baseline_source(args.baseline), args.baseline)] if args.baseline else []
    )
    async with Fake() as fake:
        steps: list[tuple[str, list[str], list[Callable[[], Awaitable[None]]]]] = [
            (
                "memory",
                MEMORY_COLUMNS,
                [functools.partial(memory, args, work, fake, src, lab) for src, lab in systems],
            ),
            ("hostile", HOSTILE_COLUMNS, [functools.partial(hostile, args, work, fake)]),
            ("faults", FAULT_COLUMNS, [functools.partial(faults, args, work, fake)]),
            ("slow", SLOW_COLUMNS, [functools.partial(slow, args, work, fake)]),
            (
                "big",
                BIG_COLUMNS,
                [functools.partial(big, args, work, fake, src, lab) for src, lab in systems],
            ),
            (
                "shutdown",
                SHUTDOWN_COLUMNS,
                [functools.partial(shutdown, args, work, src, lab) for src, lab in systems],
            ),
            (
                "stale",
                STALE_COLUMNS,
                [functools.partial(stale, args, work, src, lab) for src, lab in systems],
            ),
        ]
        for name, header, runs in steps:
            if name not in phases:
                continue
            print(
                f"\n### {name}\n\n| " + " | ".join(header) + " |\n" + "|---" * len(header) + "|", flush=True
            )
            for run in runs:
                await run()


if __name__ == "__main__":
    asyncio.run(main())
