"""The second seed's benchmark for the plan runner: sequential vs parallel, streaming vs not, each mode,
stripped vs verbose prompts, against fake providers with realistic latencies, scaled down in time.

    .venv/bin/python bench/plan.py [--reps 3] [--scale 0.02] [--via-sidecar auto|yes|no]

Provider latencies are real-world seconds for one ~800-token code step (time to first token + output
at the provider's usual rate), multiplied by --scale so the whole bench takes a minute or two.
Ratios do not depend on the scale; absolute times are reported scaled (multiply by 1/scale).

Modes: with --via-sidecar (auto: when the sidecar has routing), the runner talks to a real in-process
sidecar whose providers are FakeUpstream profiles, and X-Sidecar-Mode picks them. Without it, each mode
row points the runner straight at the fake profile the mode would route to (DOUBLE-CHECK: a profile
whose latency is the executor's plus the auditor's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sidecar.fake_upstream import FakeUpstream, Profile  # noqa: E402
from sidecar.plan import parse_plan  # noqa: E402
from sidecar.plan_runner import RunSummary, run_plan  # noqa: E402

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
        self.fake = FakeUpstream(profiles=profiles, record=False)
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-plan-"))
        self.rows: list[tuple[str, str, list[float], str]] = []
        self.sidecar_url: str | None = None
        self._sidecar_close: Callable[[], Awaitable[None]] | None = None
        self.n = 0

    def url(self, mode: str = "build") -> str:
        return f"{self.fake.url}/p/{MODE_PROFILE[mode]}/v1"

    async def once(self, source: bytes | Path, **kw: object) -> RunSummary:
        self.n += 1
        out = self.tmp / f"run{self.n}"
        if isinstance(source, bytes):
            path = self.tmp / f"plan{self.n}.json"
            path.write_bytes(source)
            source = path
        kw.setdefault("base_url", self.url())
        return await run_plan(source, out_dir=out, notice=lambda _m: None, **kw)  # type: ignore[arg-type]

    async def timed(
        self, label: str, variant: str, note: str, fn: Callable[[], Awaitable[object]]
    ) -> list[float]:
        times: list[float] = []
        for _ in range(self.reps):
            t0 = time.monotonic()
            await fn()
            times.append(time.monotonic() - t0)
        self.rows.append((label, variant, times, note))
        return times

    async def parallelism(self) -> None:
        for name, data in (
            ("5 independent files", five_file_plan()),
            ("example plan (8 steps)", EXAMPLE.read_bytes()),
        ):
            seq = await self.timed(
                name, "sequential", "BUILD profile", lambda d=data: self.once(d, sequential=True)
            )
            par = await self.timed(name, "parallel", "", lambda d=data: self.once(d))
            self.rows[-1] = (
                *self.rows[-1][:3],
                f"{statistics.median(seq) / statistics.median(par):.2f}x faster",
            )
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

        for mode in ("build", "fast"):

            async def whole(m: str = mode) -> None:
                self.n += 1
                path = self.tmp / f"plan{self.n}.json"
                await write_slowly(path)
                await self.once(path, base_url=self.url(m))

            async def streamed(m: str = mode) -> None:
                self.n += 1
                path = self.tmp / f"plan{self.n}.json"
                writer = asyncio.get_running_loop().create_task(write_slowly(path))  # noqa: TID251
                await self.once(path, streaming=True, base_url=self.url(m))
                await writer

            label = f"plan written, then run ({mode.upper()})"
            note = f"plan written over {write_s:.2f}s ({PLANNER_TOKENS_PER_S:g} tok/s)"
            base = await self.timed(label, "wait for whole plan", note, whole)
            fast = await self.timed(label, "--streaming", "", streamed)
            gain = 1 - statistics.median(fast) / statistics.median(base)
            self.rows[-1] = (*self.rows[-1][:3], f"{gain:.0%} less time")

    async def modes(self) -> None:
        data = EXAMPLE.read_bytes()
        via = (
            "real sidecar, X-Sidecar-Mode" if self.sidecar_url else "direct to the fake profile (no routing)"
        )
        for mode in ("fast", "build", "double-check"):
            base = f"{self.sidecar_url}/v1" if self.sidecar_url else self.url(mode)
            note = via if mode == "fast" else ""
            await self.timed(
                "mode, example plan",
                mode.upper(),
                note,
                lambda m=mode, b=base: self.once(data, mode=m, base_url=b),
            )

    async def prompts(self) -> None:
        data = EXAMPLE.read_bytes()
        tokens: dict[str, int] = {}
        for style in ("verbose", "stripped"):
            last: list[RunSummary] = []

            async def run(s: str = style, sink: list[RunSummary] = last) -> None:
                sink.append(await self.once(data, prompt_style=s))

            await self.timed("prompt style, example plan", style, "", run)
            tokens[style] = last[-1].prompt_tokens
            self.rows[-1] = (*self.rows[-1][:3], f"{tokens[style]} prompt tokens sent")
        saved = 1 - tokens["stripped"] / tokens["verbose"]
        self.rows[-1] = (*self.rows[-1][:3], f"{tokens['stripped']} prompt tokens sent ({saved:.0%} fewer)")

    def table(self) -> str:
        lines = [
            f"plan runner bench: time scale {self.scale:g}, {self.reps} runs each, median and [min-max]",
            f"{'scenario':<30} {'variant':<22} {'median s':>9} {'range':>15}  notes",
            "-" * 110,
        ]
        for label, variant, times, note in self.rows:
            rng = f"{min(times):.3f}-{max(times):.3f}" if len(times) > 1 else ""
            lines.append(f"{label:<30} {variant:<22} {statistics.median(times):9.3f} {rng:>15}  {note}")
        return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--scale", type=float, default=0.02, help="time scale for provider latencies")
    args = parser.parse_args()
    parse_plan(EXAMPLE.read_bytes())  # fail fast on a broken example
    bench = Bench(args.scale, args.reps)
    await bench.fake.start()
    try:
        await bench.parallelism()
        await bench.streaming()
        await bench.modes()
        await bench.prompts()
    finally:
        await bench.fake.stop()
    print(bench.table())


if __name__ == "__main__":
    asyncio.run(main())
