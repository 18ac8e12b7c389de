"""The shared store on Redis: pruning results and originals shared by every replica.

    SIDECAR_CACHE_URL=redis://host:6379/0 (or rediss://, unix://)
      sidecar:v1:result:<key hex>        msgpack PruneOutcome                  PX cache.ttl_s
      sidecar:v1:recover:<prune id>      hash t=text, p=public, c:<caller>=1   PX recover.ttl_s, refreshed
      sidecar:v1:prune-id-secret:hmac    the replicas' prune id secret         SET NX, no expiry

Redis is an optimisation like the cache itself: every store writes through to the in-process store
it wraps and reads that first (a repeat on one replica costs no round trip), Redis on a local miss;
so an outage keeps recent entries and costs no request. Recover entries are refreshed in Redis at
most once per tenth of their TTL per (id, caller). Values over 8 MiB stay in process.

:class:`RedisLink` bounds each Redis operation (connect, pool wait, round trip) by one tight
timeout, 50 ms by default: a LAN round trip is well under 1 ms, and a Redis slower than that is
no better than recomputing (``?socket_timeout=`` in the URL overrides it). After a failure, Redis
is not tried at all for a short grace (0.25 s), then one call probes it: a hiccup (this process
stalled, e.g. CPU throttling or a large text pruned on the event loop) ends there, silently. If
the probe fails too, that is an outage: one warning (the error's class name only, never the URL,
which may hold a password), then probes after a back-off of 1 s doubling to 30 s. So a request
waits for Redis at most one timeout, and only when it is the one that finds Redis gone.
Start-up, off the request path, opens a few connections and agrees on the prune id secret with
2 s to do it, so a busy node does not begin in fallback; a Redis that never answered is an outage
at its first failure (the warning comes at start-up).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import msgspec
from cachetools import TTLCache
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from sidecar.config import redis_url_problem
from sidecar.errors import ConfigError, PruneIdNotFound, RedisUnavailable
from sidecar.pruning.stores.cache import MemoryResultCache
from sidecar.pruning.stores.recover import MemoryRecoverStore
from sidecar.pruning.types import PruneOutcome

T = TypeVar("T")

try:
    from redis.maint_notifications import MaintNotificationsConfig
except ImportError:  # redis-py before maintenance notifications: nothing to turn off
    _NO_MAINT_NOTIFICATIONS: dict[str, object] = {}
else:
    # They would relax timeouts to seconds during a server's maintenance (and cost a round trip).
    _NO_MAINT_NOTIFICATIONS = {"maint_notifications_config": MaintNotificationsConfig(enabled=False)}

log = logging.getLogger("sidecar.redis")

NAMESPACE = "sidecar:v1"
MAX_VALUE_BYTES = 8 * 1024 * 1024  # larger values stay in process: one must not stall Redis for all
_PUBLIC = b"p"
_UP, _GRACE, _DOWN = "up", "grace", "down"
_START_TIMEOUT_S = 2.0
_TEXT = b"t"


class RedisLink:
    """One Redis client shared by the stores: a tight timeout per operation, a back-off after failure."""

    def __init__(
        self,
        url: str,
        *,
        op_timeout_s: float = 0.05,
        grace_s: float = 0.25,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        max_connections: int = 64,
        namespace: str = NAMESPACE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        query = parse_qs(urlsplit(url).query)
        try:
            if "socket_timeout" in query:
                op_timeout_s = float(query["socket_timeout"][-1])
            if not op_timeout_s > 0:
                raise ValueError("socket_timeout must be a positive number of seconds")
            pool = BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                # run() bounds every operation; these only back it up, and must not cut start-up short.
                timeout=_START_TIMEOUT_S,
                socket_timeout=_START_TIMEOUT_S,
                socket_connect_timeout=_START_TIMEOUT_S,
                retry=Retry(NoBackoff(), 0),  # redis-py's default retries with sleeps: never on a request
                **_NO_MAINT_NOTIFICATIONS,
            )
        except (ValueError, TypeError):  # redis-py's messages may quote the URL, and so its password
            reason = redis_url_problem(url) or "not a usable Redis URL"
            raise ConfigError(f"SIDECAR_CACHE_URL (cache.url): {reason}") from None
        self.op_timeout_s = op_timeout_s
        self.namespace = namespace
        self.errors = 0  # failed operations, hiccups included
        self.outages = 0
        self.generation = 0  # bumped when Redis answers again after a failure: it may have restarted empty
        self._grace = grace_s
        self._backoff_min = backoff_s
        self._backoff_max = max_backoff_s
        self._backoff = backoff_s
        self._state = _UP
        self._since = 0.0  # when the current state began
        self._retry_at = 0.0
        self._probing = False
        self._answered = False  # a Redis that never answered is down, not hiccuping
        self._clock = clock
        self._client: Redis = Redis.from_pool(pool)
        self._closed = False

    @property
    def fallback_active(self) -> bool:
        """True while Redis is skipped (a failure's grace or an outage): the in-process stores serve."""
        return self._state != _UP

    def key(self, kind: str, name: str) -> str:
        """Return the namespaced key ``<namespace>:<kind>:<name>``."""
        return f"{self.namespace}:{kind}:{name}"

    async def run(self, op: Callable[[Redis], Awaitable[T]], *, timeout_s: float | None = None) -> T:
        """Run ``op`` on the client; raise RedisUnavailable when backing off or on any Redis failure."""
        if self._state != _UP:
            if self._probing or self._clock() < self._retry_at:
                raise RedisUnavailable
            self._probing = True
        started = self._clock()
        try:
            async with asyncio.timeout(self.op_timeout_s if timeout_s is None else timeout_s):
                result = await op(self._client)
        except (RedisError, OSError, TimeoutError) as exc:  # a cancelled caller is not a Redis failure
            self._failed(exc, started)
            raise RedisUnavailable from exc
        finally:
            self._probing = False
        self._answered = True
        if self._state != _UP:
            if self._state == _DOWN:
                log.info("redis reachable again: shared cache in use (%d errors so far)", self.errors)
            self._state, self._since, self._backoff = _UP, self._clock(), self._backoff_min
            self.generation += 1
        return result

    def _failed(self, exc: BaseException, started: float) -> None:
        self.errors += 1
        now = self._clock()
        if self._state != _UP and started < self._since:
            return  # in flight when the state changed: the same event, already accounted for
        if self._state == _UP and self._answered:
            self._state, delay = _GRACE, self._grace
            log.debug("redis failed (%s): skipped for %.2f s, then probed", type(exc).__name__, delay)
        elif self._state != _DOWN:
            self._state, self._backoff, delay = _DOWN, self._backoff_min, self._backoff_min
            self.outages += 1
            log.warning(
                "redis unavailable (%s): using the in-process cache, retrying in %.1f s",
                type(exc).__name__,
                delay,
            )
        else:
            self._backoff = delay = min(self._backoff * 2, self._backoff_max)
            log.debug("redis still unavailable (%s): next probe in %.1f s", type(exc).__name__, delay)
        self._since, self._retry_at = now, now + delay

    async def warm(self, connections: int = 8, timeout_s: float = _START_TIMEOUT_S) -> None:
        """Open ``connections`` pooled connections now (start-up, off the request path); may raise."""

        async def op(client: Redis) -> None:
            await asyncio.gather(*(client.ping() for _ in range(connections)))

        await self.run(op, timeout_s=timeout_s)

    async def shared_secret(self, proposal: bytes, *, timeout_s: float | None = None) -> bytes:
        """Store ``proposal`` as the replicas' prune id secret unless one exists; return the one stored."""
        name = self.key("prune-id-secret", "hmac")

        async def op(client: Redis) -> bytes | None:
            async with client.pipeline(transaction=True) as pipe:
                pipe.set(name, proposal, nx=True)
                pipe.get(name)
                _, value = await pipe.execute()
            return value if isinstance(value, bytes) else None

        value = await self.run(op, timeout_s=timeout_s)
        if not value:
            raise RedisUnavailable
        return value

    async def aclose(self) -> None:
        """Close the client and its connections (idempotent)."""
        if not self._closed:
            self._closed = True
            await self._client.aclose()


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(PruneOutcome)


class RedisResultCache:
    """Pruning outcomes in Redis, written through to (and read back from) an in-process cache."""

    def __init__(
        self,
        link: RedisLink,
        local: MemoryResultCache,
        *,
        ttl_s: float,
        max_value_bytes: int = MAX_VALUE_BYTES,
    ) -> None:
        self.link = link
        self.local = local
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._max_value = max_value_bytes

    async def get(self, key: bytes) -> PruneOutcome | None:
        """Return the outcome from the in-process cache, else from Redis (kept in process), else None."""
        # In process first: what this replica computed or fetched is as good as Redis's copy, and a
        # repeated segment then costs no round trip.
        outcome = await self.local.get(key)
        if outcome is not None:
            return outcome
        name = self.link.key("result", key.hex())

        async def op(client: Redis) -> bytes | None:
            value = await client.get(name)
            return value if isinstance(value, bytes) else None

        try:
            raw = await self.link.run(op)
        except RedisUnavailable:
            return None
        if raw is None:
            return None
        try:
            outcome = _decoder.decode(raw)
        except msgspec.DecodeError:
            log.debug("undecodable cache entry ignored")
            return None
        await self.local.set(key, outcome)  # kept for the next call, and for an outage
        return outcome

    async def set(self, key: bytes, outcome: PruneOutcome) -> None:
        """Store ``outcome`` in process and, unless it is over the size cap, in Redis."""
        await self.local.set(key, outcome)
        raw = _encoder.encode(outcome)
        if len(raw) > self._max_value:
            return
        name = self.link.key("result", key.hex())

        async def op(client: Redis) -> None:
            await client.set(name, raw, px=self._ttl_ms)

        try:
            await self.link.run(op)
        except RedisUnavailable:
            pass

    def __len__(self) -> int:
        """Return the entries held in process (Redis holds the replicas' union)."""
        return len(self.local)

    async def aclose(self) -> None:
        """Drop the in-process entries (the Pruner closes the shared link)."""
        await self.local.aclose()


class RedisRecoverStore:
    """Originals by prune id in Redis, with the callers allowed to recover them; written through."""

    def __init__(
        self,
        link: RedisLink,
        local: MemoryRecoverStore,
        *,
        ttl_s: float,
        max_value_bytes: int = MAX_VALUE_BYTES,
    ) -> None:
        self.link = link
        self.local = local
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._max_value = max_value_bytes
        # (prune id, caller) pairs refreshed in Redis lately: a repeated segment refreshes its entry
        # once per tenth of the TTL, not on every call. Forgotten when Redis comes back (maybe empty).
        self._fresh: TTLCache[tuple[str, str | None], bool] = TTLCache(maxsize=65536, ttl=ttl_s / 10)
        self._fresh_generation = link.generation

    async def put(self, prune_id: str, text: str, caller: str | None) -> None:
        """Store (or refresh) the original of ``prune_id`` and remember ``caller``, here and in Redis."""
        await self.local.put(prune_id, text, caller)
        if self._fresh_generation != self.link.generation:
            self._fresh.clear()
            self._fresh_generation = self.link.generation
        pair = (prune_id, caller)
        if pair in self._fresh:
            return
        data = text.encode("utf-8", "surrogatepass")
        if len(data) > self._max_value:
            return
        name = self.link.key("recover", prune_id)
        field = _PUBLIC if caller is None else b"c:" + caller.encode()
        ttl = self._ttl_ms

        async def op(client: Redis) -> None:
            # Refresh and mark first; send the (possibly large) text only when Redis lacks it.
            async with client.pipeline(transaction=True) as pipe:
                pipe.hset(name, field, b"1")
                pipe.pexpire(name, ttl)
                pipe.hexists(name, _TEXT)
                _, _, has_text = await pipe.execute()
            if not has_text:
                async with client.pipeline(transaction=True) as pipe:
                    pipe.hset(name, _TEXT, data)
                    pipe.pexpire(name, ttl)
                    await pipe.execute()

        try:
            await self.link.run(op)
        except RedisUnavailable:
            return
        self._fresh[pair] = True

    async def get(self, prune_id: str, caller: str | None) -> str:
        """Return the original from the in-process store or Redis; raise PruneIdNotFound otherwise."""
        try:
            return await self.local.get(prune_id, caller)  # same caller rule; Redis holds a superset
        except PruneIdNotFound:
            pass
        name = self.link.key("recover", prune_id)
        fields = [_TEXT, _PUBLIC] + ([] if caller is None else [b"c:" + caller.encode()])

        async def op(client: Redis) -> list[bytes | None]:
            values = await client.hmget(name, fields)
            return [v if isinstance(v, bytes) else None for v in values]

        try:
            text, *allowed = await self.link.run(op)
        except RedisUnavailable:
            raise PruneIdNotFound("prune_id_not_found") from None
        if text is None or all(v is None for v in allowed):
            raise PruneIdNotFound("prune_id_not_found")  # the same answer for absent and not yours
        return text.decode("utf-8", "surrogatepass")

    def stats(self) -> tuple[int, int]:
        """Return (entries, bytes) held in process."""
        return self.local.stats()

    async def aclose(self) -> None:
        """Drop the in-process entries (the Pruner closes the shared link)."""
        await self.local.aclose()


__all__ = [
    "MAX_VALUE_BYTES",
    "RedisLink",
    "RedisRecoverStore",
    "RedisResultCache",
    "RedisUnavailable",
]
