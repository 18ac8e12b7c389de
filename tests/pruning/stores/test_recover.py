"""The recover store and recover_text: ranges, errors, TTL, byte bound, caller identity."""

from __future__ import annotations

import pytest

from sidecar.errors import InvalidRange, PruneIdNotFound
from sidecar.pruning.stores.recover import MemoryRecoverStore, recover_text
from sidecar.pruning.types import LineRange

TEXT = "\n".join(f"line {i}" for i in range(1, 11))  # 10 lines


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self):
        return self.now


def r(start: int, end: int) -> LineRange:
    return LineRange(start_line=start, end_line=end)


@pytest.fixture
async def store():
    s = MemoryRecoverStore(ttl_s=600, max_bytes=1 << 20)
    await s.put("pid", TEXT, None)
    return s


async def test_single_range(store):
    result = await recover_text(store, "pid", [r(2, 4)])
    assert result.raw_text == "line 2\nline 3\nline 4"
    assert result.metadata.prune_id == "pid"
    assert result.metadata.ranges == [r(2, 4)]
    assert result.metadata.line_numbering == "original"


async def test_several_ranges_in_given_order_and_line_numbers(store):
    result = await recover_text(store, "pid", [r(9, 10), r(1, 1)], include_line_numbers=True)
    assert result.raw_text == "9\tline 9\n10\tline 10\n1\tline 1"


async def test_whole_text_when_no_ranges(store):
    result = await recover_text(store, "pid", [])
    assert result.raw_text == TEXT
    assert result.metadata.ranges == [r(1, 10)]


async def test_edges_are_valid(store):
    assert (await recover_text(store, "pid", [r(1, 10)])).raw_text == TEXT
    assert (await recover_text(store, "pid", [r(10, 10)])).raw_text == "line 10"


@pytest.mark.parametrize("bad", [r(0, 3), r(-1, 2), r(5, 4), r(3, 11), r(11, 11)])
async def test_invalid_ranges(store, bad):
    with pytest.raises(InvalidRange) as info:
        await recover_text(store, "pid", [r(1, 2), bad])
    assert info.value.jsonrpc_code == -32005
    assert info.value.reason == "invalid_range"
    assert "line 1" not in str(info.value)


async def test_unknown_id(store):
    with pytest.raises(PruneIdNotFound) as info:
        await recover_text(store, "nope", [r(1, 1)])
    assert info.value.jsonrpc_code == -32004
    assert info.value.reason == "prune_id_not_found"


async def test_ttl_expiry_and_refresh():
    clock = Clock()
    store = MemoryRecoverStore(ttl_s=600, max_bytes=1 << 20, clock=clock)
    await store.put("a", "A", None)
    await store.put("b", "B", None)
    clock.now = 500
    await store.put("a", "A", None)  # pruned again: lives another 600 s
    clock.now = 601
    assert await store.get("a", None) == "A"
    with pytest.raises(PruneIdNotFound):
        await store.get("b", None)
    assert store.stats()[0] == 1
    clock.now = 1101
    with pytest.raises(PruneIdNotFound):
        await store.get("a", None)
    assert store.stats() == (0, 0)


async def test_bounded_in_bytes_evicts_least_recent():
    probe = MemoryRecoverStore(ttl_s=600)
    await probe.put("p", "x" * 1000, None)
    one = probe.stats()[1]  # an entry's bytes, its text and overhead
    store = MemoryRecoverStore(ttl_s=600, max_bytes=3 * one)
    for name in "abcd":
        await store.put(name, "x" * 1000, None)
    entries, size = store.stats()
    assert entries == 3 and size <= store.max_bytes
    with pytest.raises(PruneIdNotFound):
        await store.get("a", None)
    assert await store.get("d", None)
    await store.put("too-big", "y" * 10_000, None)
    with pytest.raises(PruneIdNotFound):
        await store.get("too-big", None)


async def test_caller_identity():
    store = MemoryRecoverStore()
    await store.put("mine", TEXT, "alice")
    assert (await recover_text(store, "mine", [r(1, 1)], caller="alice")).raw_text == "line 1"
    for other in ("bob", None):
        with pytest.raises(PruneIdNotFound):
            await recover_text(store, "mine", [r(1, 1)], caller=other)
    await store.put("mine", TEXT, "bob")  # bob pruned the same text: both may recover it
    assert await store.get("mine", "bob") == TEXT
    assert await store.get("mine", "alice") == TEXT
    await store.put("anon", TEXT, None)
    assert await store.get("anon", "carol") == TEXT
    assert await store.get("anon", None) == TEXT


async def test_trailing_newline_counts_as_a_last_empty_line():
    store = MemoryRecoverStore()
    await store.put("p", "a\nb\n", None)
    assert (await recover_text(store, "p", [r(1, 3)])).raw_text == "a\nb\n"
    with pytest.raises(InvalidRange):
        await recover_text(store, "p", [r(1, 4)])


async def test_aclose_empties():
    store = MemoryRecoverStore()
    await store.put("p", TEXT, None)
    await store.aclose()
    assert store.stats() == (0, 0)
