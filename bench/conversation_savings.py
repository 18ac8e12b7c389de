#!/usr/bin/env python3
"""Agent-like conversations through the sidecar: input tokens saved, added latency, gold-line recall.

usage: conversation_savings.py [--cases FILE ...] [--limit N] [--sdk openai,anthropic] [--big-iters N]

Conversations come from pruning cases (goal = a commit or patch message, text = a source file before
it, gold = the lines it changed), grouped by patch: the agent greps the repository for a term of the
task, reads the files the patch touched (gold lines known), reads one unrelated file of the same
repository, then runs the tests. The grep output is built from every file of that repository in the
cases; the test output is a synthetic pytest session over the repository's function names with one
failure in the patched file (the only synthetic tool output). Five requests a conversation, each
resending the growing history, as agents do, through the real ``openai`` and ``anthropic`` SDKs.

Printed: input tokens the fake upstream saw (its ``usage``) direct and through the sidecar; the time
the pruning middleware added (its ``X-Sidecar-Prune-Ms``) per request, p50/p99, for requests whose
newest tool output is pruned for the first time (cold) and for the same requests resent (warm);
recall of gold lines in the pruned file reads (``prune_eval.recall``), in the grep output (gold lines
present there) and in the test log (its failure lines). Then the acceptance probe: one request with
three 50 KB tool outputs, middleware time cold (a new task each time) and warm.

Cases default to every ``bench/data/*.jsonl`` (held out: repositories not in the dev set); the dev
set is used only when there are none, and the table says so.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import re
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
import anthropic
import openai
from aiohttp import web
from harness import load_eval

from sidecar.app import build_app
from sidecar.config import Config, load_config
from sidecar.pruning.lifecycle import install_pruner
from sidecar.pruning.middleware import install_pruning
from sidecar.pruning.service import Pruner
from sidecar.testing.fake_upstream import FakeUpstream

Case = dict[str, object]
SYSTEM = (
    "You are a coding agent working in a checked-out repository. Use the tools to inspect files, search "
    "the code and run the tests; make minimal, correct changes; explain briefly what you changed.\n"
) * 4
TOOLS_OPENAI = [
    {"type": "function", "function": {"name": n, "description": d, "parameters": {"type": "object"}}}
    for n, d in (("grep", "Search the repository"), ("read_file", "Read a file"), ("bash", "Run a command"))
]
TOOLS_ANTHROPIC = [
    {"name": n, "description": d, "input_schema": {"type": "object"}}
    for n, d in (("Grep", "Search the repository"), ("Read", "Read a file"), ("Bash", "Run a command"))
]
STOP = set("the and for with from that this when into not are was use fix add make allow".split())


def load_cases(paths: list[str]) -> tuple[list[Case], str]:
    files = [Path(p) for p in paths] or sorted((REPO / "bench" / "data").glob("*.jsonl"))
    source = "held-out: " + ", ".join(f.name for f in files)
    if not files:
        files = [Path("/work/shared/bench/prune_cases_dev.jsonl")]
        source = "FALLBACK dev set (no bench/data/*.jsonl)"
    cases = [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]
    return cases, source


# --- conversations ----------------------------------------------------------------------------------


class Conversation:
    """One task: the tool outputs an agent would gather, with what must survive in each."""

    def __init__(self, task: str, repo: str) -> None:
        self.task = task
        self.repo = repo
        # (kind, tool call arguments, output text, gold line texts)
        self.steps: list[list[tuple[str, dict[str, str], str, list[str]]]] = []


def grep_term(goal: str, texts: list[str]) -> str:
    words = sorted(set(re.findall(r"[A-Za-z_][A-Za-z0-9_]{3,}", goal)), key=lambda w: (-len(w), w))
    for w in words:
        if w.lower() not in STOP and any(w in t for t in texts):
            return w
    for w in words:
        if w.lower() not in STOP and any(w.lower() in t.lower() for t in texts):
            return w.lower()
    return words[0] if words else "def"


def grep_output(term: str, files: dict[str, str], limit: int = 400) -> str:
    out: list[str] = []
    pat = re.compile(re.escape(term), re.I)
    for path, text in sorted(files.items()):
        for n, line in enumerate(text.split("\n"), 1):
            if pat.search(line):
                out.append(f"{path}:{n}:{line}")
    return "\n".join(out[:limit]) + "\n"


def pytest_log(
    repo_files: dict[str, str], failing_path: str, failing_text: str, gold: list[int]
) -> tuple[str, list[str]]:
    names = sorted({m for t in repo_files.values() for m in re.findall(r"^\s*def ([a-z]\w+)", t, re.M)})
    lines = [
        "============================= test session starts ==============================",
        "platform linux -- Python 3.11.7, pytest-8.3.3, pluggy-1.5.0",
        "rootdir: /repo",
        "configfile: pyproject.toml",
        f"collected {len(names)} items",
        "",
    ]
    module = "tests/test_" + Path(failing_path).stem + ".py"
    src = failing_text.split("\n")
    fail_at = gold[0] if gold else 1
    func = next(
        (m.group(1) for i in range(fail_at - 1, -1, -1) if (m := re.match(r"\s*def (\w+)", src[i]))), "target"
    )
    failed = f"test_{func.lstrip('_')}"
    for i, name in enumerate(names):
        status = "FAILED" if name == func else "PASSED"
        pct = int(100 * (i + 1) / max(len(names), 1))
        lines.append(f"{module}::test_{name.lstrip('_')} {status}".ljust(75) + f" [{pct:3d}%]")
    ctx = src[max(0, fail_at - 4) : fail_at + 1]
    failure = [
        "",
        "=================================== FAILURES ===================================",
        f"_{'_' * 30} {failed} {'_' * 30}",
        "",
        f"    def {failed}():",
        f">       result = {func}(sample_input())",
        "",
        f"{module}:42: ",
        "_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _",
        *ctx,
        f"E       AssertionError: unexpected result from {func}",
        "",
        f"{failing_path}:{fail_at}: AssertionError",
        "=========================== short test summary info ============================",
        f"FAILED {module}::{failed} - AssertionError: unexpected result from {func}",
        f"==================== 1 failed, {max(len(names) - 1, 0)} passed in 4.21s ====================",
    ]
    gold_lines = [ln for ln in failure if ln.startswith(("E ", "FAILED ", f"{failing_path}:"))]
    return "\n".join(lines + failure) + "\n", gold_lines


def build_conversations(cases: list[Case]) -> list[Conversation]:
    by_repo: dict[str, dict[str, str]] = collections.defaultdict(dict)
    for c in cases:
        by_repo[str(c["repo"])].setdefault(str(c["path"]), str(c["text"]))
    by_patch: dict[tuple[str, str], list[Case]] = collections.defaultdict(list)
    for c in cases:
        by_patch[(str(c["repo"]), str(c["commit"]))].append(c)
    convs: list[Conversation] = []
    for (repo, _), group in sorted(by_patch.items()):
        files = by_repo[repo]
        conv = Conversation(str(group[0]["goal"]), repo)
        term = grep_term(conv.task, [str(c["text"]) for c in group])
        grep = grep_output(term, files)
        grep_gold = [
            f"{c['path']}:{g}:{str(c['text']).split(chr(10))[int(g) - 1]}"
            for c in group
            for g in c["gold_lines"]  # type: ignore[attr-defined]
        ]
        conv.steps.append([("grep", {"pattern": term}, grep, [g for g in grep_gold if g in grep])])
        conv.steps.append(
            [
                ("read", {"path": str(c["path"])}, str(c["text"]), [str(i) for i in c["gold_lines"]])
                for c in group
            ]  # type: ignore[attr-defined]
        )
        others = [p for p in sorted(files) if p not in {c["path"] for c in group}]
        if others:
            noise = others[len(convs) % len(others)]
            conv.steps.append([("read", {"path": noise}, files[noise], [])])
        first = group[0]
        log, log_gold = pytest_log(files, str(first["path"]), str(first["text"]), list(first["gold_lines"]))  # type: ignore[arg-type]
        conv.steps.append([("test", {"command": "python -m pytest -x -q"}, log, log_gold)])
        convs.append(conv)
    return convs


TOOL_NAMES = {"openai": {"grep": "grep", "read": "read_file", "test": "bash"},
              "anthropic": {"grep": "Grep", "read": "Read", "test": "Bash"}}  # fmt: skip


def openai_turns(conv: Conversation) -> list[list[dict[str, object]]]:
    msgs: list[dict[str, object]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": conv.task},
    ]
    turns = [list(msgs)]
    for s, step in enumerate(conv.steps):
        calls = [
            {"id": f"call_{s}_{i}", "type": "function",
             "function": {"name": TOOL_NAMES["openai"][kind], "arguments": json.dumps(args)}}
            for i, (kind, args, _, _) in enumerate(step)
        ]  # fmt: skip
        msgs.append({"role": "assistant", "content": "Let me look.", "tool_calls": calls})
        for i, (_, _, out, _) in enumerate(step):
            msgs.append({"role": "tool", "tool_call_id": f"call_{s}_{i}", "content": out})
        turns.append(list(msgs))
    return turns


def anthropic_turns(conv: Conversation) -> list[list[dict[str, object]]]:
    msgs: list[dict[str, object]] = [{"role": "user", "content": [{"type": "text", "text": conv.task}]}]
    turns = [list(msgs)]
    for s, step in enumerate(conv.steps):
        uses = [
            {"type": "tool_use", "id": f"tu_{s}_{i}", "name": TOOL_NAMES["anthropic"][kind], "input": args}
            for i, (kind, args, _, _) in enumerate(step)
        ]
        msgs.append({"role": "assistant", "content": [{"type": "text", "text": "Let me look."}, *uses]})
        results = [
            {"type": "tool_result", "tool_use_id": f"tu_{s}_{i}", "content": out}
            for i, (_, _, out, _) in enumerate(step)
        ]
        msgs.append({"role": "user", "content": results})
        turns.append(list(msgs))
    return turns


def tool_outputs(body: bytes, style: str) -> list[str]:
    doc = json.loads(body)
    if style == "openai":
        return [m["content"] for m in doc["messages"] if m.get("role") == "tool"]
    return [
        b["content"]
        for m in doc["messages"]
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result"
    ]


# --- running ----------------------------------------------------------------------------------------


async def start_sidecar(config: Config) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(build_app(config, installers=[install_pruner, install_pruning]), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


class Sender:
    """Send one turn with one SDK; return (input tokens billed, middleware ms, tokens saved header)."""

    def __init__(self, style: str, base: str) -> None:
        self.style = style
        if style == "openai":
            self.oa = openai.AsyncOpenAI(base_url=base + "/v1", api_key="sk-bench", max_retries=0)
        else:
            self.an = anthropic.AsyncAnthropic(base_url=base, api_key="sk-bench", max_retries=0)

    async def send(self, messages: list[dict[str, object]]) -> tuple[int, float, int]:
        if self.style == "openai":
            raw = await self.oa.chat.completions.with_raw_response.create(
                model="bench",
                messages=messages,
                tools=TOOLS_OPENAI,  # type: ignore[arg-type]
            )
            used = raw.parse().usage.prompt_tokens  # type: ignore[union-attr]
        else:
            raw = await self.an.messages.with_raw_response.create(
                model="bench",
                max_tokens=512,
                system=SYSTEM,
                tools=TOOLS_ANTHROPIC,
                messages=messages,  # type: ignore[arg-type]
            )
            used = (await raw.parse()).usage.input_tokens
        ms = float(raw.headers.get("X-Sidecar-Prune-Ms", "nan"))
        return used, ms, int(raw.headers.get("X-Sidecar-Tokens-Saved", "0"))

    async def close(self) -> None:
        if self.style == "openai":
            await self.oa.close()
        else:
            await self.an.close()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_style(
    style: str, convs: list[Conversation], fake: FakeUpstream, base: str, ev: ModuleType
) -> dict[str, object]:
    direct, through = Sender(style, fake.url), Sender(style, base)
    tok_direct = tok_side = 0
    cold: list[float] = []
    warm: list[float] = []
    recall: dict[str, list[float]] = {"read": [], "grep": [], "test": []}
    kept_share: list[float] = []
    make = openai_turns if style == "openai" else anthropic_turns
    for conv in convs:
        turns = make(conv)
        for messages in turns:
            tok_direct += (await direct.send(messages))[0]
            used, ms, _ = await through.send(messages)
            tok_side += used
            cold.append(ms)
            warm.append((await through.send(messages))[1])
        outs = tool_outputs(fake.received[-1].body, style)
        flat = [st for step in conv.steps for st in step]
        for (kind, _args, original, gold), pruned in zip(flat, outs, strict=True):
            kept_share.append(len(pruned) / max(len(original), 1))
            if not gold:
                continue
            if kind == "read":
                case = {"text": original, "gold_lines": [int(g) for g in gold]}
                recall["read"].append(ev.recall(case, pruned))
            else:
                have = set(pruned.split("\n"))
                recall[kind].append(sum(g in have for g in gold) / len(gold))
    await direct.close()
    await through.close()
    return {
        "style": style,
        "requests": sum(len(make(c)) for c in convs),
        "tokens_direct": tok_direct,
        "tokens_sidecar": tok_side,
        "saved": 1 - tok_side / max(tok_direct, 1),
        "cold_p50": pct(cold, 0.5), "cold_p99": pct(cold, 0.99),
        "warm_p50": pct(warm, 0.5), "warm_p99": pct(warm, 0.99),
        "recall_read": statistics.mean(recall["read"]) if recall["read"] else float("nan"),
        "full_read": sum(r == 1.0 for r in recall["read"]) / max(len(recall["read"]), 1),
        "recall_grep": statistics.mean(recall["grep"]) if recall["grep"] else float("nan"),
        "recall_test": statistics.mean(recall["test"]) if recall["test"] else float("nan"),
        "kept_share": statistics.mean(kept_share) if kept_share else float("nan"),
    }  # fmt: skip


def fifty_kb_outputs(cases: list[Case]) -> list[str]:
    """Three 50 KB tool outputs from real files (concatenated per repository, cut at a line)."""
    by_repo: dict[str, list[str]] = collections.defaultdict(list)
    for c in cases:
        by_repo[str(c["repo"])].append(str(c["text"]))
    outs: list[str] = []
    for texts in sorted(by_repo.values(), key=lambda t: -sum(map(len, t))):
        blob = "\n".join(texts)
        if len(blob) >= 50_000:
            outs.append(blob[: blob.rfind("\n", 0, 50_000)])
        if len(outs) == 3:
            return outs
    blob = "\n".join(str(c["text"]) for c in cases)
    while len(outs) < 3:
        start = len(outs) * 50_000
        outs.append(blob[start : start + 50_000])
    return outs


async def big_probe(cases: list[Case], base: str, iters: int) -> dict[str, float]:
    outs = fifty_kb_outputs(cases)
    sender = Sender("openai", base)
    task = str(cases[0]["goal"])

    def messages(tag: str) -> list[dict[str, object]]:
        calls = [
            {"id": f"c{i}", "type": "function",
             "function": {"name": "read_file", "arguments": json.dumps({"path": f"src/module_{i}.py"})}}
            for i in range(3)
        ]  # fmt: skip
        return [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"{task} ({tag})"},
            {"role": "assistant", "content": None, "tool_calls": calls},
            *({"role": "tool", "tool_call_id": f"c{i}", "content": o} for i, o in enumerate(outs)),
        ]

    cold, warm, e2e_warm, alone = [], [], [], []
    pruner = Pruner(load_config(env={}))
    for i in range(iters):
        # Interleaved, so machine load hits both alike: the pruning engine alone (in-process, the same
        # three texts, a new goal), then the same work through the middleware (a new goal: all miss).
        t0 = time.perf_counter()
        for o in outs:
            await pruner.prune(o, f"{task} (alone {i})", source_type="code")
        alone.append((time.perf_counter() - t0) * 1000)
        cold.append((await sender.send(messages(f"run {i}")))[1])
    await pruner.aclose()
    for _ in range(iters * 3):
        t0 = time.perf_counter()
        warm.append((await sender.send(messages("run 0")))[1])
        e2e_warm.append((time.perf_counter() - t0) * 1000)
    await sender.close()
    return {
        "sizes_kb": sum(len(o) for o in outs) / 3 / 1000,
        "cold_p50": pct(cold, 0.5),
        "cold_p99": pct(cold, 0.99),
        "warm_p50": pct(warm, 0.5),
        "warm_p99": pct(warm, 0.99),
        "e2e_warm_p50": pct(e2e_warm, 0.5),
        "alone_p50": pct(alone, 0.5),
        "overhead_p50": pct([c - a for c, a in zip(cold, alone, strict=True)], 0.5),
    }


async def main(args: argparse.Namespace) -> None:
    policy = "default policy"
    if args.min_share is not None or args.max_share is not None:
        # An experiment on the engine's default policy, in this process only (sidecar/selection.py is
        # not changed): what the default share bounds would have to be to meet the bars.
        from sidecar.pruning.engine import selection

        if args.min_share is not None:
            selection.DEFAULT_MIN_SHARE = args.min_share
        if args.max_share is not None:
            selection.DEFAULT_MAX_SHARE = args.max_share
        policy = f"EXPERIMENT min_share={selection.DEFAULT_MIN_SHARE} max_share={selection.DEFAULT_MAX_SHARE}"
    cases, source = load_cases(args.cases)
    ev = load_eval()
    convs = build_conversations(cases)[: args.limit or None]
    fake = FakeUpstream(max_records=10)
    await fake.start()
    config = load_config(env={"SIDECAR_UPSTREAM_URL": fake.url})
    results = []
    for style in args.sdk.split(",") if args.sdk else []:
        runner, base = await start_sidecar(config)  # a fresh sidecar (empty cache) per SDK
        try:
            results.append(await run_style(style, convs, fake, base, ev))
        finally:
            await runner.cleanup()
    runner, base = await start_sidecar(config)
    try:
        probe = await big_probe(cases, base, args.big_iters)
    finally:
        await runner.cleanup()
    await fake.stop()
    print(
        f"cases: {len(cases)} ({source}); conversations: {len(convs)}; "
        f"backend: {config.pruning.backend}; {policy}"
    )
    header = (
        f"{'sdk':<10} {'reqs':>5} {'tokens direct':>14} {'via sidecar':>12} {'saved':>6} "
        f"{'cold p50/p99 ms':>16} {'warm p50/p99 ms':>16} {'recall read':>11} {'all-gold':>8} "
        f"{'grep':>5} {'log':>5} {'kept':>5}"
    )
    print(header)
    for r in results:
        cold = f"{r['cold_p50']:.2f}/{r['cold_p99']:.2f}"
        warm = f"{r['warm_p50']:.2f}/{r['warm_p99']:.2f}"
        print(
            f"{r['style']:<10} {r['requests']:>5} {r['tokens_direct']:>14,} {r['tokens_sidecar']:>12,} "
            f"{r['saved']:>6.1%} {cold:>16} {warm:>16} {r['recall_read']:>11.3f} {r['full_read']:>8.2f} "
            f"{r['recall_grep']:>5.2f} {r['recall_test']:>5.2f} {r['kept_share']:>5.2f}"
        )
    print(
        f"three {probe['sizes_kb']:.0f} KB tool outputs, middleware ms: "
        f"cold p50 {probe['cold_p50']:.2f} p99 {probe['cold_p99']:.2f} (bar 20) | "
        f"warm p50 {probe['warm_p50']:.2f} p99 {probe['warm_p99']:.2f} (bar 2) | "
        f"warm end-to-end p50 {probe['e2e_warm_p50']:.2f} | "
        f"pruning engine alone (3 texts, in-process) p50 {probe['alone_p50']:.2f}, "
        f"middleware cold minus engine alone p50 {probe['overhead_p50']:.2f}"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="*", default=[], help="case files (default: bench/data/*.jsonl)")
    ap.add_argument("--limit", type=int, default=0, help="at most N conversations")
    ap.add_argument("--sdk", default="openai,anthropic", help="'' runs only the 50 KB probe")
    ap.add_argument("--big-iters", type=int, default=30)
    ap.add_argument("--min-share", type=float, help="experiment: override selection.DEFAULT_MIN_SHARE")
    ap.add_argument("--max-share", type=float, help="experiment: override selection.DEFAULT_MAX_SHARE")
    asyncio.run(main(ap.parse_args()))
