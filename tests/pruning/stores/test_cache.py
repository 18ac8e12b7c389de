"""The result cache: key construction, TTL and bounds (single flight: test_singleflight.py)."""

from __future__ import annotations

import pytest

from sidecar.pruning.stores.cache import MemoryResultCache, cache_key, outcome_size
from sidecar.pruning.types import PruneOptions, PruneOutcome, PruneStats

OPTS = PruneOptions()


def outcome(text: str = "kept", prune_id: str = "id") -> PruneOutcome:
    stats = PruneStats(
        backend="heuristic",
        original_lines=1,
        kept_lines=1,
        pruned_lines=0,
        pruned_ratio=0.0,
        tokens_est_before=1,
        tokens_est_after=1,
        tokens_saved_est=0,
        elapsed_ms=0.0,
        latency_ms=0.0,
        used_fallback=False,
        cost_estimated_usd=0.0,
    )
    return PruneOutcome(prune_id=prune_id, pruned_text=text, annotations=[], warnings=[], stats=stats)


def test_key_is_sha256_and_stable():
    key = cache_key("text", "goal", "code", OPTS, "heuristic")
    assert len(key) == 32
    assert key == cache_key("text", "goal", "code", PruneOptions(), "heuristic")


def test_key_fields_are_unambiguous():
    base = cache_key("ab", "c", "code", OPTS, "heuristic")
    assert base != cache_key("a", "bc", "code", OPTS, "heuristic")
    assert base != cache_key("abc", "", "code", OPTS, "heuristic")
    assert base != cache_key("ab", "c", "logs", OPTS, "heuristic")
    assert base != cache_key("ab", "c", "code", OPTS, "deepinfra")
    assert base != cache_key("ab", "c", "code", PruneOptions(keep_ratio=0.5), "heuristic")
    assert base != cache_key("ab", "c", "code", PruneOptions(annotate_lines=True), "heuristic")
    assert base != cache_key("ab", "c", "code", PruneOptions(min_keep_lines=9), "heuristic")


def test_key_accepts_lone_surrogates():
    assert cache_key("a\udcff", "g", "code", OPTS, "heuristic") != cache_key(
        "a", "g", "code", OPTS, "heuristic"
    )


class Timer:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self):
        return self.now


async def test_get_set_and_ttl_expiry():
    timer = Timer()
    cache = MemoryResultCache(ttl_s=10, max_entries=10, max_bytes=1 << 20, timer=timer)
    key = b"k" * 32
    assert await cache.get(key) is None
    await cache.set(key, outcome("v"))
    got = await cache.get(key)
    assert got is not None and got.pruned_text == "v"
    timer.now = 9.9
    assert await cache.get(key) is not None
    timer.now = 10.1
    assert await cache.get(key) is None
    assert len(cache) == 0


async def test_bounded_in_entries():
    cache = MemoryResultCache(ttl_s=100, max_entries=3, max_bytes=1 << 20)
    for i in range(5):
        await cache.set(bytes([i]) * 32, outcome(str(i)))
    assert len(cache) == 3
    assert await cache.get(bytes([0]) * 32) is None
    assert await cache.get(bytes([4]) * 32) is not None


async def test_bounded_in_bytes():
    big = "x" * 10_000
    size = outcome_size(outcome(big))
    cache = MemoryResultCache(ttl_s=100, max_entries=1000, max_bytes=size * 3 + 10)
    for i in range(6):
        await cache.set(bytes([i]) * 32, outcome(big))
    assert len(cache) == 3
    assert cache.current_bytes <= cache.max_bytes
    await cache.set(b"h" * 32, outcome("y" * (size * 4)))  # larger than the whole cache: not stored
    assert await cache.get(b"h" * 32) is None
    assert len(cache) == 3


@pytest.mark.parametrize("n", [1, 100])
async def test_outcome_size_grows_with_text(n):
    assert outcome_size(outcome("x" * n)) >= n
