"""The recover store: original texts by prune id, so an agent can ask for pruned lines back.

Entries live ``recover.ttl_s`` (600 s by default) after their last prune, and the store is bounded
in bytes actually held, evicting the least recently pruned first. Texts are kept UTF-8 encoded: their
size is then exact and never grows (a str with one emoji holds 4 bytes per character, and CPython may
attach a UTF-8 copy to it later), and recovering, which is rare, decodes them. Each entry remembers who pruned
it: an entry stored with a caller identity recovers only for one of the callers that pruned that
text; an entry stored without one (no identity known) recovers for anyone. A refused caller gets
the same ``PruneIdNotFound`` as an unknown id, so ids cannot be probed.

An answer is never larger than the text it comes from (with line numbers, at most a few characters
more per line): at most ``MAX_RANGES`` ranges, covering at most as many lines as the text has, so
repeated or overlapping ranges cannot make a small text into a huge answer. A large text is sliced on
a worker thread.

The store interface (:class:`RecoverStore`) is async so that a shared store
(:class:`sidecar.redis_store.RedisRecoverStore`, same caller rule) can wrap
:class:`MemoryRecoverStore`; :func:`recover_text` holds the semantics and errors.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Protocol

from sidecar.errors import InvalidRange, PruneIdNotFound
from sidecar.pruning.types import LineRange, RecoverMetadata, RecoverResult

MAX_RANGES = 1000  # ranges per recover call
_THREAD_BYTES = 1024 * 1024  # texts this large are sliced on a worker thread
# Measured with tracemalloc: the entry, its prune id, callers set and OrderedDict slot (~580 bytes).
_ENTRY_OVERHEAD = 640
_CALLER_OVERHEAD = 64  # a caller's set slot, besides its string


class RecoverStore(Protocol):
    """Originals by prune id."""

    async def put(self, prune_id: str, text: str, caller: str | None) -> None: ...

    async def get(self, prune_id: str, caller: str | None) -> str:
        """Return the original text; raise PruneIdNotFound when absent, expired or not the caller's."""
        ...

    def stats(self) -> tuple[int, int]:
        """Return (entries, bytes held)."""
        ...

    async def aclose(self) -> None: ...


class _Entry:
    __slots__ = ("data", "expires", "callers", "public", "size")

    def __init__(self, data: bytes, expires: float, size: int) -> None:
        self.data = data
        self.expires = expires
        self.callers: set[str] = set()
        self.public = False
        self.size = size


class MemoryRecoverStore:
    """An in-process recover store: TTL per entry, bounded in bytes held, LRU by last prune."""

    def __init__(
        self,
        *,
        ttl_s: float = 600.0,
        max_bytes: int = 256 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0

    async def put(self, prune_id: str, text: str, caller: str | None) -> None:
        """Store (or refresh) the original of ``prune_id`` and remember ``caller``."""
        now = self._clock()
        self._expire(now)
        entry = self._entries.get(prune_id)
        if entry is None:
            data = text.encode("utf-8", "surrogatepass")
            entry = _Entry(data, now + self.ttl_s, sys.getsizeof(data) + _ENTRY_OVERHEAD)
            if entry.size > self.max_bytes:
                return
            self._entries[prune_id] = entry
            self._bytes += entry.size
        else:
            entry.expires = now + self.ttl_s
            self._entries.move_to_end(prune_id)
        if caller is None:
            entry.public = True
        elif caller not in entry.callers:
            entry.callers.add(caller)
            grown = sys.getsizeof(caller) + _CALLER_OVERHEAD
            entry.size += grown
            self._bytes += grown
        while self._bytes > self.max_bytes and self._entries:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size

    async def get(self, prune_id: str, caller: str | None) -> str:
        """Return the original of ``prune_id`` if it is present, fresh and the caller's."""
        self._expire(self._clock())
        entry = self._entries.get(prune_id)
        if entry is None or not (entry.public or (caller is not None and caller in entry.callers)):
            raise PruneIdNotFound("prune_id_not_found")
        return entry.data.decode("utf-8", "surrogatepass")

    def _expire(self, now: float) -> None:
        # Refreshing moves an entry to the end, so expiry times are in order from the front.
        while self._entries:
            prune_id, entry = next(iter(self._entries.items()))
            if entry.expires > now:
                break
            del self._entries[prune_id]
            self._bytes -= entry.size

    def stats(self) -> tuple[int, int]:
        """Return (entries, bytes) held now."""
        self._expire(self._clock())
        return len(self._entries), self._bytes

    async def aclose(self) -> None:
        """Drop everything."""
        self._entries.clear()
        self._bytes = 0


def _slice(text: str, ranges: Sequence[LineRange], include_line_numbers: bool) -> tuple[str, list[LineRange]]:
    lines = text.split("\n")
    count = len(lines)
    if not ranges:
        ranges = [LineRange(start_line=1, end_line=count)]
    if len(ranges) > MAX_RANGES:
        raise InvalidRange(f"invalid_range: {len(ranges)} ranges, at most {MAX_RANGES}")
    for index, r in enumerate(ranges):
        if r.start_line < 1 or r.end_line < r.start_line or r.end_line > count:
            raise InvalidRange(
                f"invalid_range: ranges[{index}] = {r.start_line}-{r.end_line}, text has {count} lines"
            )
    covered = sum(r.end_line - r.start_line + 1 for r in ranges)
    if covered > count:
        raise InvalidRange(
            f"invalid_range: the ranges cover {covered} lines, more than the text's {count}: "
            "ask for the whole text (no ranges) instead"
        )
    out: list[str] = []
    for r in ranges:
        for number in range(r.start_line, r.end_line + 1):
            line = lines[number - 1]
            # Same prefix as annotate_lines in sidecar.pruning.render, so both views read alike.
            out.append(f"{number}\t{line}" if include_line_numbers else line)
    return "\n".join(out), list(ranges)


async def recover_text(
    store: RecoverStore,
    prune_id: str,
    ranges: Sequence[LineRange],
    *,
    include_line_numbers: bool = False,
    caller: str | None = None,
) -> RecoverResult:
    """Return the original lines of ``ranges`` (1-based, inclusive; empty = the whole text).

    Raises PruneIdNotFound (-32004) for an unknown, expired or foreign id, and InvalidRange (-32005)
    when a range starts before line 1, ends before it starts, or ends past the last line, when there
    are more than MAX_RANGES ranges, or when they cover more lines than the text has.
    Ranges are returned in the order given, joined by newlines.
    """
    text = await store.get(prune_id, caller)
    if len(text) >= _THREAD_BYTES:
        raw, used = await asyncio.to_thread(_slice, text, ranges, include_line_numbers)
    else:
        raw, used = _slice(text, ranges, include_line_numbers)
    return RecoverResult(raw_text=raw, metadata=RecoverMetadata(prune_id=prune_id, ranges=used))
