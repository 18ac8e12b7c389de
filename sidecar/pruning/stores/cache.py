"""The result cache: pruning outcomes by a SHA-256 key.

    key = sha256( len-prefixed: version, text, goal, source type, options (JSON), backend )

The interface (:class:`ResultCache`) is async and tiny so that a shared store
(:class:`~.redis_store.RedisResultCache`, selected by ``SIDECAR_CACHE_URL``) can wrap the
in-process :class:`MemoryResultCache`; values are ``PruneOutcome`` structs, which
``msgspec.msgpack`` encodes losslessly for such a store.
Bounded in bytes actually held (:func:`outcome_size`): a string's own size as CPython keeps it (1, 2 or
4 bytes per character) plus, for non-ASCII text, the UTF-8 copy CPython attaches to a string once msgspec
encodes it (the proxy encodes every pruned text into a request body), plus the structs around it. An
emoji-heavy text thus costs 8 bytes per character here, not the 1 its length suggests.

A cache must never fail a call: :class:`~sidecar.pruning.service.Pruner` treats any exception from
``get``/``set`` as a miss and logs its class name only.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from typing import Protocol

import msgspec
from cachetools import TTLCache

from sidecar.pruning.types import PruneOptions, PruneOutcome

_KEY_VERSION = b"sidecar-prune-v1"
# Measured with tracemalloc (tests/reliability/test_memory_limits.py): an outcome's structs, list and id
# plus the TTL cache's key and slots are ~850 bytes; an annotation's struct, ints and list slot ~180.
_ENTRY_OVERHEAD = 1024
_ANNOTATION_OVERHEAD = 200
_options_encoder = msgspec.json.Encoder()


def cache_key(text: str, goal: str, source_type: str, options: PruneOptions, backend: str) -> bytes:
    """Return the 32-byte SHA-256 cache key; every field is length-prefixed, so no two inputs collide."""
    digest = hashlib.sha256()
    for field in (
        _KEY_VERSION,
        text.encode("utf-8", "surrogatepass"),
        goal.encode("utf-8", "surrogatepass"),
        source_type.encode(),
        _options_encoder.encode(options),
        backend.encode(),
    ):
        digest.update(len(field).to_bytes(8, "big"))
        digest.update(field)
    return digest.digest()


def text_bytes(text: str) -> int:
    """Return the bytes a string holds once encoded: its own size plus, unless ASCII, its UTF-8 copy."""
    size = sys.getsizeof(text)
    # str.isascii() is O(1) in CPython; the UTF-8 length is what msgspec's encoding will attach to it.
    return size if text.isascii() else size + len(text.encode("utf-8", "surrogatepass")) + 1


def outcome_size(outcome: PruneOutcome) -> int:
    """Return the bytes an outcome holds in the cache (texts as CPython keeps them, structs, slots)."""
    size = text_bytes(outcome.pruned_text) + _ENTRY_OVERHEAD
    for a in outcome.annotations:
        size += text_bytes(a.marker) + text_bytes(a.reason) + _ANNOTATION_OVERHEAD
    return size + sum(text_bytes(w) + 8 for w in outcome.warnings)


class ResultCache(Protocol):
    """Where outcomes are kept between calls. Implementations may raise; callers treat that as a miss."""

    async def get(self, key: bytes) -> PruneOutcome | None: ...

    async def set(self, key: bytes, outcome: PruneOutcome) -> None: ...

    async def aclose(self) -> None: ...

    def __len__(self) -> int: ...


class _Entry(msgspec.Struct, frozen=True):
    outcome: PruneOutcome
    size: int


def _entry_size(entry: _Entry) -> int:
    return entry.size


class MemoryResultCache:
    """An in-process TTL cache bounded both in entries and in bytes held (see :func:`outcome_size`)."""

    def __init__(
        self, *, ttl_s: float, max_entries: int, max_bytes: int, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._data: TTLCache[bytes, _Entry] = TTLCache(
            maxsize=max_bytes, ttl=ttl_s, timer=timer, getsizeof=_entry_size
        )

    async def get(self, key: bytes) -> PruneOutcome | None:
        """Return the outcome under ``key``, or None."""
        entry = self._data.get(key)
        return None if entry is None else entry.outcome

    async def set(self, key: bytes, outcome: PruneOutcome) -> None:
        """Store ``outcome``; an outcome larger than the whole cache is not stored."""
        entry = _Entry(outcome, outcome_size(outcome))
        if entry.size > self.max_bytes:
            return
        self._data[key] = entry  # TTLCache evicts by size (oldest first) to make room
        while len(self._data) > self.max_entries:
            self._data.popitem()

    @property
    def current_bytes(self) -> int:
        """The bytes held, as :func:`outcome_size` counts them."""
        return int(self._data.currsize)

    def __len__(self) -> int:
        return len(self._data)

    async def aclose(self) -> None:
        """Drop everything."""
        self._data.clear()
