"""The cache and the recover store are bounded in bytes actually held, emoji text included (row 1).

CPython keeps a string with one emoji at 4 bytes per character, and msgspec attaches a UTF-8 copy to a
string it encodes (as the proxy does with every pruned text): counting characters let emoji-heavy output
hold 4 to 8 times the configured bytes. Memory is measured with tracemalloc, not trusted from the stores.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import msgspec
import pytest

from sidecar.config import load_config
from sidecar.pruning.service import Pruner
from sidecar.pruning.stores.cache import MemoryResultCache
from sidecar.pruning.stores.recover import MemoryRecoverStore
from sidecar.pruning.types import Annotation, PruneOutcome, PruneStats

pytestmark = pytest.mark.timeout(120)

MiB = 1024 * 1024
CAP = 4 * MiB
SLACK = 1.10  # held bytes may exceed the cap by this factor (allocator rounding, container slots)


def emoji_text(i: int, chars: int = 20_000) -> str:
    line = f"{i:06d} 🚀 build step ✅ passed 😀 — ünïcödé line\n"
    return (line * (chars // len(line) + 1))[:chars]


def outcome(i: int, text: str) -> PruneOutcome:
    stats = PruneStats(
        backend="heuristic", original_lines=1, kept_lines=1, pruned_lines=0, pruned_ratio=0.0,
        tokens_est_before=1, tokens_est_after=1, tokens_saved_est=0, elapsed_ms=0.0, latency_ms=0.0,
        used_fallback=False, cost_estimated_usd=0.0,
    )  # fmt: skip
    marks = [
        Annotation(kind="pruned_block", original_start_line=j, original_end_line=j + 1, pruned_line_count=2,
                   reason="low relevance to the goal (heuristic)", marker=f"[... {i} {j} pruned ...]")
        for j in range(4)
    ]  # fmt: skip
    return PruneOutcome(prune_id=f"id{i:024d}", pruned_text=text, annotations=marks, warnings=[], stats=stats)


@pytest.mark.parametrize("make", [emoji_text, lambda i: f"{i:06d} plain ascii log line\n" * 1000])
async def test_recover_store_holds_at_most_its_cap(make):
    async def fill_async(store: MemoryRecoverStore) -> None:
        for i in range(200):
            await store.put(f"id{i}", make(i), f"caller-{i % 3}")

    store = MemoryRecoverStore(ttl_s=600, max_bytes=CAP)
    gc.collect()
    tracemalloc.start()
    try:
        await fill_async(store)
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    entries, counted = store.stats()
    assert entries > 10
    assert counted <= CAP
    assert held <= CAP * SLACK, f"held {held / MiB:.1f} MiB for a {CAP / MiB:.0f} MiB cap"
    assert await store.get("id199", "caller-1") == make(199)  # and what it gives back is the text


@pytest.mark.parametrize("make", [emoji_text, lambda i: f"{i:06d} plain ascii log line\n" * 1000])
async def test_result_cache_holds_at_most_its_cap_once_texts_are_encoded(make):
    cache = MemoryResultCache(ttl_s=600, max_entries=100_000, max_bytes=CAP)
    gc.collect()
    tracemalloc.start()
    try:
        for i in range(200):
            key = i.to_bytes(32, "big")
            await cache.set(key, outcome(i, make(i)))
            hit = await cache.get(key)
            assert hit is not None
            msgspec.json.encode(hit.pruned_text)  # what the proxy does with it: CPython keeps a UTF-8 copy
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(cache) > 10
    assert cache.current_bytes <= CAP
    assert held <= CAP * SLACK, f"held {held / MiB:.1f} MiB for a {CAP / MiB:.0f} MiB cap"


async def test_pruner_with_both_stores_stays_near_the_caps():
    config = load_config(env={})
    config = msgspec.structs.replace(
        config,
        cache=msgspec.structs.replace(config.cache, max_bytes=CAP),
        recover=msgspec.structs.replace(config.recover, max_bytes=CAP),
    )
    pruner = Pruner(config, env={})
    await pruner.start()
    try:
        gc.collect()
        tracemalloc.start()
        for i in range(150):
            out = await pruner.prune(emoji_text(i, 40_000), "build step", caller="key-a")
            msgspec.json.encode(out.pruned_text)
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        await pruner.aclose()
    assert held <= 2 * CAP * SLACK + MiB, f"held {held / MiB:.1f} MiB for two {CAP / MiB:.0f} MiB caps"


async def test_an_overloaded_pruner_sheds_instead_of_queueing_without_bound():
    """Past its budget of text being pruned, a new text is kept whole at once (and not cached)."""
    pruner = Pruner(load_config(env={}), env={}, pending_max_chars=20_000)
    await pruner.start()
    try:
        texts = [emoji_text(i, 8_000) for i in range(30)]
        outs = await asyncio.gather(*(pruner.prune(t, "build step", caller="key-a") for t in texts))
        shed = [o for o in outs if any(w.startswith("pruning_busy") for w in o.warnings)]
        assert 0 < len(shed) < len(outs)
        assert all(o.pruned_text == t for o, t in zip(outs, texts, strict=True) if o in shed)
        assert pruner.health().calls_shed == len(shed)
        again = await pruner.prune(texts[-1], "build step", caller="key-a")  # nothing queued now: pruned
        assert not any(w.startswith("pruning_busy") for w in again.warnings)
    finally:
        await pruner.aclose()
