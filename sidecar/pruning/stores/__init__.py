"""Where pruning keeps things: results by cache key, original texts by prune id.

    build         build_stores(config): in process, or Redis in front of the in-process stores
    cache         ResultCache (the interface), MemoryResultCache (TTL, bounded), cache_key
    singleflight  concurrent identical calls share one run
    recover       RecoverStore, MemoryRecoverStore, recover_text (line ranges of the original)
    redis_store   RedisLink (timeouts, back-off, one warning per outage), the Redis-backed stores

A store never fails a call: any error is a miss (cache) or a skipped write (recover), logged by class name.
"""
