#!/usr/bin/env python3
"""Telemetry overhead: one sidecar with telemetry off, one exporting over OTLP to a real local collector.

usage: .venv/bin/python bench/telemetry_overhead.py [--requests 20000] [--concurrency 32] [--rounds 3]
                                                   [--protocol http/protobuf|grpc]

Workloads, both through the full sidecar (telemetry, pruner, pruning middleware):
  small  a one-line chat completion: a server span, a GenAI client span, the gen_ai.* metrics
  prune  two ~7 KB tool outputs pruned on every call (cache hits after the first): two prune spans more
The collector is rotel (PyPI ``rotel``) with OTLP receivers on loopback and its blackhole exporter: the
sidecar pays the whole export (batching, protobuf encoding, HTTP or gRPC), the collector discards.
Load comes from ``hey`` (Debian package ``hey``). Rounds interleave off/on; medians reported, plus the
sidecar's CPU time per request (from /proc), which is steadier than req/s on a noisy machine.

For bench/overhead.py: ``collector_command(grpc_port, http_port, workdir)`` is the collector's argv, and
``telemetry_env(endpoint)`` the environment that turns telemetry on for ``sidecar serve`` (once
install_telemetry is among app.default_installers; until then ``sidecar_command`` runs this script's
``serve``, which installs it explicitly).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
HEADERS = {"Authorization": "Bearer sk-bench"}
sys.path.insert(0, str(ROOT / "bench"))
from harness import Procs, cpu_seconds, free_port, wait_port


def collector_command(grpc_port: int, http_port: int, workdir: Path) -> list[str]:
    """Return the argv of a rotel collector: OTLP gRPC and HTTP receivers on loopback, data discarded."""
    import rotel

    return [
        str(Path(rotel.__file__).parent / "rotel-agent"),
        "start",
        "--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}",
        "--otlp-http-endpoint", f"127.0.0.1:{http_port}",
        "--exporter", "blackhole",
        "--pid-file", str(workdir / "rotel.pid"),
        "--log-file", str(workdir / "rotel.log"),
    ]  # fmt: skip


def telemetry_env(endpoint: str, protocol: str = "http/protobuf") -> dict[str, str]:
    """Return the environment that makes a sidecar export traces and metrics to ``endpoint``."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_SERVICE_NAME": "sidecar-bench",
    }


def sidecar_command(port: int, upstream: str) -> list[str]:
    """Return the argv of a full sidecar (telemetry installed explicitly) on ``port``."""
    return [PY, str(Path(__file__).resolve()), "serve", "--port", str(port), "--upstream", upstream]


def serve(port: int, upstream: str) -> None:
    """Run a full sidecar until SIGTERM: telemetry (from OTEL_*), pruner, pruning middleware."""
    import asyncio
    import signal

    from aiohttp import web

    from sidecar.app import build_app
    from sidecar.config import load_config
    from sidecar.pruning.lifecycle import install_pruner
    from sidecar.pruning.middleware import install_pruning
    from sidecar.server import make_runner
    from sidecar.telemetry.middleware import install_telemetry

    async def main() -> None:
        config = load_config(env={**os.environ, "SIDECAR_UPSTREAM_URL": upstream})
        app = build_app(config, installers=[install_telemetry, install_pruner, install_pruning])
        runner = make_runner(app, 5.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())


def hey(url: str, body: Path, n: int, c: int) -> dict[str, float]:
    argv = ["hey", "-n", str(n), "-c", str(c), "-m", "POST", "-T", "application/json", "-D", str(body)]
    for k, v in HEADERS.items():
        argv += ["-H", f"{k}: {v}"]
    out = subprocess.run(argv + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = float(re.search(r"50% in ([\d.]+) secs", out).group(1)) * 1000  # type: ignore[union-attr]
    p99 = float(re.search(r"99% in ([\d.]+) secs", out).group(1)) * 1000  # type: ignore[union-attr]
    ok = sum(int(m) for m in re.findall(r"\[200\]\s+(\d+) responses", out))
    return {"rps": rps, "p50": p50, "p99": p99, "errors": (n // c) * c - ok}


def tool_output(name: str) -> str:
    lines = [f"# {name}.py"]
    for i in range(180):
        lines.append(f"def {name}_{i}(x):" if i % 6 == 0 else f"    x = x * {i} + len('{name}')  # step {i}")
    return "\n".join(lines)


def bodies(tmp: Path) -> dict[str, Path]:
    small = {"model": "gpt-test", "messages": [{"role": "user", "content": "Say hello in one word."}]}
    calls = [
        {"id": f"c{i}", "type": "function", "function": {"name": "read", "arguments": "{}"}} for i in (1, 2)
    ]
    prune = {
        "model": "gpt-test",
        "messages": [
            {"role": "user", "content": "Fix alpha_42 so it handles negative input."},
            {"role": "assistant", "content": None, "tool_calls": calls},
            {"role": "tool", "tool_call_id": "c1", "content": tool_output("alpha")},
            {"role": "tool", "tool_call_id": "c2", "content": tool_output("beta")},
        ],
    }
    out = {}
    for name, doc in (("small", small), ("prune", prune)):
        out[name] = tmp / f"{name}.json"
        out[name].write_text(json.dumps(doc))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    sv = sub.add_parser("serve", help="run one sidecar (used by the benchmark itself)")
    sv.add_argument("--port", type=int, required=True)
    sv.add_argument("--upstream", required=True)
    ap.add_argument("--requests", type=int, default=20000, help="requests per workload, mode and round")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--protocol", choices=("http/protobuf", "grpc"), default="http/protobuf")
    args = ap.parse_args()
    if args.cmd == "serve":
        serve(args.port, args.upstream)
        return 0
    if not shutil.which("hey"):
        sys.exit("hey is not installed: apt-get install -y hey")
    tmp = Path(tempfile.mkdtemp(prefix="sidecar-telemetry-bench-"))
    (tmp / "none.toml").write_text("")
    base_env = {"SIDECAR_CONFIG": str(tmp / "none.toml")}
    payloads = bodies(tmp)
    with Procs() as procs:
        fake_port, grpc_port, http_port = free_port(), free_port(), free_port()
        procs.start([PY, "-m", "sidecar", "fake-upstream", "--port", str(fake_port)], tmp / "fake.log")
        procs.start(collector_command(grpc_port, http_port, tmp), tmp / "collector.log")
        wait_port(fake_port)
        wait_port(http_port)
        endpoint = f"http://127.0.0.1:{grpc_port if args.protocol == 'grpc' else http_port}"
        sidecars: dict[str, tuple[int, int]] = {}
        modes = {
            "off": {},
            "on": telemetry_env(endpoint, args.protocol),  # the default sampler: <= 100 new traces/s
            "always": {
                **telemetry_env(endpoint, args.protocol),
                "OTEL_TRACES_SAMPLER": "parentbased_always_on",
            },
        }
        for mode, env in modes.items():
            port = free_port()
            proc = procs.start(
                sidecar_command(port, f"http://127.0.0.1:{fake_port}"),
                tmp / f"sidecar-{mode}.log",
                {**base_env, **env},
            )
            sidecars[mode] = (port, proc.pid)
        for port, _ in sidecars.values():
            wait_port(port)
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        for port, _ in sidecars.values():  # warm-up: connections, caches, code paths
            for body in payloads.values():
                hey(f"http://127.0.0.1:{port}/v1/chat/completions", body, 2000, args.concurrency)
        for rnd in range(args.rounds):
            for workload, body in payloads.items():
                for mode, (port, pid) in sidecars.items():
                    before = cpu_seconds(pid)
                    r = hey(
                        f"http://127.0.0.1:{port}/v1/chat/completions", body, args.requests, args.concurrency
                    )
                    r["cpu_us"] = (cpu_seconds(pid) - before) / args.requests * 1e6
                    results.setdefault((workload, mode), []).append(r)
                    print(
                        f"round {rnd + 1} {workload:>5} telemetry {mode:>3}: {r['rps']:8.0f} req/s  "
                        f"p50 {r['p50']:5.1f} ms  p99 {r['p99']:5.1f} ms  cpu {r['cpu_us']:6.0f} us/req  "
                        f"errors {r['errors']:.0f}",
                        flush=True,
                    )
        logs = {mode: (tmp / f"sidecar-{mode}.log").read_text() for mode in sidecars}
    shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(
        f"hey -c {args.concurrency}, {args.requests} requests per run, {args.rounds} rounds interleaved, "
        f"medians; on = OTLP {args.protocol} to rotel (blackhole exporter), default sampler "
        "(parentbased_ratelimiting, 100 new traces/s); always = every request traced (parentbased_always_on)"
    )
    print("| workload | telemetry | req/s | p50 ms | p99 ms | sidecar CPU us/req | req/s vs off |")
    print("|---|---|---|---|---|---|---|")
    for workload in payloads:
        med = {
            mode: {
                k: statistics.median(r[k] for r in results[(workload, mode)])
                for k in ("rps", "p50", "p99", "cpu_us")
            }
            for mode in sidecars
        }
        for mode, m in med.items():
            ratio = f"{m['rps'] / med['off']['rps']:.2f}" if mode != "off" else ""
            row = [
                workload,
                mode,
                f"{m['rps']:.0f}",
                f"{m['p50']:.1f}",
                f"{m['p99']:.1f}",
                f"{m['cpu_us']:.0f}",
                ratio,
            ]
            print("| " + " | ".join(row) + " |")
    for mode, text in logs.items():
        if "drop" in text.lower() or "Traceback" in text:
            print(f"\nwarning: the {mode} sidecar logged drops or errors")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
