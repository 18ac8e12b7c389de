"""Shared pieces of the dashboard tests: a full sidecar in front of the fake upstream, and agent traffic."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import msgspec
import pytest
from aiohttp.test_utils import TestClient

from sidecar.app import build_app
from sidecar.config import Config, load_config
from sidecar.testing.fake_upstream import FakeUpstream

SECRET_LINE = "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzz-not-a-real-one"


def module_text(seed: str, n: int = 60) -> str:
    """A Python module of ``n`` functions, with a secret-looking line no page may ever show."""
    out = [f'"""Module {seed}."""', "", "import os", f"# {SECRET_LINE}", ""]
    for i in range(n):
        name = f"parse_retry_{seed}" if i == n // 2 else f"helper_{seed}_{i}"
        out += [
            f"def {name}(value, limit={i}):",
            f"    total = compute_{i}(value) + {i}",
            "    if total > limit:",
            f"        return format_output_{i}(total)",
            f"    return sanitize_{i}(value, total)",
            "",
        ]
    return "\n".join(out)


def openai_body(model: str = "gpt-5.4", seeds: tuple[str, ...] = ("alpha", "beta")) -> bytes:
    calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": "read_file", "arguments": "{}"}}
        for i in range(len(seeds))
    ]
    messages = [
        {"role": "system", "content": "You are a careful coding agent."},
        {"role": "user", "content": "Fix parse_retry_alpha so that it honours the limit"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        *(
            {"role": "tool", "tool_call_id": f"call_{i}", "content": module_text(s)}
            for i, s in enumerate(seeds)
        ),
    ]
    return json.dumps({"model": model, "messages": messages}).encode()


def anthropic_body(model: str = "claude-sonnet-5-5-20260701") -> bytes:
    call = {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "pytest"}}
    result = {"type": "tool_result", "tool_use_id": "t1", "content": module_text("gamma")}
    messages = [
        {"role": "user", "content": "Why does the gamma test fail? Look at parse_retry_gamma."},
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": [result]},
    ]
    return json.dumps({"model": model, "max_tokens": 100, "messages": messages}).encode()


async def send_traffic(client: TestClient) -> None:
    """Two agents: an OpenAI SDK program twice (the second time a cache hit), and Claude Code once."""
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-test"}
    for _ in range(2):
        resp = await client.post(
            "/v1/chat/completions",
            data=openai_body(),
            headers={**headers, "User-Agent": "OpenAI/Python 1.99.1"},
        )
        assert resp.status == 200 and int(resp.headers["X-Sidecar-Tokens-Saved"]) > 0
    resp = await client.post(
        "/v1/messages",
        data=anthropic_body(),
        headers={**headers, "User-Agent": "claude-cli/2.1.4 (external, cli) jane.doe@example.com"},
    )
    assert resp.status == 200 and int(resp.headers["X-Sidecar-Tokens-Saved"]) > 0


def with_sections(config: Config, **sections: dict[str, object]) -> Config:
    """Return ``config`` with fields of some sections replaced: with_sections(c, dashboard={...})."""
    for name, fields in sections.items():
        config = msgspec.structs.replace(
            config, **{name: msgspec.structs.replace(getattr(config, name), **fields)}
        )
    return config


@pytest.fixture
def sidecar(aiohttp_client, fake_upstream: FakeUpstream) -> Callable[..., Awaitable[TestClient]]:
    """Start a full sidecar (every component) in front of the fake upstream."""

    async def make(**sections: dict[str, object]) -> TestClient:
        config = with_sections(load_config(env={"SIDECAR_UPSTREAM_URL": fake_upstream.url}), **sections)
        return await aiohttp_client(build_app(config))

    return make
