#!/usr/bin/env python3
"""Real agents through the sidecar: Claude Code and Codex CLI, driven by a scripted fake model.

usage: agents.py [--cases N] [--agents claude,codex-exec,codex-code] [--keep DIR] [--fixtures DIR]

Installs the CLIs at pinned versions from npm into bench/.cache/agents, then, for N tasks built from
real files (bench/data/*.jsonl: files of other repositories and of this one, each with a task and the
lines its real fix changed), writes the files into a temporary repository and runs each agent on it
twice: direct to the scripted model (``sidecar fake-upstream --script``), and through ``sidecar serve``.
The script makes every agent do the same: read the file, grep the repository for a term of the task,
run ``make test`` (a synthetic pytest log with one failure), answer. Agents:

    claude      Claude Code (POST /v1/messages?beta=true, count_tokens for big files), tools Read and Bash
    codex-exec  Codex CLI, model gpt-5.5: function_call exec_command, "Chunk ID ... Output:" outputs
    codex-code  Codex CLI, its default model gpt-6.2-sol: code-mode custom_tool_call exec in an
                additional_tools item, custom_tool_call_output parts

Printed per agent: runs completed (direct / through the sidecar), tool-output characters of the last
request direct and through the sidecar (saved, by kind), gold recall of the file reads (gold lines kept,
of those the agent itself delivered), grep and log recall, requests whose bytes outside tool outputs
changed (the agent's bytes, recorded by a tee in front of the sidecar, against what the model
received), and earlier tool outputs not byte-identical on a later turn. Then the pruning engine's own
recall on the same files and goals, in process: what the engine gives before any agent format or goal
plumbing. No network beyond npm: the model is local; the agents run with throwaway homes and fake keys.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
import aiohttp
from aiohttp import web
from conversation_savings import grep_output, grep_term, pytest_log
from harness import Procs, free_port, wait_port

from sidecar.chat.splice import string_spans

PINS = {"@anthropic-ai/claude-code": "2.1.197", "@openai/codex": "0.171.0"}
CACHE = REPO / "bench" / ".cache" / "agents"
ANSWER = "Done: the fix is in place."
AGENTS = ("claude", "codex-exec", "codex-code")
CODEX_MODEL = {"codex-exec": "gpt-5.5", "codex-code": "gpt-6.2-sol"}
KINDS = ("read", "grep", "log")
_HEADER = re.compile(r"\A(?:[A-Z][\w ]+(?::| )[^\n]*\n){1,8}Output:\n")  # Codex's status block
_MARKER = re.compile(r"\.\.\. \[(?:lines? )?(\d+)(?:-(\d+))? pruned[;\]]")  # the first or a later marker
_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


# --- set-up -----------------------------------------------------------------------------------------


def install() -> dict[str, Path]:
    """Install the pinned CLIs into bench/.cache/agents (once) and return their binaries."""
    bins = CACHE / "node_modules" / ".bin"
    pkg = lambda name: CACHE / "node_modules" / name / "package.json"  # noqa: E731
    if not all(pkg(n).exists() and json.loads(pkg(n).read_text())["version"] == v for n, v in PINS.items()):
        print(f"installing {', '.join(f'{n}@{v}' for n, v in PINS.items())} into {CACHE}", file=sys.stderr)
        CACHE.mkdir(parents=True, exist_ok=True)
        specs = [f"{n}@{v}" for n, v in PINS.items()]
        subprocess.run(
            ["npm", "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", *specs], check=True
        )
    claude = CACHE / "node_modules" / "@anthropic-ai" / "claude-code"
    if (claude / "bin" / "claude.exe").stat().st_size < 1_000_000:  # npm 11 skips its postinstall
        subprocess.run(["node", "install.cjs"], cwd=claude, check=True)
    return {"claude": bins / "claude", "codex": bins / "codex"}


class Task:
    """One run's material: files to write, the scenario the model follows, what must survive pruning."""

    def __init__(self, n: int, group: list[dict[str, object]], files: dict[str, str]) -> None:
        first = group[0]
        self.key = f"[task-{n:02d}]"
        self.repo, self.path = str(first["repo"]), str(first["path"])
        self.goal = " ".join(str(first["goal"]).split())[:400]
        self.text = str(first["text"])
        self.gold = sorted({int(g) for g in first["gold_lines"]})  # type: ignore[attr-defined]
        self.files = files
        self.term = grep_term(self.goal, [str(c["text"]) for c in group])
        grep = grep_output(self.term, files, limit=10**6)
        self.grep_gold = [
            f"{self.path}:{g}:{self.text.split(chr(10))[g - 1]}"
            for g in self.gold
            if g <= self.text.count("\n") + 1
        ]
        self.grep_gold = [g for g in self.grep_gold if g in grep]
        self.log, self.log_gold = pytest_log(files, self.path, self.text, self.gold)

    def prompt(self) -> str:
        return f"{self.key} {self.goal}"

    def scenario(self, root: Path) -> dict[str, object]:
        # Claude Code's Read wants an absolute path; a shell agent cats the file relative to its directory.
        read = {"read": str(root / self.path), "shell": f"cat {self.path}"}
        steps = [read, {"grep": self.term, "path": "."}, {"run": "make test"}]
        return {"match": self.key, "steps": [*steps, {"answer": ANSWER}]}

    def write(self, root: Path) -> None:
        for rel, text in self.files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        log = root.parent / f"{root.name}.pytest.log"
        log.write_text(self.log)
        (root / "Makefile").write_text(f"test:\n\t@cat {log}\n")


def select_tasks(n: int) -> list[Task]:
    """Pick up to ``n`` tasks, one per patch, across as many repositories as possible (this one included)."""
    cases = [
        json.loads(line)
        for f in sorted((REPO / "bench" / "data").glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    files: dict[str, dict[str, str]] = collections.defaultdict(dict)
    for c in cases:
        files[c["repo"]].setdefault(c["path"], c["text"])
    groups: dict[tuple[str, str], list[dict[str, object]]] = collections.defaultdict(list)
    for c in cases:
        groups[(c["repo"], c["commit"])].append(c)
    # Within Claude Code's Read limits (2000 lines, 25k tokens), big enough to be worth pruning.
    fit = [g for g in groups.values() if _fits(str(g[0]["text"])) and g[0]["gold_lines"]]
    by_repo: dict[str, list[list[dict[str, object]]]] = collections.defaultdict(list)
    for g in sorted(fit, key=lambda g: (str(g[0]["repo"]), str(g[0]["commit"]))):
        by_repo[str(g[0]["repo"])].append(g)
    picked: list[list[dict[str, object]]] = []
    while len(picked) < n and any(by_repo.values()):
        for repo in sorted(by_repo):  # round robin: one task per repository before a second one
            if by_repo[repo] and len(picked) < n:
                picked.append(by_repo[repo].pop(0))
    # A task's own commit's files win over other commits' versions of the same paths: the agent must read
    # the text whose gold lines are measured (the first-seen version made 3 of 20 reads another file).
    return [
        Task(i + 1, g, {**files[str(g[0]["repo"])], **{str(c["path"]): str(c["text"]) for c in g}})
        for i, g in enumerate(picked)
    ]


def _fits(text: str) -> bool:
    return 6_000 <= len(text) <= 60_000 and text.count("\n") < 1900


class Tee:
    """A recording hop in front of the sidecar: keeps the agent's bytes, relays the answer as it streams."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.records = upstream, list[tuple[str, bytes]]()
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result()

    async def _start(self) -> None:
        self.session = aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=600))
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._relay)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def _relay(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.records.append((request.raw_path, body))
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP]
        url = self.upstream + request.raw_path
        async with self.session.request(request.method, url, headers=headers, data=body) as up:
            out = web.StreamResponse(status=up.status)
            for k, v in up.headers.items():
                if k.lower() not in _HOP:
                    out.headers.add(k, v)
            await out.prepare(request)
            try:
                async for chunk in up.content.iter_any():
                    await out.write(chunk)
                await out.write_eof()
            except ConnectionResetError:
                pass  # the agent hung up once it had its answer (Claude Code may, before the last chunk)
            return out

    def close(self) -> None:
        async def stop() -> None:
            await self.session.close()
            await self.runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)


# --- running an agent -------------------------------------------------------------------------------


def run_agent(agent: str, bins: dict[str, Path], task: Task, repo: Path, base: str, home: Path) -> bool:
    """Run one agent on one task against ``base``; True when it finished with the scripted answer."""
    home.mkdir(parents=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", "TERM": "dumb"}
    if agent == "claude":
        env |= {"CLAUDE_CONFIG_DIR": str(home / ".claude"), "IS_SANDBOX": "1", "DISABLE_TELEMETRY": "1",
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
                "ANTHROPIC_BASE_URL": base, "ANTHROPIC_API_KEY": "sk-ant-fake-bench"}  # fmt: skip
        argv = [
            str(bins["claude"]),
            "-p",
            task.prompt(),
            "--dangerously-skip-permissions",
            "--output-format",
            "json",
        ]
    else:
        codex_home = home / ".codex"
        codex_home.mkdir()
        (codex_home / "config.toml").write_text(
            f'model = "{CODEX_MODEL[agent]}"\nmodel_provider = "bench"\n\n[model_providers.bench]\n'
            f'name = "bench"\nbase_url = "{base}/v1"\nwire_api = "responses"\nenv_key = "BENCH_OPENAI_KEY"\n'
        )
        env |= {"CODEX_HOME": str(codex_home), "BENCH_OPENAI_KEY": "sk-fake-bench"}
        bypass = "--dangerously-bypass-approvals-and-sandbox"
        argv = [str(bins["codex"]), "exec", bypass, "--skip-git-repo-check", "--ephemeral"]
        argv += ["-o", str(home / "last.txt"), task.prompt()]
    try:
        done = subprocess.run(
            argv, cwd=repo, env=env, capture_output=True, timeout=300, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return False
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode(errors="replace")[-2000:])
        return False
    if agent == "claude":
        result = json.loads(done.stdout.decode().strip().splitlines()[-1])
        return result.get("subtype") == "success" and result.get("result") == ANSWER
    last = home / "last.txt"
    return last.exists() and last.read_text().strip() == ANSWER


class Records:
    """Request bodies a scripted fake wrote (``--record``), read by position."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def count(self) -> int:
        index = self.root / "index.jsonl"
        return len(index.read_text().splitlines()) if index.exists() else 0

    def since(self, start: int) -> list[tuple[str, bytes]]:
        lines = (self.root / "index.jsonl").read_text().splitlines()[start:]
        out = []
        for line in lines:
            rec = json.loads(line)
            out.append((rec["path_qs"], (self.root / f"{rec['n']:05d}.body").read_bytes()))
        return out


# --- reading what was sent --------------------------------------------------------------------------

Path_ = tuple[str | int, ...]


def tool_outputs(doc: dict[str, object]) -> list[tuple[str, Path_, str]]:
    """Return (call id, path, text) of every tool-output string of a messages or Responses body, in order."""
    out: list[tuple[str, Path_, str]] = []

    def texts(value: object, base: Path_, ref: str) -> None:
        if isinstance(value, str):
            out.append((ref, base, value))
        elif isinstance(value, list):
            for k, part in enumerate(value):
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    out.append((ref, (*base, k, "text"), part["text"]))

    for i, msg in enumerate(doc.get("messages") or []):  # type: ignore[attr-defined]
        if isinstance(msg, dict) and msg.get("role") == "user" and isinstance(msg.get("content"), list):
            for j, block in enumerate(msg["content"]):
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    texts(
                        block.get("content"),
                        ("messages", i, "content", j, "content"),
                        str(block.get("tool_use_id")),
                    )
    items = doc.get("input")
    for i, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict) and item.get("type") in ("function_call_output", "custom_tool_call_output"):
            texts(item.get("output"), ("input", i, "output"), str(item.get("call_id")))
    return out


def by_call(doc: dict[str, object]) -> dict[str, str]:
    """Return each tool output's whole text (its parts joined), keyed by call id."""
    joined: dict[str, list[str]] = collections.defaultdict(list)
    for ref, _, text in tool_outputs(doc):
        joined[ref].append(text)
    return {ref: "".join(parts) for ref, parts in joined.items()}


def outside_changed(sent: bytes, received: bytes) -> bool:
    """Tell whether any byte outside the tool-output strings differs between two bodies."""
    if sent == received:
        return False
    a, b = json.loads(sent), json.loads(received)
    pa, pb = [p for _, p, _ in tool_outputs(a)], [p for _, p, _ in tool_outputs(b)]
    if pa != pb:
        return True
    blank = lambda doc: _blank(doc, pa)  # noqa: E731
    if blank(a) != blank(b):
        return True
    return _cut(sent, pa) != _cut(received, pb)


def _blank(doc: dict[str, object], paths: list[Path_]) -> dict[str, object]:
    doc = json.loads(json.dumps(doc))
    for path in paths:
        node: object = doc
        for item in path[:-1]:
            node = node[item]  # type: ignore[index]
        node[path[-1]] = ""  # type: ignore[index]
    return doc


def _cut(body: bytes, paths: list[Path_]) -> bytes:
    spans = sorted(string_spans(body, set(paths)).values())
    pieces, pos = [], 0
    for start, end in spans:
        pieces.append(body[pos:start])
        pos = end
    return b"".join([*pieces, body[pos:]])


def kept_lines(text: str) -> set[int]:
    """Return the original line numbers a (maybe pruned) file read shows, from the markers' ranges."""
    header = _HEADER.match(text)
    lines = text[header.end() if header else 0 :].split("\n")
    kept, n = set(), 1
    for line in lines:
        m = _MARKER.match(line) if line.startswith("... [") else None
        if m:
            n = int(m.group(2) or m.group(1)) + 1
        else:
            kept.add(n)
            n += 1
    return kept


# Codex's own cut of a long output: a warning and the line count above the head, one elided stretch.
_TRUNCATED = re.compile(r"\AWarning: truncated output[^\n]*\nTotal output lines: (\d+)\n\n")
_ELIDED = "tokens truncated\u2026"


def file_lines(text: str) -> list[int | None]:
    """Return, for each line of a file read as the agent delivered it, the file line it shows (or None).

    A read is the file line for line, except Codex's own cut of a long output: a warning, the total line
    count, the head, one line with ``…N tokens truncated…`` in it, the tail.
    """
    header = _HEADER.match(text)
    body = text[header.end() if header else 0 :]
    lines = body.split("\n")
    cut = _TRUNCATED.match(body)
    at = next((i for i, line in enumerate(lines) if _ELIDED in line), None) if cut else None
    if cut is None or at is None:
        return list(range(1, len(lines) + 1))
    total, tail = int(cut.group(1)), len(lines) - at - 1
    return [None, None, None, *range(1, at - 2), None, *range(total - tail + 2, total + 2)]


def is_main(path_qs: str, body: bytes, task: Task) -> bool:
    return "count_tokens" not in path_qs and task.key.encode() in body


class Tally:
    """One agent's figures over every task."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.runs = self.ok_direct = self.ok_sidecar = 0
        self.chars = {k: [0, 0] for k in KINDS}  # kind -> [direct, through the sidecar]
        self.gold = [0, 0]  # gold lines kept, gold lines the agent delivered
        self.grep = [0, 0]
        self.log = [0, 0]
        self.bodies = self.changed = 0  # requests compared, requests changed outside tool outputs
        self.earlier = self.unstable = 0  # earlier outputs compared on a later turn, those not identical
        self.count_tokens = self.count_tokens_changed = 0

    def add_run(self, task: Task, direct: list[tuple[str, bytes]], up: list[tuple[str, bytes]],
                sent: list[tuple[str, bytes]]) -> None:  # fmt: skip
        main_d = [json.loads(b) for p, b in direct if is_main(p, b, task)]
        main_s = [json.loads(b) for p, b in up if is_main(p, b, task)]
        if main_d and main_s:
            out_d, out_s = list(by_call(main_d[-1]).values()), list(by_call(main_s[-1]).values())
            for kind, d, s in zip(KINDS, out_d, out_s, strict=False):
                self.chars[kind][0] += len(d)
                self.chars[kind][1] += len(s)
            if out_d and out_s:
                shown = file_lines(out_d[0])  # the sidecar pruned the same delivered text
                delivered = set(shown) & set(task.gold)
                kept = delivered & {shown[n - 1] for n in kept_lines(out_s[0]) if n <= len(shown)}
                self.gold[0] += len(kept)
                self.gold[1] += len(delivered)
                if lost := sorted(delivered - kept):
                    print(f"  {self.name} {task.key}: gold lines {lost} pruned", file=sys.stderr)
            for slot, gold, i in ((self.grep, task.grep_gold, 1), (self.log, task.log_gold, 2)):
                if len(out_d) > i and len(out_s) > i:
                    there = [g for g in gold if g in out_d[i]]
                    lost = [g for g in there if g not in out_s[i]]
                    slot[0] += len(there) - len(lost)
                    slot[1] += len(there)
                    for g in lost:
                        print(
                            f"  {self.name} {task.key}: {KINDS[i]} gold line pruned: {g[:90]!r}",
                            file=sys.stderr,
                        )
        for before, after in zip(main_s, main_s[1:], strict=False):
            later = by_call(after)
            for ref, text in by_call(before).items():
                self.earlier += 1
                self.unstable += later.get(ref) != text
        for (path, a), (_, b) in zip(sent, up, strict=False):
            self.bodies += 1
            changed = outside_changed(a, b)
            self.changed += changed
            if "count_tokens" in path:
                self.count_tokens += 1
                self.count_tokens_changed += a != b
        if len(sent) != len(up):
            self.changed += abs(len(sent) - len(up))  # a request lost or added on the way counts as changed


# --- main ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20, help="tasks per agent (default 20)")
    parser.add_argument(
        "--agents", default=",".join(AGENTS), help=f"comma-separated, from {', '.join(AGENTS)}"
    )
    parser.add_argument("--keep", help="keep the work directory (repositories, homes, recorded bodies) here")
    parser.add_argument("--fixtures", help="write request bodies of each agent here (tests/fixtures/agents)")
    parser.add_argument(
        "--fixture-task", type=int, action="append", help="with --fixtures: the task to keep (repeatable; 1)"
    )
    args = parser.parse_args()
    agents = [a for a in args.agents.split(",") if a]
    if unknown := set(agents) - set(AGENTS):
        parser.error(f"unknown agents: {', '.join(sorted(unknown))}")
    bins = install()
    tasks = select_tasks(args.cases)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="sidecar-agents-"))
    work.mkdir(parents=True, exist_ok=True)
    script = {"scenarios": []}
    for task in tasks:
        root = work / "repos" / task.key.strip("[]")
        task.write(root)
        script["scenarios"].append(task.scenario(root))
    (work / "script.json").write_text(json.dumps(script))
    print(
        f"{len(tasks)} tasks from {len({t.repo for t in tasks})} repositories; work directory {work}",
        file=sys.stderr,
    )
    tallies = {a: Tally(a) for a in agents}
    with Procs() as procs:
        ports = {name: free_port() for name in ("direct", "sidecar-fake", "sidecar")}
        for name in ("direct", "sidecar-fake"):
            argv = [str(REPO / ".venv/bin/sidecar"), "fake-upstream", "--port", str(ports[name])]
            argv += ["--script", str(work / "script.json"), "--record", str(work / "records" / name)]
            procs.start(argv, work / f"{name}.log")
        serve = [str(REPO / ".venv/bin/sidecar"), "serve", "--port", str(ports["sidecar"]),
                 "--upstream", f"http://127.0.0.1:{ports['sidecar-fake']}"]  # fmt: skip
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SIDECAR_", "KIMI_", "DEEPINFRA_", "OTEL_"))
        }
        sidecar_cwd = work / "sidecar-cwd"  # no ./config.toml: the defaults
        sidecar_cwd.mkdir(exist_ok=True)
        proc = subprocess.Popen(serve, cwd=sidecar_cwd, env=env, stdout=(work / "sidecar.log").open("wb"),
                                stderr=subprocess.STDOUT)  # fmt: skip
        procs.callback(lambda: (proc.terminate(), proc.wait(10)))
        for port in ports.values():
            wait_port(port)
        tee = Tee(f"http://127.0.0.1:{ports['sidecar']}")
        procs.callback(tee.close)
        direct_rec, sidecar_rec = (
            Records(work / "records" / "direct"),
            Records(work / "records" / "sidecar-fake"),
        )
        started = time.monotonic()
        for t, task in enumerate(tasks):
            for agent in agents:
                tally = tallies[agent]
                tally.runs += 1
                home = work / "homes" / f"{agent}-{task.key.strip('[]')}"
                root = work / "repos" / task.key.strip("[]")
                d0 = direct_rec.count()
                ok_d = run_agent(
                    agent, bins, task, root, f"http://127.0.0.1:{ports['direct']}", home / "direct"
                )
                s0, t0 = sidecar_rec.count(), len(tee.records)
                ok_s = run_agent(agent, bins, task, root, f"http://127.0.0.1:{tee.port}", home / "sidecar")
                tally.ok_direct += ok_d
                tally.ok_sidecar += ok_s
                up, sent = sidecar_rec.since(s0), [r for r in tee.records[t0:] if r[1]]  # not HEAD /
                tally.add_run(task, direct_rec.since(d0), up, sent)
                if args.fixtures and t + 1 in (args.fixture_task or [1]):
                    save_fixtures(Path(args.fixtures), agent, task, sent)
                status = f"direct {'ok' if ok_d else 'FAILED'}, sidecar {'ok' if ok_s else 'FAILED'}"
                elapsed = time.monotonic() - started
                print(f"[{elapsed:6.0f}s] task {t + 1}/{len(tasks)} {agent:10s} {status}", file=sys.stderr)
    report(tallies, tasks)
    engine_alone(tasks)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def save_fixtures(root: Path, agent: str, task: Task, sent: list[tuple[str, bytes]]) -> None:
    """Keep an agent's real request bodies (the last two turns, and any count_tokens) as test fixtures."""
    import gzip

    version = PINS["@anthropic-ai/claude-code" if agent == "claude" else "@openai/codex"]
    folder = root / f"{agent}-{version}" / task.key.strip("[]")
    folder.mkdir(parents=True, exist_ok=True)
    main_bodies = [(p, b) for p, b in sent if is_main(p, b, task)]
    n = len(main_bodies)
    keep = [(f"turn-{n - 1}", main_bodies[-2]), (f"turn-{n}", main_bodies[-1])]
    keep += [(f"count-tokens-{i}", rec) for i, rec in enumerate(r for r in sent if "count_tokens" in r[0])]
    for name, (_, body) in keep:
        (folder / f"{name}.json.gz").write_bytes(gzip.compress(body, mtime=0))
    meta = {"agent": agent, "version": version, "task": task.prompt(), "path": task.path, "gold": task.gold,
            "requests": [p for p, _ in sent]}  # fmt: skip
    (folder / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")


def report(tallies: dict[str, Tally], tasks: list[Task]) -> None:
    def pct(a: int, b: int) -> str:
        return f"{100 * (1 - a / b):.1f}%" if b else "-"

    def ratio(pair: list[int]) -> str:
        return f"{pair[0] / pair[1]:.3f} ({pair[0]}/{pair[1]})" if pair[1] else "-"

    print(f"\n{len(tasks)} tasks, repositories: {', '.join(sorted({t.repo for t in tasks}))}\n")
    print(
        "| agent | runs completed direct / sidecar | tool-output chars direct | through the sidecar | saved "
        "| saved: read / grep / log | gold recall, file reads | grep / log recall "
        "| requests changed outside tool outputs | earlier outputs changed on a later turn |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for agent, t in tallies.items():
        d = sum(v[0] for v in t.chars.values())
        s = sum(v[1] for v in t.chars.values())
        kinds = " / ".join(pct(t.chars[k][1], t.chars[k][0]) for k in KINDS)
        print(
            f"| {agent} | {t.ok_direct}/{t.runs} / {t.ok_sidecar}/{t.runs} | {d:,} | {s:,} | **{pct(s, d)}** "
            f"| {kinds} | **{ratio(t.gold)}** | {ratio(t.grep)} / {ratio(t.log)} "
            f"| {t.changed} of {t.bodies} | {t.unstable} of {t.earlier} |"
        )
    for agent, t in tallies.items():
        if t.count_tokens:
            print(f"\n{agent}: {t.count_tokens} count_tokens requests, {t.count_tokens_changed} rewritten")


def engine_alone(tasks: list[Task]) -> None:
    """Print the pruning engine's own recall on the same files and goals, without any agent or proxy."""
    from sidecar.config import load_config
    from sidecar.pruning.service import Pruner

    async def run() -> tuple[int, int, int, int]:
        pruner = Pruner(load_config(env={}))
        await pruner.start()
        kept = total = before = after = 0
        try:
            for task in tasks:
                out = await pruner.prune(task.text, task.prompt(), source_type="code")
                gold = set(task.gold) & set(range(1, task.text.count("\n") + 2))
                kept += len(gold & kept_lines(out.pruned_text))
                total += len(gold)
                before, after = before + len(task.text), after + len(out.pruned_text)
        finally:
            await pruner.aclose()
        return kept, total, before, after

    kept, total, before, after = asyncio.run(run())
    print(
        f"\npruning engine alone, same files, goal = the task (no agent, no proxy): gold recall "
        f"{kept / total:.3f} ({kept}/{total}), {100 * (1 - after / before):.1f}% of the characters pruned"
    )


if __name__ == "__main__":
    sys.exit(main())
