#!/usr/bin/env python3
"""Proxy overhead, every system in one run: the fake upstream direct, nginx, a minimal aiohttp forwarder,
the sidecar (pruning enabled, nothing to prune), the sidecar with telemetry exporting, LiteLLM.

usage: .venv/bin/python bench/overhead.py [--requests 20000] [--concurrency 32] [--rounds 2]
                                          [--no-litellm] [--no-nginx] [--no-telemetry]

Load comes from `hey` (Debian package `hey`). nginx comes from Debian's `nginx-light`. LiteLLM is
installed as `litellm[proxy]==1.106.2` in its own venv under bench/.cache (skipped when it cannot be).
Machines here are noisy: systems are interleaved round by round and medians reported; compare ratios.
Also measured: streaming (a chunk every 20 ms: each chunk's lag behind the upstream, median and p99,
and time-to-first-byte overhead) and the sidecar's resident memory after the load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from harness import Procs, cpu_seconds, free_port, wait_port

PY = sys.executable
CACHE = ROOT / "bench" / ".cache"
LITELLM_VERSION = "1.106.2"
BODY = json.dumps({"model": "gpt-test", "messages": [{"role": "user", "content": "Say hello in one word."}]})


def hey(url: str, n: int, c: int, headers: dict[str, str]) -> dict[str, float]:
    argv = ["hey", "-n", str(n), "-c", str(c), "-m", "POST", "-T", "application/json", "-d", BODY]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    out = subprocess.run(argv + [url], capture_output=True, text=True, timeout=600).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = float(re.search(r"50%% in ([\d.]+) secs".replace("%%", "%"), out).group(1)) * 1000  # type: ignore[union-attr]
    p99 = float(re.search(r"99% in ([\d.]+) secs", out).group(1)) * 1000  # type: ignore[union-attr]
    codes = dict(re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
    errors = sum(int(v) for k, v in codes.items() if k != "200")
    return {"rps": rps, "p50": p50, "p99": p99, "errors": errors}


def nginx_conf(prefix: Path, port: int, upstream_port: int) -> Path:
    conf = prefix / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fcgi; uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
    upstream fake {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://fake;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
""")
    return conf


def litellm_bin() -> Path | None:
    venv = CACHE / "litellm-venv"
    exe = venv / "bin" / "litellm"
    if exe.exists():
        return exe
    print(f"installing litellm[proxy]=={LITELLM_VERSION} into {venv} (once)...", flush=True)
    subprocess.run([PY, "-m", "venv", str(venv)], check=True)
    proc = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", f"litellm[proxy]=={LITELLM_VERSION}"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 or not exe.exists():
        print("litellm could not be installed; its row is skipped", flush=True)
        return None
    return exe


def cpu_s(pid: int) -> float:
    """CPU seconds used so far by a process (0 when it is not measured)."""
    return cpu_seconds(pid) if pid else 0.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def stream_lags(url: str, fake_sent: list[float], headers: dict[str, str], n: int) -> dict[str, float]:
    """Stream n completions; per chunk, the lag between the fake writing it and the client reading it."""
    body = json.dumps({"model": "gpt-test", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    lags: list[float] = []
    ttfbs: list[float] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            fake_sent.clear()
            arrivals: list[float] = []
            started = time.monotonic()
            async with session.post(url, data=body, headers=headers) as resp:
                async for _chunk in resp.content.iter_any():
                    arrivals.append(time.monotonic())
            ttfbs.append((arrivals[0] - started) * 1000)
            sent = list(fake_sent)
            if len(arrivals) == len(sent):
                lags += [(a - s) * 1000 for a, s in zip(arrivals, sent, strict=True)]
            else:  # coalesced reads: match each sent chunk to the first arrival after it
                lags += [(min((a for a in arrivals if a >= s), default=s) - s) * 1000 for s in sent]
    lags.sort()
    return {
        "lag_p50": statistics.median(lags),
        "lag_p99": lags[int(len(lags) * 0.99) - 1],
        "ttfb_p50": statistics.median(ttfbs),
        "chunks": len(lags),
    }


async def streaming_section(targets: dict[str, str]) -> dict[str, dict[str, float]]:
    """Run a chunk-every-20-ms fake in this process, and stream through each path to it."""
    sys.path.insert(0, str(ROOT))
    from sidecar.testing.fake_upstream import FakeUpstream

    fake = FakeUpstream(chunk_ms=20, record=False, port=STREAM_FAKE_PORT)
    await fake.start()
    results: dict[str, dict[str, float]] = {}
    try:
        sent = fake.chunk_sent_at
        for name, url in targets.items():
            fake.chunk_sent_at.clear()
            results[name] = await stream_lags(url, sent, HEADERS, n=15)  # type: ignore[arg-type]
    finally:
        await fake.stop()
    return results


HEADERS = {"Authorization": "Bearer sk-bench-master"}
STREAM_FAKE_PORT = free_port()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=20000, help="requests per system per round")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-litellm", action="store_true")
    ap.add_argument("--no-nginx", action="store_true")
    ap.add_argument("--no-telemetry", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if not shutil.which("hey"):
        sys.exit("hey is not installed: apt-get install -y hey")
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="sidecar-bench-"))
    sidecar_env = {"SIDECAR_CONFIG": str(tmp / "none.toml")}
    (tmp / "none.toml").write_text("")

    with Procs() as procs:
        fake_port = free_port()
        fake_proc = procs.start(
            [PY, "-m", "sidecar", "fake-upstream", "--port", str(fake_port)], CACHE / "fake.log"
        )
        wait_port(fake_port)
        fake_url = f"http://127.0.0.1:{fake_port}"
        stream_fake_url = f"http://127.0.0.1:{STREAM_FAKE_PORT}"
        paths: dict[str, int] = {"direct": fake_port}
        pids: dict[str, int] = {"direct": fake_proc.pid}
        stream_targets: dict[str, str] = {"direct": stream_fake_url + "/v1/chat/completions"}

        if not args.no_nginx and shutil.which("nginx"):
            for label, upstream_port in (("nginx", fake_port), ("nginx-stream", STREAM_FAKE_PORT)):
                port = free_port()
                prefix = tmp / label
                prefix.mkdir()
                proc = procs.start(
                    [
                        "nginx",
                        "-p",
                        str(prefix),
                        "-c",
                        str(nginx_conf(prefix, port, upstream_port)),
                        "-g",
                        "daemon off;",
                    ],
                    CACHE / f"{label}.log",
                )
                if label == "nginx":
                    paths["nginx"] = port
                    pids["nginx"] = 0  # master + worker: not measured
                else:
                    stream_targets["nginx"] = f"http://127.0.0.1:{port}/v1/chat/completions"

        for label, upstream in (("minimal aiohttp", fake_url), ("minimal-stream", stream_fake_url)):
            port = free_port()
            proc = procs.start(
                [PY, str(ROOT / "bench" / "minimal_forwarder.py"), str(port), upstream],
                CACHE / f"{label.replace(' ', '-')}.log",
            )
            if label == "minimal aiohttp":
                paths[label] = port
                pids[label] = proc.pid
            else:
                stream_targets["minimal aiohttp"] = f"http://127.0.0.1:{port}/v1/chat/completions"

        sidecar_pid = 0
        for label, upstream in (("sidecar", fake_url), ("sidecar-stream", stream_fake_url)):
            port = free_port()
            proc = procs.start(
                [PY, "-m", "sidecar", "serve", "--port", str(port), "--upstream", upstream],
                CACHE / f"{label}.log",
                env=sidecar_env,
            )
            if label == "sidecar":
                paths[label] = port
                pids[label] = sidecar_pid = proc.pid
            else:
                stream_targets["sidecar"] = f"http://127.0.0.1:{port}/v1/chat/completions"

        if not args.no_telemetry:
            collector = start_collector(procs)
            if collector:
                port = free_port()
                otel = procs.start(
                    [PY, "-m", "sidecar", "serve", "--port", str(port), "--upstream", fake_url],
                    CACHE / "sidecar-otel.log",
                    env={
                        **sidecar_env,
                        "OTEL_EXPORTER_OTLP_ENDPOINT": collector,
                        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                        "OTEL_SERVICE_NAME": "sidecar-bench",
                    },
                )
                paths["sidecar + telemetry"] = port
                pids["sidecar + telemetry"] = otel.pid

        if not args.no_litellm:
            exe = litellm_bin()
            if exe is not None:
                port = free_port()
                conf = tmp / "litellm.yaml"
                conf.write_text(
                    "model_list:\n  - model_name: gpt-test\n    litellm_params:\n"
                    "      model: openai/gpt-test\n"
                    f"      api_base: {fake_url}/v1\n      api_key: sk-fake\n"
                )
                lite = procs.start(
                    [str(exe), "--config", str(conf), "--port", str(port), "--num_workers", "1"],
                    CACHE / "litellm.log",
                    env={
                        "LITELLM_MASTER_KEY": "sk-bench-master",
                        "LITELLM_TELEMETRY": "False",
                        "LITELLM_LOG": "ERROR",
                    },
                )
                paths["litellm 1 worker"] = port
                pids["litellm 1 worker"] = lite.pid

        for port in paths.values():
            wait_port(port, 120)
        for url in stream_targets.values():
            port = int(url.split(":")[2].split("/")[0])
            if port != STREAM_FAKE_PORT:  # that fake starts in this process, for the streaming section
                wait_port(port, 60)

        # Warm up, then interleave the systems round by round.
        results: dict[str, list[dict[str, float]]] = {name: [] for name in paths}
        for name, port in paths.items():
            n = 200 if "litellm" in name else 2000
            hey(f"http://127.0.0.1:{port}/v1/chat/completions", n, args.concurrency, HEADERS)
        for rnd in range(args.rounds):
            for name, port in paths.items():
                n = min(args.requests, 3000) if "litellm" in name else args.requests
                cpu_before = cpu_s(pids.get(name, 0))
                r = hey(f"http://127.0.0.1:{port}/v1/chat/completions", n, args.concurrency, HEADERS)
                r["cpu_us"] = (
                    (cpu_s(pids.get(name, 0)) - cpu_before) / n * 1e6 if pids.get(name) else float("nan")
                )
                results[name].append(r)
                print(
                    f"round {rnd + 1} {name:>22}: {r['rps']:>9.0f} req/s  p50 {r['p50']:6.1f} ms  "
                    f"p99 {r['p99']:6.1f} ms  errors {r['errors']:.0f}",
                    flush=True,
                )
        rss = rss_mb(sidecar_pid)
        served = sum(args.requests for _ in range(args.rounds)) + 2000
        streaming = asyncio.run(streaming_section(stream_targets))

    shutil.rmtree(tmp, ignore_errors=True)
    table = summarize(results, streaming, rss, served, args)
    print()
    print(table)
    if args.json:
        args.json.write_text(json.dumps({"load": results, "streaming": streaming, "rss_mb": rss}, indent=2))
    return 0


def start_collector(procs: Procs) -> str | None:
    """Start a real OTLP collector (rotel, from PyPI) that receives and discards; return its HTTP endpoint."""
    try:
        from telemetry_overhead import collector_command  # bench/telemetry_overhead.py
    except ImportError as exc:
        print(f"rotel collector unavailable ({exc}): telemetry row skipped", flush=True)
        return None
    grpc_port, http_port = free_port(), free_port()
    workdir = Path(tempfile.mkdtemp(prefix="sidecar-rotel-"))
    procs.start(collector_command(grpc_port, http_port, workdir), CACHE / "rotel.log")
    wait_port(http_port)
    return f"http://127.0.0.1:{http_port}"


def summarize(results, streaming, rss: float, served: int, args) -> str:
    med = {
        name: {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99", "errors", "cpu_us")}
        for name, runs in results.items()
        if runs
    }
    minimal = med.get("minimal aiohttp", {}).get("rps", float("nan"))
    lines = [
        f"Load: hey -c {args.concurrency}, {args.requests} requests a round, {args.rounds} rounds, medians; "
        "small non-streaming chat completion, nothing to prune.",
        "",
        "| path | req/s | p50 ms | p99 ms | vs minimal aiohttp | CPU µs/request (proxy process) | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in med.items():
        cpu = "-" if m["cpu_us"] != m["cpu_us"] else f"{m['cpu_us']:.0f}"
        lines.append(
            f"| {name} | {m['rps']:,.0f} | {m['p50']:.1f} | {m['p99']:.1f} | "
            f"{m['rps'] / minimal:.2f}x | {cpu} | {m['errors']:.0f} |"
        )
    if "sidecar" in med and "minimal aiohttp" in med:
        lines.append(
            f"\nCPU per request, minimal forwarder / sidecar (throughput ratio on an idle core): "
            f"{med['minimal aiohttp']['cpu_us'] / med['sidecar']['cpu_us']:.2f}"
        )
    if "sidecar" in med and "litellm 1 worker" in med:
        lines.append(
            f"\nsidecar / litellm throughput: {med['sidecar']['rps'] / med['litellm 1 worker']['rps']:.1f}x"
        )
    if "sidecar" in med and "sidecar + telemetry" in med:
        lines.append(
            f"sidecar with telemetry exporting / without: "
            f"{med['sidecar + telemetry']['rps'] / med['sidecar']['rps']:.2f}"
        )
    lines += [
        "",
        "Streaming: the upstream writes a chunk every 20 ms; lag = client read time - upstream write time.",
        "",
        "| path | chunk lag p50 ms | chunk lag p99 ms | TTFB p50 ms | chunks |",
        "|---|---|---|---|---|",
    ]
    for name, s in streaming.items():
        lines.append(
            f"| {name} | {s['lag_p50']:.2f} | {s['lag_p99']:.2f} | {s['ttfb_p50']:.2f} | {s['chunks']} |"
        )
    lines.append(f"\nsidecar resident memory after {served:,} requests: {rss:.1f} MB")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
