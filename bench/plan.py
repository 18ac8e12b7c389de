"""The second seed's benchmark for the plan runner: sequential vs parallel, streaming vs not, each mode,
stripped vs verbose prompts, against fake providers with realistic latencies, scaled down in time.

    .venv/bin/python bench/plan.py [--reps 3] [--scale 0.02] [--via-sidecar auto|yes|no]

Provider latencies are real-world seconds for one ~800-token code step (time to first token + output
at the provider's usual rate), multiplied by --scale so the whole bench takes a minute or two.
Ratios do not depend on the scale; absolute times are reported scaled (multiply by 1/scale).

Sequential/parallel and streaming rows go straight to the fake provider profile (DeepSeek-V3 for BUILD,
Groq for FAST). Mode and prompt rows go through a real in-process sidecar with routing (``--via-sidecar
auto``, the default, when sidecar.routing exists): providers are FakeUpstream profiles answering like a
model that follows output instructions (``routing_reply``), X-Sidecar-Mode picks them, and BUILD sends
small requests to Codestral as configured. With ``--via-sidecar no`` each mode row points the runner
straight at the profile the mode would use (DOUBLE-CHECK: executor plus auditor latency).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import msgspec
from aiohttp import web

from sidecar.plan import RunOptions, RunSummary, Step, parse_plan, run_plan
from sidecar.plan.client import MessageBuilder, output_kind
from sidecar.testing.fake_upstream import FakeUpstream, Profile, routing_reply

EXAMPLE = ROOT / "examples" / "plan.example.json"

# Real-world seconds for one ~800-token code step: TTFT + 800 tokens at the provider's output rate.
PROVIDER_S = {
    "groq": 0.4 + 800 / 275,  # Llama 3.3 70B on Groq: ~3.3 s
    "deepseek": 2.0 + 800 / 25,  # DeepSeek-V3: ~34 s (the seed: 150 s for 5 files sequentially)
    "codestral": 0.5 + 800 / 90,  # ~9.4 s
    "gemini": 0.6 + 300 / 180,  # Gemini Flash auditing (~300 tokens out): ~2.3 s
}
MODE_PROFILE = {"fast": "groq", "build": "deepseek", "double-check": "double-check"}
PLANNER_TOKENS_PER_S = 80.0  # the planning agent writing plan.json


def verbose_messages(step: Step, inputs: Mapping[str, str]) -> list[dict[str, str]]:
    """The unoptimised prompt the seed measured against: courtesy, restated role, an example, everything."""
    kind = output_kind(step)
    system = (
        "You are a world-class senior software engineer and a helpful, careful assistant. Please read the "
        "whole task carefully, think about it step by step, and make sure your answer is complete, "
        "correct, idiomatic, well documented and production ready. If anything is unclear, make "
        "reasonable assumptions and explain them. Thank you very much for your help!"
    )
    example = (
        "For example, if you were asked to add a function that adds two numbers, a good answer would "
        "explain the approach first, then give the code with docstrings and type hints, then explain how "
        "to test it and list possible edge cases."
    )
    want = "the complete code" if kind == "code" else "a JSON document with your analysis"
    step_doc = msgspec.json.format(msgspec.json.encode(step), indent=2).decode()
    parts = [
        f"Hello! I need your help with the following step of a larger plan. Please provide {want}.",
        example,
        f"Here is the full description of the step:\n{step_doc}",
    ]
    parts += [
        f"For context, here is the full output of the step {d}:\n{inputs[d]}" for d in step.dependencies
    ]
    parts.append("Please make sure you satisfy every validation criterion. Thanks in advance!")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def five_file_plan() -> bytes:
    steps = [
        {
            "id": f"step_{n}",
            "description": f"Write module {n} of the client library with its tests.",
            "type": "code_generation",
            "complexity": 0.6,
            "estimated_tokens": 800,
            "dependencies": [],
            "context": {"files": [f"lib/mod{n}.py"], "language": "python"},
        }
        for n in range(1, 6)
    ]
    return json.dumps({"task_id": "five-files", "description": "Five files", "steps": steps}).encode()


class Bench:
    def __init__(self, scale: float, reps: int) -> None:
        self.scale, self.reps = scale, reps
        profiles = {name: Profile(latency_ms=s * scale * 1000) for name, s in PROVIDER_S.items()}
        dc = (PROVIDER_S["deepseek"] + PROVIDER_S["gemini"]) * scale * 1000
        profiles["double-check"] = Profile(latency_ms=dc)
        self.fake = FakeUpstream(profiles=profiles, record=False, reply=routing_reply)
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-plan-"))
        self.rows: list[tuple[str, str, list[float], str]] = []
        self.sidecar_url: str | None = None
        self.sidecar: web.AppRunner | None = None
        self.n = 0

    def url(self, mode: str = "build") -> str:
        return f"{self.fake.url}/p/{MODE_PROFILE[mode]}/v1"

    async def start_sidecar(self) -> None:
        """Start a real sidecar with routing in front of the fake providers."""
        from sidecar.app import build_app, default_installers
        from sidecar.config import load_config
        from sidecar.routing.middleware import install_routing

        lines = [f'[upstream]\nurl = "{self.fake.url}"\n']
        for name in PROVIDER_S:
            os.environ[f"BENCH_PLAN_{name.upper()}_KEY"] = "sk-bench-not-a-secret"
            lines.append(
                f'[providers.{name}]\nbase_url = "{self.fake.url}/p/{name}/v1"\n'
                f'api_key_env = "BENCH_PLAN_{name.upper()}_KEY"\nmax_concurrent = 16\n'
            )
        path = self.tmp / "config.toml"
        path.write_text("\n".join(lines))
        installers = default_installers()
        if install_routing not in installers:
            installers.append(install_routing)
        self.sidecar = web.AppRunner(build_app(load_config(str(path), env={}), installers), access_log=None)
        await self.sidecar.setup()
        site = web.TCPSite(self.sidecar, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.sidecar_url = f"http://127.0.0.1:{port}/v1"

    async def once(
        self, source: bytes | Path, messages: MessageBuilder | None = None, **kw: object
    ) -> RunSummary:
        self.n += 1
        out = self.tmp / f"run{self.n}"
        if isinstance(source, bytes):
            path = self.tmp / f"plan{self.n}.json"
            path.write_bytes(source)
            source = path
        kw.setdefault("base_url", self.url())
        options = RunOptions(out_dir=out, **kw)  # type: ignore[arg-type]
        return await run_plan(source, options, messages=messages, notice=lambda _m: None)

    async def timed(
        self, label: str, variant: str, fn: Callable[[], Awaitable[RunSummary]]
    ) -> tuple[list[float], RunSummary]:
        """Run ``fn`` --reps times; add a row (notes filled in by the caller); return times and a summary."""
        times: list[float] = []
        for _ in range(self.reps):
            t0 = time.monotonic()
            summary = await fn()
            times.append(time.monotonic() - t0)
            assert summary.status == "succeeded", summary.counts
        self.rows.append((label, variant, times, ""))
        return times, summary

    def note(self, text: str) -> None:
        self.rows[-1] = (*self.rows[-1][:3], text)

    async def parallelism(self) -> None:
        for name, data in (
            ("5 independent files", five_file_plan()),
            ("example plan (8 steps)", EXAMPLE.read_bytes()),
        ):
            seq, _ = await self.timed(name, "sequential", partial(self.once, data, sequential=True))
            self.note("BUILD profile (DeepSeek-V3 latency)")
            par, _ = await self.timed(name, "parallel", partial(self.once, data))
            self.note(f"{statistics.median(seq) / statistics.median(par):.2f}x faster")
        step = PROVIDER_S["deepseek"] * self.scale
        self.rows.append(
            ("example plan (8 steps)", "critical-path bound", [4 * step], "4 steps on the longest chain")
        )

    async def streaming(self) -> None:
        data = EXAMPLE.read_bytes()
        write_s = len(data) / 4 / PLANNER_TOKENS_PER_S * self.scale  # ~4 bytes a token

        async def write_slowly(path: Path) -> None:
            pieces = 40
            size = -(-len(data) // pieces)
            with path.open("wb") as fh:
                for i in range(0, len(data), size):
                    fh.write(data[i : i + size])
                    fh.flush()
                    await asyncio.sleep(write_s / pieces)

        async def whole(mode: str) -> RunSummary:
            self.n += 1
            path = self.tmp / f"plan{self.n}.json"
            await write_slowly(path)
            return await self.once(path, base_url=self.url(mode))

        async def streamed(mode: str) -> RunSummary:
            self.n += 1
            path = self.tmp / f"plan{self.n}.json"
            writer = asyncio.get_running_loop().create_task(write_slowly(path))  # noqa: TID251
            summary = await self.once(path, streaming=True, base_url=self.url(mode))
            await writer
            return summary

        for mode in ("build", "fast"):
            label = f"plan written, then run ({mode.upper()})"
            base, _ = await self.timed(label, "wait for whole plan", partial(whole, mode))
            self.note(f"plan written over {write_s:.2f}s ({PLANNER_TOKENS_PER_S:g} tok/s)")
            fast, summary = await self.timed(label, "--streaming", partial(streamed, mode))
            gain = 1 - statistics.median(fast) / statistics.median(base)
            first = summary.first_step_start_s or 0.0
            self.note(f"{gain:.0%} less time; first step sent {first:.2f}s after the first byte")

    async def modes(self) -> None:
        data = EXAMPLE.read_bytes()
        for mode in ("fast", "build", "double-check"):
            base = self.sidecar_url or self.url(mode)
            _, summary = await self.timed(
                "mode, example plan", mode.upper(), partial(self.once, data, mode=mode, base_url=base)
            )
            providers = "+".join(sorted({r.provider or "direct" for r in summary.steps}))
            audits = sum(1 for r in summary.steps if r.audit)
            self.note(
                f"{providers}, {summary.completion_tokens} completion tok"
                + (f", {audits} audits" if audits else "")
            )

    async def prompts(self) -> None:
        data = EXAMPLE.read_bytes()
        # (variant, prompt style, X-Sidecar-Strip, output constraint): the seed's "before", then each gain.
        variants = [
            ("verbose, unconstrained", "verbose", "off", False),
            ("verbose + constraint", "verbose", "off", True),
            ("stripped + constraint", "stripped", "off", True),
        ]
        if self.sidecar_url:
            variants.insert(2, ("verbose + sidecar strip", "verbose", "on", True))
        first: RunSummary | None = None
        for variant, style, strip, constrain in variants:
            via: dict[str, str] = {"mode": "build", "base_url": self.sidecar_url} if self.sidecar_url else {}
            run = partial(
                self.once,
                data,
                messages=verbose_messages if style == "verbose" else None,
                extra_headers={"X-Sidecar-Strip": strip},
                constrain_output=constrain,
                **via,
            )
            _, summary = await self.timed("prompts, BUILD", variant, run)
            first = first or summary
            note = f"{summary.prompt_tokens} prompt + {summary.completion_tokens} completion tok"
            if summary is not first:
                p = 1 - summary.prompt_tokens / first.prompt_tokens
                c = 1 - summary.completion_tokens / max(1, first.completion_tokens)
                note += f" ({p:.0%} / {c:.0%} fewer)"
            self.note(note)

    def table(self) -> str:
        lines = [
            f"plan runner bench: time scale {self.scale:g}, {self.reps} runs each, median and [min-max]",
            f"{'scenario':<30} {'variant':<24} {'median s':>9} {'range':>15}  notes",
            "-" * 110,
        ]
        for label, variant, times, note in self.rows:
            rng = f"{min(times):.3f}-{max(times):.3f}" if len(times) > 1 else ""
            lines.append(f"{label:<30} {variant:<24} {statistics.median(times):9.3f} {rng:>15}  {note}")
        return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--scale", type=float, default=0.02, help="time scale for provider latencies")
    parser.add_argument("--via-sidecar", choices=["auto", "yes", "no"], default="auto")
    args = parser.parse_args()
    routing = importlib.util.find_spec("sidecar.routing.middleware") is not None
    parse_plan(EXAMPLE.read_bytes())  # fail fast on a broken example
    bench = Bench(args.scale, args.reps)
    await bench.fake.start()
    if args.via_sidecar == "yes" or (args.via_sidecar == "auto" and routing):
        await bench.start_sidecar()
    try:
        await bench.parallelism()
        await bench.streaming()
        await bench.modes()
        await bench.prompts()
    finally:
        if bench.sidecar is not None:
            await bench.sidecar.cleanup()
        await bench.fake.stop()
    via = (
        f"modes and prompts through a real sidecar ({bench.sidecar_url})"
        if bench.sidecar_url
        else "no sidecar"
    )
    print(bench.table())
    print(
        f"({via}; provider latencies x{args.scale:g}: "
        + ", ".join(f"{n} {s * args.scale:.3f}s" for n, s in PROVIDER_S.items())
        + ")"
    )


if __name__ == "__main__":
    asyncio.run(main())
