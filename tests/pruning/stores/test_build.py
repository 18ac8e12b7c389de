"""Store composition: in process by default, Redis in front of the in-process stores with a cache.url,
and a store passed in is used as it is."""

from __future__ import annotations

import subprocess
import sys

from sidecar.config import CacheConfig, Config, RecoverConfig
from sidecar.pruning.service import Pruner
from sidecar.pruning.stores.build import build_stores
from sidecar.pruning.stores.cache import MemoryResultCache
from sidecar.pruning.stores.recover import MemoryRecoverStore
from sidecar.pruning.stores.redis_store import RedisLink, RedisRecoverStore, RedisResultCache
from tests.pruning.stores.support import RedisServer, config, needs_redis


def test_in_process_stores_by_default_sized_by_the_config():
    cfg = Config(
        cache=CacheConfig(ttl_s=12.0, max_entries=34, max_bytes=5678),
        recover=RecoverConfig(ttl_s=90.0, max_bytes=4321),
    )
    stores = build_stores(cfg)
    assert stores.redis is None
    assert isinstance(stores.cache, MemoryResultCache) and isinstance(stores.recover, MemoryRecoverStore)
    assert (stores.cache.max_entries, stores.cache.max_bytes) == (34, 5678)
    assert (stores.recover.ttl_s, stores.recover.max_bytes) == (90.0, 4321)


def test_the_redis_client_is_not_imported_without_a_cache_url():
    code = (
        "import sys\n"
        "from sidecar.config import Config\n"
        "from sidecar.pruning.stores.build import build_stores\n"
        "build_stores(Config())\n"
        "print([m for m in ('redis', 'sidecar.pruning.stores.redis_store') if m in sys.modules])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert proc.stdout.strip() == "[]"


def test_given_stores_are_kept_even_when_empty():
    cache = MemoryResultCache(ttl_s=1, max_entries=1, max_bytes=1)
    recover = MemoryRecoverStore(ttl_s=1, max_bytes=1)
    assert len(cache) == 0 and not cache  # falsy: "cache or default" would drop it
    stores = build_stores(config("redis://127.0.0.1:1/0"), cache=cache, recover_store=recover)
    assert stores.cache is cache and stores.recover is recover
    assert stores.redis is None  # nothing left for Redis to serve: no client is opened


async def test_a_cache_url_puts_redis_in_front_of_the_in_process_stores():
    cache = MemoryResultCache(ttl_s=1, max_entries=1, max_bytes=1)
    stores = build_stores(config("redis://127.0.0.1:1/0"), cache=cache)  # nothing listens: never dialled
    try:
        assert stores.cache is cache
        assert isinstance(stores.redis, RedisLink)
        assert isinstance(stores.recover, RedisRecoverStore) and stores.recover.link is stores.redis
        assert isinstance(stores.recover.local, MemoryRecoverStore)
    finally:
        await stores.recover.aclose()
        await stores.redis.aclose()


async def test_a_given_link_is_used_without_a_cache_url():
    link = RedisLink("redis://127.0.0.1:1/0")
    stores = build_stores(Config(), redis=link)
    try:
        assert stores.redis is link
        assert isinstance(stores.cache, RedisResultCache) and stores.cache.link is link
        assert isinstance(stores.cache.local, MemoryResultCache)
        assert isinstance(stores.recover, RedisRecoverStore) and stores.recover.link is link
    finally:
        await stores.cache.aclose()
        await stores.recover.aclose()
        await link.aclose()


@needs_redis
async def test_two_builds_on_one_url_share_what_they_store(redis_server: RedisServer):
    one, two = build_stores(config(redis_server.url)), build_stores(config(redis_server.url))
    try:
        await one.recover.put("pid", "the original text", None)
        assert two.recover.stats() == (0, 0)  # nothing in two's own memory...
        assert await two.recover.get("pid", None) == "the original text"  # ...yet two finds it
    finally:
        for stores in (one, two):
            await stores.cache.aclose()
            await stores.recover.aclose()
            assert stores.redis is not None
            await stores.redis.aclose()


@needs_redis
async def test_config_url_selects_the_shared_store(redis_server: RedisServer) -> None:
    pruner = Pruner(config(redis_server.url), env={})
    memory = Pruner(Config(), env={})
    try:
        await pruner.start()
        assert pruner.health().cache_backend == "redis" and memory.health().cache_backend == "memory"
        h = pruner.health()
        assert h.redis_errors == 0 and not h.redis_fallback_active
    finally:
        await pruner.aclose()
        await memory.aclose()
