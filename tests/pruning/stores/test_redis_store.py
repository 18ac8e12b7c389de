"""The Redis-backed cache and recover store, against a real redis-server started and killed here."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from sidecar.errors import ConfigError, PruneIdNotFound, RedisUnavailable
from sidecar.pruning.ids import make_prune_id
from sidecar.pruning.service import Pruner
from sidecar.pruning.stores.cache import cache_key
from sidecar.pruning.stores.redis_store import RedisLink, RedisRecoverStore, RedisResultCache
from sidecar.pruning.types import LineRange, PruneOptions
from sidecar.testing.fake_upstream import FakeUpstream
from tests.pruning.stores.support import RedisServer, config, free_port, needs_redis

pytestmark = needs_redis
ROOT = Path(__file__).resolve().parents[3]
GOAL = "fix parse_retry_alpha so that it honours the limit"
OPTS = PruneOptions(keep_ratio=0.3)


def module_text(seed: str, n: int = 60) -> str:
    out = [f'"""Module {seed}."""', "", "import os", ""]
    for i in range(n):
        name = f"parse_retry_{seed}" if i == n // 2 else f"helper_{seed}_{i}"
        out += [
            f"def {name}(value, limit={i}):",
            f"    total = compute_{i}(value) + {i}",
            "    return total",
            "",
        ]
    return "\n".join(out)


TEXT = module_text("alpha")


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A plain client, to look at what the sidecar stored."""
    client = Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


async def replica(
    url: str,
    *,
    op_timeout_s: float = 0.25,
    backoff_s: float = 1.0,
    grace_s: float = 0.25,
    env: dict[str, str] | None = None,
) -> Pruner:
    """A Pruner on ``url``; the timeout is looser than the default (50 ms) unless a test is about it,
    so that a loaded CI machine cannot turn a sharing test into a fallback one."""
    link = RedisLink(
        url, op_timeout_s=op_timeout_s, grace_s=grace_s, backoff_s=backoff_s, max_backoff_s=backoff_s
    )
    pruner = Pruner(config(url), env=env or {}, redis=link)
    await pruner.start()
    return pruner


# --- sharing between replicas ------------------------------------------------------------------------


def test_invalid_url_option_is_a_config_error() -> None:
    for bad in ("socket_timeout=abc", "socket_timeout=0"):
        with pytest.raises(ConfigError, match="SIDECAR_CACHE_URL") as info:
            Pruner(config(f"redis://:hunter2@127.0.0.1:1/0?{bad}"), env={})
        assert "hunter2" not in str(info.value)


async def test_results_shared_between_replicas(redis_server: RedisServer, raw: Redis) -> None:
    a, b = await replica(redis_server.url), await replica(redis_server.url)
    try:
        first = await a.prune(TEXT, GOAL, options=OPTS)
        assert not first.stats.cache_hit and first.stats.pruned_lines > 0
        second = await b.prune(TEXT, GOAL, options=OPTS)
        assert second.stats.cache_hit  # b never ran a backend for it
        assert second.pruned_text == first.pruned_text and second.prune_id == first.prune_id
        assert b.health().cache_hits == 1 and b.health().cache_misses == 0
        keys = sorted(k.decode() if isinstance(k, bytes) else k for k in await raw.keys("sidecar:v1:*"))
        key = cache_key(TEXT, GOAL, "auto", OPTS, "heuristic").hex()
        assert keys == [
            "sidecar:v1:prune-id-secret:hmac",
            f"sidecar:v1:recover:{first.prune_id}",
            f"sidecar:v1:result:{key}",
        ]
        # TTLs from config: cache.ttl_s (3600 s) and recover.ttl_s (600 s).
        assert 3590_000 < await raw.pttl(f"sidecar:v1:result:{key}") <= 3600_000
        assert 590_000 < await raw.pttl(f"sidecar:v1:recover:{first.prune_id}") <= 600_000
        assert await raw.pttl("sidecar:v1:prune-id-secret:hmac") == -1
    finally:
        await a.aclose()
        await b.aclose()


async def test_prune_id_recovers_on_the_other_replica_for_the_same_caller(redis_server: RedisServer) -> None:
    a, b = await replica(redis_server.url), await replica(redis_server.url)
    try:
        out = await a.prune(TEXT, GOAL, options=OPTS, caller="key-a")
        ranges = [LineRange(start_line=1, end_line=3), LineRange(start_line=10, end_line=10)]
        got = await b.recover(out.prune_id, ranges, caller="key-a")
        lines = TEXT.split("\n")
        assert got.raw_text == "\n".join([*lines[0:3], lines[9]])
        with pytest.raises(PruneIdNotFound):
            await b.recover(out.prune_id, ranges, caller="key-b")
        with pytest.raises(PruneIdNotFound):
            await b.recover(out.prune_id, ranges, caller=None)
        with pytest.raises(PruneIdNotFound):
            await b.recover("a" * 26, ranges, caller="key-a")
        await b.prune(TEXT, GOAL, options=OPTS, caller="key-b")  # b prunes it too: key-b may now recover
        assert (await a.recover(out.prune_id, [], caller="key-b")).raw_text == TEXT
        anonymous = await a.prune(module_text("beta"), GOAL, options=OPTS)  # no identity: anyone
        assert (await b.recover(anonymous.prune_id, [], caller="key-z")).raw_text == module_text("beta")
    finally:
        await a.aclose()
        await b.aclose()


async def test_repeats_on_one_replica_cost_no_round_trip(redis_server: RedisServer, raw: Redis) -> None:
    a = await replica(redis_server.url)
    b = await replica(redis_server.url)
    try:
        out = await a.prune(TEXT, GOAL, options=OPTS, caller="key-a")
        before = (await raw.info("stats"))["total_commands_processed"]
        for _ in range(10):
            assert (await a.prune(TEXT, GOAL, options=OPTS, caller="key-a")).stats.cache_hit
        assert (await a.recover(out.prune_id, [], caller="key-a")).raw_text == TEXT
        assert (await raw.info("stats"))["total_commands_processed"] == before + 1  # the first INFO
        # A new caller of the same text is written to Redis, so it recovers on another replica.
        await a.prune(TEXT, GOAL, options=OPTS, caller="key-b")
        assert (await b.recover(out.prune_id, [], caller="key-b")).raw_text == TEXT
    finally:
        await a.aclose()
        await b.aclose()


async def test_prune_id_secret_is_shared_through_redis(redis_server: RedisServer, raw: Redis) -> None:
    await raw.set("sidecar:v1:prune-id-secret:hmac", b"s" * 32)  # as if another replica came first
    pruner = await replica(redis_server.url)
    fixed = await replica(redis_server.url, env={"SIDECAR_PRUNE_ID_SECRET": "operator-secret"})
    try:
        key = cache_key(TEXT, GOAL, "auto", OPTS, "heuristic")
        assert (await pruner.prune(TEXT, GOAL, options=OPTS)).prune_id == make_prune_id(key, b"s" * 32)
        # An operator's secret wins over Redis's (its hit carries the other's id; a miss gets its own).
        other = module_text("gamma")
        key2 = cache_key(other, GOAL, "auto", OPTS, "heuristic")
        assert (await fixed.prune(other, GOAL, options=OPTS)).prune_id == make_prune_id(
            key2, b"operator-secret"
        )
    finally:
        await pruner.aclose()
        await fixed.aclose()


async def test_oversized_values_stay_in_process(redis_server: RedisServer, raw: Redis) -> None:
    pruner = await replica(redis_server.url)
    try:
        assert isinstance(pruner.cache, RedisResultCache)
        assert isinstance(pruner.recover_store, RedisRecoverStore)
        pruner.cache._max_value = pruner.recover_store._max_value = 1000
        out = await pruner.prune(TEXT, GOAL, options=OPTS)
        assert [k for k in await raw.keys("sidecar:v1:*") if b"secret" not in k] == []
        assert (await pruner.recover(out.prune_id, [])).raw_text == TEXT  # still recoverable here
        assert (await pruner.prune(TEXT, GOAL, options=OPTS)).stats.cache_hit
    finally:
        await pruner.aclose()


async def test_unix_socket_url(redis_server: RedisServer) -> None:
    url = f"unix://{redis_server.socket_path}?db=0"
    a, b = await replica(url), await replica(url)
    try:
        out = await a.prune(TEXT, GOAL, options=OPTS)
        assert (await b.prune(TEXT, GOAL, options=OPTS)).stats.cache_hit
        assert (await b.recover(out.prune_id, [])).raw_text == TEXT
    finally:
        await a.aclose()
        await b.aclose()


# --- Redis down: fallback, one warning, back-off, recovery -------------------------------------------


def redis_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "sidecar.redis" and r.levelno >= logging.WARNING
    ]


async def test_killed_mid_run_no_call_fails_one_warning(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sidecar.redis")
    # A short grace and back-off: many failed probes during the run, still one warning.
    pruner = await replica(redis_server.url, backoff_s=0.05, grace_s=0.02)
    # Repeats (hits, served in process) and new texts (which go to Redis), before and after the kill.
    texts = [module_text(f"t{i % 12}") if i % 3 else module_text(f"u{i}") for i in range(120)]
    outcomes = []
    slowest = 0.0

    async def loop() -> None:
        nonlocal slowest
        for i, text in enumerate(texts):
            started = time.perf_counter()
            outcomes.append(await pruner.prune(text, GOAL, options=OPTS, caller="key-a"))
            slowest = max(slowest, time.perf_counter() - started)
            if i == 40:
                redis_server.kill()
            await asyncio.sleep(0.002)

    try:
        await loop()
        assert len(outcomes) == len(texts)
        for out, text in zip(outcomes, texts, strict=True):
            assert out.stats.pruned_lines > 0 and not out.warnings
            assert out.pruned_text != text
        health = pruner.health()
        assert health.redis_fallback_active and health.redis_errors >= 3 and health.cache_backend == "redis"
        warnings = redis_warnings(caplog)
        assert len(warnings) == 1 and "ConnectionError" in warnings[0]
        assert "127.0.0.1" not in warnings[0]  # no URL (it may carry a password)
        assert slowest < 1.0
        # Results and ids from before and after the kill are served by the in-process stores.
        assert health.cache_hits >= 70
        for out, text in ((outcomes[0], texts[0]), (outcomes[-1], texts[-1])):
            assert (await pruner.recover(out.prune_id, [], caller="key-a")).raw_text == text
    finally:
        await pruner.aclose()


async def test_redis_back_is_used_again_after_the_backoff(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sidecar.redis")
    a = await replica(redis_server.url, backoff_s=0.3, grace_s=0.2)
    try:
        before = await a.prune(TEXT, GOAL, options=OPTS)
        redis_server.kill()
        during = await a.prune(module_text("down"), GOAL, options=OPTS)
        assert a.health().redis_fallback_active and a.health().redis_errors == 1
        await asyncio.sleep(0.25)
        await a.prune(module_text("down1"), GOAL, options=OPTS)  # the probe after the grace fails: outage
        assert a.health().redis_errors == 2 and redis_warnings(caplog)
        started = time.perf_counter()
        await a.prune(module_text("down2"), GOAL, options=OPTS)  # inside the back-off: Redis not tried
        assert time.perf_counter() - started < 0.2 and a.health().redis_errors == 2
        redis_server.start()  # same port, empty (no persistence)
        await asyncio.sleep(0.35)
        after = await a.prune(module_text("back"), GOAL, options=OPTS)
        health = a.health()
        assert not health.redis_fallback_active
        assert any("reachable again" in r.getMessage() for r in caplog.records if r.name == "sidecar.redis")
        b = await replica(redis_server.url)
        try:
            # The restarted (empty) Redis got a's secret back, so a new replica issues the same ids ...
            again = await b.prune(module_text("down"), GOAL, options=OPTS)
            assert again.prune_id == during.prune_id and not again.stats.cache_hit
            # ... and what a stored after the outage is shared.
            assert (await b.prune(module_text("back"), GOAL, options=OPTS)).stats.cache_hit
            assert (await b.recover(after.prune_id, [])).raw_text == module_text("back")
            # A text pruned before the outage and again after it is in the new Redis too.
            assert (await a.prune(TEXT, GOAL, options=OPTS)).stats.cache_hit
            assert (await b.recover(before.prune_id, [])).raw_text == TEXT
        finally:
            await b.aclose()
    finally:
        await a.aclose()


async def test_hanging_redis_costs_one_timeout_then_nothing(redis_server: RedisServer) -> None:
    pruner = await replica(redis_server.url, op_timeout_s=0.05, grace_s=5.0)
    try:
        await pruner.prune(TEXT, GOAL, options=OPTS)
        redis_server.signal(signal.SIGSTOP)  # accepts connections, never answers
        started = time.perf_counter()
        out = await pruner.prune(module_text("hang"), GOAL, options=OPTS)
        first = time.perf_counter() - started
        started = time.perf_counter()
        for i in range(20):
            await pruner.prune(module_text(f"hang{i}"), GOAL, options=OPTS)
        rest = (time.perf_counter() - started) / 20
        assert out.stats.pruned_lines > 0 and pruner.health().redis_fallback_active
        assert pruner.redis is not None and pruner.redis.errors == 1
        # One operation timed out (50 ms), then the grace skips Redis entirely.
        assert first < 0.05 + 0.25 and rest < 0.05
        assert (await pruner.prune(TEXT, GOAL, options=OPTS)).stats.cache_hit  # written through locally
    finally:
        redis_server.signal(signal.SIGCONT)
        await pruner.aclose()


async def test_redis_down_at_start_uses_local_secret_then_agrees(
    redis_server: RedisServer, raw: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server.kill()
    pruner = await replica(redis_server.url, backoff_s=0.1, grace_s=5.0)
    try:
        # Never answered: an outage at once (no grace), warned at start-up.
        assert len(redis_warnings(caplog)) == 1 and pruner.health().redis_fallback_active
        assert (await pruner.prune(TEXT, GOAL, options=OPTS)).stats.pruned_lines > 0
        redis_server.start()
        await raw.set("sidecar:v1:prune-id-secret:hmac", b"q" * 32)  # a replica that started meanwhile
        await asyncio.sleep(0.2)
        other = module_text("late")
        key = cache_key(other, GOAL, "auto", OPTS, "heuristic")
        assert (await pruner.prune(other, GOAL, options=OPTS)).prune_id == make_prune_id(key, b"q" * 32)
    finally:
        await pruner.aclose()


# --- acceptance: two `sidecar serve` processes on one Redis --------------------------------------------


class ServeProcess:
    def __init__(self, upstream: str, redis_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("KIMI_", "DEEPINFRA_", "SIDECAR_", "OTEL_"))
        }
        env.update(SIDECAR_CACHE_URL=redis_url, OTEL_SDK_DISABLED="true", PYTHONUNBUFFERED="1")
        self.stderr_path = workdir / f"serve-{self.port}.log"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sidecar", "serve", "--port", str(self.port), "--upstream", upstream],
                env=env,
                cwd=workdir,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    async def ready(self, http: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.stderr_path.read_text()
            try:
                async with http.get(f"{self.url}/sidecar/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError("sidecar serve did not become ready")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.stderr_path.read_text()


def chat(tool_output: str) -> dict[str, object]:
    return {
        "model": "gpt-test",
        "messages": [
            {"role": "user", "content": GOAL},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": tool_output},
        ],
    }


async def mcp_recover(
    http: aiohttp.ClientSession, base: str, headers: dict[str, str], prune_id: str
) -> dict[str, Any]:
    """Call recover_text over MCP Streamable HTTP (initialize, initialized, tools/call); return the reply."""
    url = f"{base}/sidecar/mcp"
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    async with http.post(url, json=init, headers=headers) as resp:
        assert resp.status == 200
        session = {
            **headers,
            "Mcp-Session-Id": resp.headers["Mcp-Session-Id"],
            "MCP-Protocol-Version": "2025-11-25",
        }
    async with http.post(
        url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session
    ):
        pass
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "recover_text", "arguments": {"prune_id": prune_id, "ranges": []}},
    }
    async with http.post(url, json=call, headers=session) as resp:
        return dict(await resp.json())


async def test_acceptance_two_serve_processes_share_one_redis(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    fake = FakeUpstream()
    await fake.start()
    # 250 ms instead of the default 50: this test checks sharing and a kill, not timing (the tests
    # above do), and two servers plus load on a small CI machine can stall a process for 50 ms.
    url = redis_server.url + "?socket_timeout=0.25"
    a = ServeProcess(fake.url, url, tmp_path)
    b = ServeProcess(fake.url, url, tmp_path)
    headers = {"Authorization": "Bearer sk-replica-test", "Content-Type": "application/json"}
    tool = module_text("alpha", n=120)
    try:
        async with aiohttp.ClientSession() as http:
            await a.ready(http)
            await b.ready(http)
            async with http.post(f"{a.url}/v1/chat/completions", json=chat(tool), headers=headers) as resp:
                assert resp.status == 200 and int(resp.headers["X-Sidecar-Tokens-Saved"]) > 0
            sent_by_a = fake.received[-1].body
            async with http.post(f"{b.url}/v1/chat/completions", json=chat(tool), headers=headers) as resp:
                assert resp.status == 200 and int(resp.headers["X-Sidecar-Tokens-Saved"]) > 0
            async with http.get(f"{b.url}/sidecar/health") as resp:
                pruning_b = (await resp.json())["pruning"]
            assert fake.received[-1].body == sent_by_a, json.dumps(pruning_b)  # same result, same prune id
            assert pruning_b["cache_hits"] == 1 and pruning_b["cache_misses"] == 0
            assert pruning_b["cache_backend"] == "redis" and not pruning_b["redis_fallback_active"]
            pruned = json.loads(sent_by_a)["messages"][-1]["content"]
            prune_id = re.search(r"prune_id=([a-z2-7]{26})", pruned).group(1)  # type: ignore[union-attr]
            # B recovers A's prune id over MCP, for the same API key only (the identity travels too).
            reply = await mcp_recover(http, b.url, headers, prune_id)
            assert reply["result"]["structuredContent"]["raw_text"] == tool
            other_key = {**headers, "Authorization": "Bearer sk-someone-else"}
            assert (await mcp_recover(http, b.url, other_key, prune_id))["error"]["code"] == -32004

            # Load on both replicas; Redis is SIGKILLed in the middle: not one request fails.
            statuses: list[int] = []

            async def one(i: int) -> None:
                target = (a, b)[i % 2]
                body = chat(module_text(f"load{i}", n=80))  # new texts: every request reaches Redis
                async with http.post(f"{target.url}/v1/chat/completions", json=body, headers=headers) as resp:
                    await resp.read()
                    statuses.append(resp.status)

            async def wave(start: int) -> None:
                await asyncio.gather(*(one(i) for i in range(start, start + 8)))

            for w in range(12):
                if w == 4:
                    redis_server.kill()
                await wave(w * 8)
            await asyncio.sleep(0.3)  # past the grace: the next request of each probes, and finds Redis gone
            await wave(96)
            assert statuses == [200] * 104
            for proc in (a, b):
                async with http.get(f"{proc.url}/sidecar/health") as resp:
                    p = (await resp.json())["pruning"]
                assert p["redis_fallback_active"] and p["redis_errors"] >= 1
    finally:
        logs = [a.stop(), b.stop()]
        await fake.stop()
    for log in logs:
        assert log.count("redis unavailable") == 1, log
        assert tool[:200] not in log and "sk-replica-test" not in log


async def test_a_hiccup_is_silent_and_counts_once(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sidecar.redis")
    link = RedisLink(redis_server.url, op_timeout_s=0.05, grace_s=0.1)

    async def inflight(client: Redis) -> bool:
        await asyncio.sleep(0.02)
        return bool(await client.ping())

    async def ping(client: Redis) -> bool:
        return bool(await client.ping())

    async def stall(ops: int) -> None:
        pending = asyncio.gather(*(link.run(inflight) for _ in range(ops)), return_exceptions=True)
        await asyncio.sleep(0.005)  # in flight ...
        time.sleep(0.15)  # ... when this process stalls (CPU throttling, a huge text pruned in-loop)
        results = await pending
        assert all(isinstance(r, RedisUnavailable) for r in results)  # every timer fired late

    try:
        assert await link.run(ping)  # connected
        await stall(5)
        assert (link.errors, link.fallback_active, link.outages) == (5, True, 0)  # five ops, one event
        with pytest.raises(RedisUnavailable):
            await link.run(ping)  # skipped during the grace
        await asyncio.sleep(0.12)
        assert await link.run(ping)  # the probe succeeds: the hiccup is over
        assert (link.fallback_active, link.outages, link.generation) == (False, 0, 1)
        assert redis_warnings(caplog) == []
        # The same stall twice in a row (the probe fails too) is an outage: one warning.
        await stall(1)
        await asyncio.sleep(0.12)
        await stall(1)
        assert (
            link.outages == 1
            and len(redis_warnings(caplog)) == 1
            and "TimeoutError" in redis_warnings(caplog)[0]
        )
    finally:
        await link.aclose()
