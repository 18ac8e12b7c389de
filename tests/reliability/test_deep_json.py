"""JSON nested past msgspec's recursion limit: forwarded byte-identical on every chat path (row 3)."""

from __future__ import annotations

import aiohttp
import pytest

from sidecar.config import load_config
from sidecar.testing.fake_upstream import FakeUpstream
from tests.reliability.conftest import start_full

pytestmark = pytest.mark.timeout(60)


def deep_body(depth: int = 1000, where: str = "x") -> bytes:
    """A chat body with a value nested ``depth`` arrays deep (msgspec raises RecursionError on it)."""
    nested = b"[" * depth + b"]" * depth
    if where == "messages":
        return b'{"model":"m","messages":[{"role":"tool","content":' + nested + b"}]}"
    return b'{"model":"m","messages":[],"' + where.encode() + b'":' + nested + b"}"


HEADERS: list[dict[str, str]] = [
    {},
    {"X-Sidecar-Strip": "on"},
    {"X-Sidecar-Output": "code"},
    {"X-Sidecar-Output": "json,no-prose", "X-Sidecar-Strip": "on"},
    {"X-Sidecar-Goal": "fix it"},
    {"X-Sidecar-Prune": "off"},
]


@pytest.mark.parametrize("telemetry", [False, True], ids=["plain", "telemetry"])
async def test_deep_json_is_forwarded_byte_identical(fake: FakeUpstream, telemetry: bool):
    config = load_config(env={"SIDECAR_UPSTREAM_URL": fake.url, "SIDECAR_MIN_CHARS_TO_PRUNE": "10"})
    server = await start_full(config, telemetry=telemetry)
    base = str(server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession() as session:
            for path in ("/v1/chat/completions", "/v1/messages", "/chat/completions"):
                for extra in HEADERS:
                    for where in ("x", "messages", "model"):
                        body = deep_body(where=where)
                        sent = len(fake.received)
                        headers = {
                            "Content-Type": "application/json",
                            "Authorization": "Bearer sk-a",
                            **extra,
                        }
                        async with session.post(base + path, data=body, headers=headers) as resp:
                            await resp.read()
                            # The fake upstream refuses a body it cannot decode (400): that is its answer,
                            # relayed; the sidecar itself must never fail (5xx) nor change a byte.
                            assert resp.status < 500, (path, extra, where, resp.status)
                        assert len(fake.received) == sent + 1, (path, extra, where)
                        assert fake.received[-1].body == body, (path, extra, where)
    finally:
        await server.close()


async def test_deep_json_with_a_mode_model_is_forwarded(fake: FakeUpstream):
    config = load_config(env={"SIDECAR_UPSTREAM_URL": fake.url})
    server = await start_full(config)
    base = str(server.make_url("")).rstrip("/")
    nested = b"[" * 1000 + b"]" * 1000
    body = b'{"model":"sidecar/fast","messages":[],"x":' + nested + b"}"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(base + "/v1/chat/completions", data=body) as resp:
                await resp.read()
                assert resp.status < 500
        assert fake.received[-1].body == body
    finally:
        await server.close()
