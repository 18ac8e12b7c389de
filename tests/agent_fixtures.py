"""Real request bodies of Claude Code 2.1.197 and Codex CLI 0.171.0, recorded by bench/agents.py.

Each folder ``tests/fixtures/agents/<agent>-<version>/task-NN`` holds the last two turns of one scripted
task (read a file, grep, ``make test``, answer) exactly as the agent sent them, gzipped, plus
``count-tokens-N`` (Claude Code's token count of a big file) and ``meta.json`` (task, file, gold lines).
Regenerate: ``.venv/bin/python bench/agents.py --fixtures tests/fixtures/agents --fixture-task 8
--fixture-task 20`` (then keep what the tests use).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

ROOT = Path(__file__).parent / "fixtures" / "agents"
CLAUDE, CODEX_EXEC, CODEX_CODE = "claude-2.1.197", "codex-exec-0.171.0", "codex-code-0.171.0"
PATHS = {CLAUDE: "/v1/messages?beta=true", CODEX_EXEC: "/v1/responses", CODEX_CODE: "/v1/responses"}


def body(agent: str, name: str, task: str = "task-20") -> bytes:
    """Return one recorded request body (``turn-3``, ``turn-4``, ``count-tokens-0``)."""
    return gzip.decompress((ROOT / agent / task / f"{name}.json.gz").read_bytes())


def meta(agent: str, task: str = "task-20") -> dict:
    return json.loads((ROOT / agent / task / "meta.json").read_text())


def tool_outputs(doc: dict) -> list[tuple[str, tuple, str]]:
    """Return (call id, path, text) of every tool-output string, in order (Anthropic and Responses)."""
    out: list[tuple[str, tuple, str]] = []

    def texts(value: object, base: tuple, ref: str) -> None:
        if isinstance(value, str):
            out.append((ref, base, value))
        elif isinstance(value, list):
            for k, part in enumerate(value):
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    out.append((ref, (*base, k, "text"), part["text"]))

    for i, msg in enumerate(doc.get("messages") or []):
        if msg.get("role") == "user" and isinstance(msg.get("content"), list):
            for j, block in enumerate(msg["content"]):
                if block.get("type") == "tool_result":
                    texts(
                        block.get("content"), ("messages", i, "content", j, "content"), block["tool_use_id"]
                    )
    for i, item in enumerate(doc.get("input") if isinstance(doc.get("input"), list) else []):
        if item.get("type") in ("function_call_output", "custom_tool_call_output"):
            texts(item.get("output"), ("input", i, "output"), item["call_id"])
    return out
