"""`sidecar demo`: a coding agent's conversation through the sidecar to a fake provider, with savings.

Starts the fake upstream and the sidecar in-process on free ports, then plays a short agent session
over plain HTTP, as the OpenAI SDK sends it: the agent reads a large source file, runs the tests, greps
the code base.
Each turn resends the conversation so far, as agents do. Per turn it prints what the agent sent, what
the provider saw (the fake's ``usage`` counts the tokens it received) and the latency.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import msgspec
from aiohttp import web

from sidecar.app import build_app
from sidecar.config import Config, load_config
from sidecar.jsontypes import JsonValue
from sidecar.server import make_runner
from sidecar.testing.fake_upstream import FakeUpstream, count_received_tokens

TASK = (
    "argparse: add_argument() must reject a negative nargs value with a clear ValueError "
    "instead of failing later in _get_nargs_pattern. Fix it and make the tests pass."
)

JsonObj = dict[str, object]


def _source_file() -> tuple[str, str]:
    import argparse as target

    path = inspect.getsourcefile(target) or "argparse.py"
    return Path(path).name, Path(path).read_text(encoding="utf-8")


def _test_log() -> str:
    """A pytest run: hundreds of passing lines, progress noise, one failure with its traceback."""
    lines = [
        "============================= test session starts ==============================",
        "platform linux -- Python 3.11.7, pytest-8.3.2, pluggy-1.5.0",
        "rootdir: /work/cpython",
        "collected 1432 items",
        "",
    ]
    for i in range(1, 1400):
        lines.append(
            f"Lib/test/test_argparse.py::TestCase{i // 12}::test_case_{i} PASSED"
            f"{' ' * (8 - len(str(i)))}[{i * 100 // 1432:3d}%]"
        )
    lines += [
        "Lib/test/test_argparse.py::TestAddArgumentArgumentErrors::test_negative_nargs FAILED [ 98%]",
        "",
        "=================================== FAILURES ===================================",
        "______________ TestAddArgumentArgumentErrors.test_negative_nargs _______________",
        "",
        "self = <test.test_argparse.TestAddArgumentArgumentErrors testMethod=test_negative_nargs>",
        "",
        "    def test_negative_nargs(self):",
        "        parser = argparse.ArgumentParser()",
        ">       with self.assertRaises(ValueError):",
        "E       AssertionError: ValueError not raised",
        "",
        "Lib/test/test_argparse.py:5123: AssertionError",
        "=========================== short test summary info ============================",
        "FAILED Lib/test/test_argparse.py::TestAddArgumentArgumentErrors::test_negative_nargs",
        "================== 1 failed, 1431 passed in 12.84s ==================",
    ]
    return "\n".join(lines)


def _grep_output(source_name: str, source: str) -> str:
    """`grep -rn nargs Lib/`: the file itself plus many unrelated hits elsewhere."""
    hits = [
        f"Lib/{source_name}:{n}:{line}" for n, line in enumerate(source.splitlines(), 1) if "nargs" in line
    ]
    noise = [
        f"Lib/test/test_argparse.py:{100 + 7 * i}:        Sig('-x', nargs={i % 5}, default=None),"
        for i in range(260)
    ]
    return "\n".join(hits + noise)


def conversation() -> Iterator[list[JsonObj]]:
    """Yield the messages of each turn: every turn resends the conversation so far."""
    name, source = _source_file()
    messages: list[JsonObj] = [
        {
            "role": "system",
            "content": "You are a careful coding agent. Use the tools to inspect the repository.",
        },
        {"role": "user", "content": TASK},
    ]
    yield list(messages)
    steps = [
        ("read_file", {"path": f"Lib/{name}"}, source),
        ("run_tests", {"cmd": "python -m pytest Lib/test/test_argparse.py"}, _test_log()),
        ("grep", {"pattern": "nargs", "path": "Lib/"}, _grep_output(name, source)),
    ]
    for i, (tool, args, output) in enumerate(steps):
        call_id = f"call_{i}"
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": tool, "arguments": json.dumps(args)},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": call_id, "content": output})
        yield list(messages)


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0


class _Completion(msgspec.Struct):
    usage: _Usage | None = None


class TurnResult(msgspec.Struct, frozen=True):
    turn: int
    request_bytes: int
    tokens_sent: int
    tokens_upstream: int
    tokens_saved_header: int
    backend: str
    latency_ms: float


async def play(base_url: str) -> list[TurnResult]:
    """POST each turn to ``base_url``/chat/completions, as any OpenAI SDK would, and collect the figures."""
    results: list[TurnResult] = []
    headers = {"Authorization": "Bearer sk-demo-not-a-real-key", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=headers) as client:
        for turn, messages in enumerate(conversation(), 1):
            body = json.dumps({"model": "gpt-4o-mini", "messages": messages}).encode()
            doc: JsonValue = msgspec.json.decode(body)
            started = time.perf_counter()
            async with client.post(base_url.rstrip("/") + "/chat/completions", data=body) as response:
                answer = await response.read()
                if response.status != 200:
                    raise RuntimeError(f"the demo request failed: HTTP {response.status}")
                saved, backend = (
                    response.headers.get("X-Sidecar-Tokens-Saved"),
                    response.headers.get("X-Sidecar-Backend", "-"),
                )
            elapsed = (time.perf_counter() - started) * 1000
            usage = msgspec.json.decode(answer, type=_Completion).usage
            results.append(
                TurnResult(
                    turn=turn,
                    request_bytes=len(body),
                    tokens_sent=count_received_tokens(doc),  # counted as the provider counts them
                    tokens_upstream=usage.prompt_tokens if usage else 0,
                    tokens_saved_header=int(saved or 0),
                    backend=backend,
                    latency_ms=elapsed,
                )
            )
    return results


def render_table(results: list[TurnResult]) -> str:
    """Format the per-turn table and the totals."""
    head = (
        f"{'turn':>4} {'bytes sent':>11} {'tokens sent':>12} {'upstream saw':>13} {'saved':>7} "
        f"{'backend':>10} {'ms':>7}"
    )
    rows = [head, "-" * len(head)]
    for r in results:
        saved = 1 - r.tokens_upstream / r.tokens_sent if r.tokens_sent else 0.0
        rows.append(
            f"{r.turn:>4} {r.request_bytes:>11,} {r.tokens_sent:>12,} {r.tokens_upstream:>13,} {saved:>6.0%} "
            f"{r.backend:>10} {r.latency_ms:>7.1f}"
        )
    sent = sum(r.tokens_sent for r in results)
    seen = sum(r.tokens_upstream for r in results)
    rows.append("-" * len(head))
    rows.append(f"{'all':>4} {'':>11} {sent:>12,} {seen:>13,} {1 - seen / sent if sent else 0:>6.0%}")
    return "\n".join(rows)


async def run_demo(config: Config | None = None) -> list[TurnResult]:
    """Start the fake upstream and a sidecar on free ports, play the conversation, stop both."""
    fake = FakeUpstream(latency_ms=30, record=False)
    await fake.start()
    base = config or load_config(env={})
    config = msgspec.structs.replace(base, upstream=msgspec.structs.replace(base.upstream, url=fake.url))
    runner = make_runner(build_app(config), shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        return await play(f"http://127.0.0.1:{port}/v1")
    finally:
        await runner.cleanup()
        await fake.stop()


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``sidecar demo`` options."""
    parser.add_argument("--json", action="store_true", help="print the per-turn figures as JSON")


def run(args: argparse.Namespace) -> int:
    """Run the demo and print its table."""
    print("sidecar demo: an agent fixes a bug in argparse.py; each turn resends the conversation so far.")
    print("Agent -> sidecar (pruning tool outputs) -> fake provider, which counts the tokens it receives.\n")
    started = time.perf_counter()
    results = asyncio.run(run_demo())
    if args.json:
        print(msgspec.json.encode(results).decode())
    else:
        print(render_table(results))
    total_saved = sum(r.tokens_sent - r.tokens_upstream for r in results)
    print(
        f"\n{total_saved:,} input tokens not billed over {len(results)} turns "
        f"(demo ran in {time.perf_counter() - started:.1f} s).",
        file=sys.stdout,
    )
    return 0
