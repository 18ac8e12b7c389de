"""PruningBackendManager: backend choice, fallback on every DeepInfra fault, breaker, no key."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest

from sidecar.config import BackendName, Config, DeepInfraConfig, PruningConfig
from sidecar.errors import BackendError
from sidecar.pruning.manager import CircuitBreaker, PruningBackendManager
from sidecar.pruning.types import PruneOptions, PruneRequest, Selection
from sidecar.tasks import spawn
from sidecar.testing.fake_deepinfra import FakeDeepInfra

KEY_ENV = {"DEEPINFRA_API_KEY": "test-key"}
TEXT = (
    "\n\n".join(
        f"def handler_{i}(request):\n    value = compute_{i}(request)\n    return value" for i in range(30)
    )
    + "\n\ndef upload_retry(request):\n    retry the upload with backoff\n    return ok\n"
)
GOAL = "retry the upload with backoff"


def di_config(
    backend: BackendName = "deepinfra", url: str = "http://127.0.0.1:9/v1/inference/m", **deepinfra: Any
) -> Config:
    return Config(
        pruning=PruningConfig(backend=backend),
        deepinfra=DeepInfraConfig(endpoint_url=url, **deepinfra),
    )


def request(timeout_ms: int = 1500) -> PruneRequest:
    return PruneRequest(
        text=TEXT,
        goal=GOAL,
        source_type="code",
        options=PruneOptions(keep_ratio=0.3, timeout_ms=timeout_ms),
        prune_id="x" * 26,
    )


class Counting:
    """MockTransport handler: counts calls, answers per a mode."""

    def __init__(self, mode: str | int = "ok") -> None:
        self.mode = mode
        self.calls = 0

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.mode == "refused":
            raise httpx.ConnectError("refused")
        if isinstance(self.mode, int):
            return httpx.Response(self.mode)
        n = len(msgspec.json.decode(req.content)["documents"])
        return httpx.Response(200, json={"scores": [0.5] * n, "input_tokens": 10 * n})


@pytest.fixture
async def fake() -> AsyncIterator[FakeDeepInfra]:
    server = FakeDeepInfra(api_key="test-key")
    await server.start()
    yield server
    await server.stop()


async def test_default_backend_is_heuristic_and_never_calls_deepinfra():
    handler = Counting()
    manager = PruningBackendManager(Config(), env=KEY_ENV, deepinfra_transport=httpx.MockTransport(handler))
    await manager.start()
    decision = await manager.prune(request())
    await manager.aclose()
    assert manager.name == "heuristic"
    assert decision.backend == "heuristic"
    assert not decision.used_fallback and not decision.deepinfra_selected
    assert handler.calls == 0
    assert len(decision.keep) == len(TEXT.split("\n"))


async def test_deepinfra_success_against_fake_server(fake):
    manager = PruningBackendManager(di_config(url=fake.url), env=KEY_ENV)
    decision = await manager.prune(request())
    await manager.aclose()
    assert decision.backend == "deepinfra"
    assert not decision.used_fallback
    assert decision.deepinfra_called and decision.deepinfra_selected
    assert decision.reranker_input_tokens > 0
    assert decision.warnings == []
    assert fake.calls == 1
    lines = TEXT.split("\n")
    assert decision.keep[lines.index("    retry the upload with backoff")]
    assert 0 < sum(decision.keep) < len(lines)


FAULTS = [
    ("401", "http_401"),
    ("403", "http_403"),
    ("404", "http_404"),
    ("422", "http_422"),
    ("429", "http_429"),
    ("500", "http_500"),
    ("503", "http_503"),
    ("invalid_json", "invalid_json"),
    ("wrong_shape", "invalid_response"),
    ("count_mismatch", "score_count_mismatch"),
    ("nan", "nan_score"),
    ("drop", "protocol_error"),
    ("slow:1000", "timeout"),
]


@pytest.mark.parametrize(("fault", "cause"), FAULTS)
async def test_every_fake_server_fault_falls_back_in_the_same_call(fake, fault, cause, caplog):
    fake.fault = fault
    manager = PruningBackendManager(di_config(url=fake.url, timeout_ms=200), env=KEY_ENV)
    with caplog.at_level(logging.WARNING, logger="sidecar.pruning.manager"):
        decision = await manager.prune(request())
    await manager.aclose()
    assert decision.used_fallback
    assert decision.backend == "heuristic"
    assert decision.deepinfra_selected and decision.deepinfra_called
    assert decision.reranker_input_tokens == 0
    assert decision.warnings[0] == f"deepinfra_failed:{cause}; used heuristic"
    assert len(decision.keep) == len(TEXT.split("\n"))
    assert sum(decision.keep) < len(decision.keep)
    assert cause in caplog.text
    assert GOAL not in caplog.text and "test-key" not in caplog.text


async def test_wrong_key_falls_back_with_401(fake):
    manager = PruningBackendManager(di_config(url=fake.url), env={"DEEPINFRA_API_KEY": "nope"})
    decision = await manager.prune(request())
    await manager.aclose()
    assert decision.used_fallback
    assert decision.warnings[0].startswith("deepinfra_failed:http_401")


async def test_connection_refused_falls_back():
    manager = PruningBackendManager(di_config(url="http://127.0.0.1:9/v1/inference/m"), env=KEY_ENV)
    decision = await manager.prune(request())
    await manager.aclose()
    assert decision.used_fallback
    assert decision.warnings[0].startswith("deepinfra_failed:connect_error")


async def test_request_deadline_bounds_a_slow_reranker(fake):
    fake.fault = "slow:2000"
    manager = PruningBackendManager(di_config(url=fake.url, timeout_ms=5000), env=KEY_ENV)
    loop = asyncio.get_running_loop()
    started = loop.time()
    decision = await manager.prune(request(timeout_ms=100))
    elapsed = loop.time() - started
    await manager.aclose()
    assert decision.used_fallback
    assert decision.warnings[0].startswith("deepinfra_failed:timeout")
    assert elapsed < 1.0


class Exploding:
    name = "deepinfra"

    def __init__(self, exc: Exception | None = None, keep: list[bool] | None = None) -> None:
        self.exc = exc
        self.keep = keep
        self.calls = 0

    async def prune(self, req):
        self.calls += 1
        if self.exc is not None:
            raise self.exc
        return Selection(keep=self.keep or [], backend="deepinfra")

    async def aclose(self):
        pass


@pytest.mark.parametrize(
    ("backend", "cause"),
    [
        (Exploding(exc=RuntimeError("boom with secret text")), "RuntimeError"),
        (Exploding(exc=ValueError("x")), "ValueError"),
        (Exploding(keep=[True]), "keep_length_mismatch"),
        (Exploding(exc=BackendError("http_418")), "http_418"),
    ],
)
async def test_any_exception_falls_back(backend, cause):
    manager = PruningBackendManager(di_config(), env=KEY_ENV, deepinfra=backend)
    decision = await manager.prune(request())
    assert decision.used_fallback
    assert decision.warnings[0] == f"deepinfra_failed:{cause}; used heuristic"
    assert "secret" not in " ".join(decision.warnings)


async def test_no_key_warns_once_and_never_calls(caplog):
    handler = Counting()
    manager = PruningBackendManager(di_config(), env={}, deepinfra_transport=httpx.MockTransport(handler))
    with caplog.at_level(logging.WARNING, logger="sidecar.pruning.manager"):
        await manager.start()
        await manager.start()
    startup = [r for r in caplog.records if "is not set" in r.getMessage()]
    assert len(startup) == 1
    assert "DEEPINFRA_API_KEY" in startup[0].getMessage()
    for _ in range(3):
        decision = await manager.prune(request())
        assert decision.used_fallback and decision.deepinfra_selected and not decision.deepinfra_called
        assert decision.warnings[0] == "deepinfra_unavailable:no_api_key; used heuristic"
    assert handler.calls == 0
    assert not manager.deepinfra_usable


async def test_blank_key_counts_as_no_key():
    manager = PruningBackendManager(di_config(), env={"DEEPINFRA_API_KEY": "  "})
    assert not manager.deepinfra_usable


async def test_custom_key_env_name():
    config = di_config(api_key_env="MY_RERANK_KEY")
    assert PruningBackendManager(config, env={"MY_RERANK_KEY": "k"}).deepinfra_usable
    assert not PruningBackendManager(config, env=KEY_ENV).deepinfra_usable


def is_open(manager: PruningBackendManager) -> bool:
    return manager.breaker.is_open


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self):
        return self.now


async def test_breaker_calls_a_dead_endpoint_once_per_cooldown():
    handler = Counting("refused")
    clock = Clock()
    manager = PruningBackendManager(
        di_config(breaker_failures=2, breaker_cooldown_s=30.0),
        env=KEY_ENV,
        deepinfra_transport=httpx.MockTransport(handler),
        clock=clock,
    )
    for _ in range(2):
        assert (await manager.prune(request())).deepinfra_called
    assert handler.calls == 2
    assert is_open(manager)
    for _ in range(5):
        decision = await manager.prune(request())
        assert decision.used_fallback and not decision.deepinfra_called
        assert decision.warnings[0] == "deepinfra_unavailable:circuit_open; used heuristic"
    assert handler.calls == 2
    clock.now += 31  # half-open: one trial
    assert (await manager.prune(request())).deepinfra_called
    assert handler.calls == 3
    for _ in range(5):
        await manager.prune(request())
    assert handler.calls == 3, "a failed trial re-opens the circuit for a whole cool-down"
    clock.now += 31
    handler.mode = "ok"
    decision = await manager.prune(request())
    assert not decision.used_fallback and decision.backend == "deepinfra"
    assert not is_open(manager)
    for _ in range(3):
        await manager.prune(request())
    assert handler.calls == 7
    await manager.aclose()


async def test_breaker_counts_consecutive_failures_only():
    handler = Counting(503)
    manager = PruningBackendManager(
        di_config(breaker_failures=2), env=KEY_ENV, deepinfra_transport=httpx.MockTransport(handler)
    )
    await manager.prune(request())
    handler.mode = "ok"
    await manager.prune(request())
    handler.mode = 503
    await manager.prune(request())
    assert not is_open(manager)
    await manager.prune(request())
    assert is_open(manager)
    await manager.aclose()


def test_breaker_half_open_lets_one_trial_through():
    clock = Clock()
    breaker = CircuitBreaker(failures=1, cooldown_s=10, clock=clock)
    breaker.record_failure()
    assert not breaker.allow()
    clock.now += 11
    assert breaker.allow()
    assert not breaker.allow(), "only one trial while half-open"
    breaker.abandon()
    assert breaker.allow(), "a cancelled trial frees the slot"
    breaker.record_success()
    assert breaker.allow() and breaker.allow()


def big_code(n_chars: int) -> str:
    block = "def handler(request):\n    value = compute(request)\n    return value\n\n"
    return block * (n_chars // len(block) + 1)


@pytest.fixture
def select_threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The thread each call of the heuristic's ``select`` runs on, in call order."""
    from sidecar.pruning.backends.heuristic import HeuristicBackend

    threads: list[int] = []
    original = HeuristicBackend.select

    def recording(self: HeuristicBackend, req: PruneRequest) -> Selection:
        threads.append(threading.get_ident())
        return original(self, req)

    monkeypatch.setattr(HeuristicBackend, "select", recording)
    return threads


async def test_large_texts_run_the_heuristic_off_the_event_loop(select_threads: list[int]) -> None:
    threads = select_threads
    manager = PruningBackendManager(Config(), env={}, thread_min_chars=10_000)
    small = PruneRequest(text=TEXT, goal=GOAL, source_type="code", options=PruneOptions(), prune_id="x" * 26)
    large = msgspec.structs.replace(small, text=big_code(20_000))
    await manager.prune(small)
    decision = await manager.prune(large)
    assert threads[0] == threading.get_ident(), "short texts stay on the loop"
    assert threads[1] != threading.get_ident(), "long texts go to a worker thread"
    assert len(decision.keep) == len(large.text.split("\n"))


async def test_no_thread_threshold_keeps_large_texts_on_the_loop(select_threads: list[int]) -> None:
    threads = select_threads
    manager = PruningBackendManager(Config(), env={}, thread_min_chars=None)
    large = PruneRequest(
        text=big_code(40_000), goal=GOAL, source_type="code", options=PruneOptions(), prune_id="x" * 26
    )
    decision = await manager.prune(large)
    assert threads == [threading.get_ident()]
    assert len(decision.keep) == len(large.text.split("\n"))


async def test_event_loop_stays_responsive_during_a_large_prune() -> None:
    manager = PruningBackendManager(Config(), env={})
    req = PruneRequest(
        text=big_code(1_000_000), goal=GOAL, source_type="code", options=PruneOptions(), prune_id="x" * 26
    )
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    done = False

    async def ticker() -> None:
        last = loop.time()
        while not done:
            await asyncio.sleep(0.001)
            now = loop.time()
            gaps.append(now - last)
            last = now

    tick = spawn(ticker())
    started = loop.time()
    await manager.prune(req)
    took = loop.time() - started
    done = True
    await tick
    assert took > 0.02
    assert max(gaps) < took / 2, f"loop stalled {max(gaps) * 1000:.0f} ms of a {took * 1000:.0f} ms prune"
