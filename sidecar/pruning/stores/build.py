"""Compose the stores a Pruner uses: in process, or Redis in front of the in-process ones.

    cache.url unset           -> MemoryResultCache, MemoryRecoverStore
    cache.url = redis://...   -> RedisResultCache(memory), RedisRecoverStore(memory) over one RedisLink

Redis is an optimisation, never a dependency: its stores fall back to the in-process ones on any failure
(sidecar.pruning.stores.redis_store). A store passed in (tests, benchmarks) is used as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from sidecar.config import Config
from sidecar.pruning.stores.cache import MemoryResultCache, ResultCache
from sidecar.pruning.stores.recover import MemoryRecoverStore, RecoverStore

if TYPE_CHECKING:
    from sidecar.pruning.stores.redis_store import RedisLink


class Stores(msgspec.Struct, frozen=True):
    """The result cache, the recover store, and the Redis link behind them (None: in process only)."""

    cache: ResultCache
    recover: RecoverStore
    redis: RedisLink | None


def build_stores(
    config: Config,
    *,
    cache: ResultCache | None = None,
    recover_store: RecoverStore | None = None,
    redis: RedisLink | None = None,
) -> Stores:
    """Build the stores ``config`` asks for, keeping any given one."""
    memory_cache = MemoryResultCache(
        ttl_s=config.cache.ttl_s, max_entries=config.cache.max_entries, max_bytes=config.cache.max_bytes
    )
    memory_store = MemoryRecoverStore(ttl_s=config.recover.ttl_s, max_bytes=config.recover.max_bytes)
    if redis is None and config.cache.url and (cache is None or recover_store is None):
        # The Redis client library is imported only when a cache URL asks for it (~40 ms of start-up
        # the CLI and in-process users never pay). load_config has checked that the URL is a Redis one.
        from sidecar.pruning.stores.redis_store import RedisLink

        redis = RedisLink(config.cache.url)
    if redis is not None:
        from sidecar.pruning.stores.redis_store import RedisRecoverStore, RedisResultCache

        if cache is None:
            cache = RedisResultCache(redis, memory_cache, ttl_s=config.cache.ttl_s)
        if recover_store is None:
            recover_store = RedisRecoverStore(redis, memory_store, ttl_s=config.recover.ttl_s)
    # "is None", not "or": an empty cache has len() 0 and is falsy.
    return Stores(
        cache=memory_cache if cache is None else cache,
        recover=memory_store if recover_store is None else recover_store,
        redis=redis,
    )
