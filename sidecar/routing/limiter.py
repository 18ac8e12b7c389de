"""Per-provider concurrency and retries: queue requests instead of provoking 429s.

Each provider has a :class:`ProviderLimiter`: at most ``max_concurrent`` requests in flight, the others
wait in a FIFO queue (a freed slot is handed to the oldest waiter, never grabbed by a newcomer). A wait
longer than ``routing.queue_timeout_s`` raises :class:`QueueTimeout`, which the sidecar answers with its
own 429 and a ``Retry-After``.

:func:`send` makes one provider call through the limiter. A 429 or 503 answer arrives before any byte
reached the client, so it is retried: after the provider's ``Retry-After`` (seconds or an HTTP-date), or
an exponential back-off when it gave none, at most ``routing.max_attempts`` attempts in all. While a
provider asked to wait, every request to it waits too (a cool-down), so the queue does not stampede it.
A ``Retry-After`` longer than ``routing.max_retry_after_s`` is not waited for: that answer is relayed.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque

import aiohttp
import msgspec
from multidict import CIMultiDict

from sidecar.config import RoutingConfig
from sidecar.errors import RoutingError
from sidecar.proxy.upstream import open_upstream
from sidecar.resilience import retry_delay
from sidecar.stats import ProxyStats

RETRYABLE = frozenset({429, 503})


class QueueTimeout(RoutingError):
    """A request waited longer than the queue timeout for a provider slot."""

    def __init__(self, provider: str, waited_s: float, retry_after_s: int) -> None:
        super().__init__(
            f"provider {provider!r} is at its concurrency limit; queued {waited_s:.1f} s", status=429
        )
        self.retry_after_s = retry_after_s


class LimiterHealth(msgspec.Struct, frozen=True, kw_only=True):
    max_concurrent: int
    in_flight: int
    queued: int
    peak_in_flight: int
    requests: int
    retries: int
    queue_timeouts: int
    upstream_status: dict[str, int]


class Lease:
    """One held provider slot; :meth:`release` is idempotent."""

    __slots__ = ("_limiter", "_held", "_since")

    def __init__(self, limiter: ProviderLimiter) -> None:
        self._limiter = limiter
        self._held = True
        self._since = time.monotonic()

    def release(self) -> None:
        """Give the slot back (to the oldest waiter, if any)."""
        if self._held:
            self._held = False
            self._limiter._observe_hold(time.monotonic() - self._since)
            self._limiter._release_slot()


class ProviderLimiter:
    """A fair FIFO concurrency limit for one provider, with a shared cool-down after a 429/503."""

    def __init__(self, name: str, max_concurrent: int) -> None:
        self.name = name
        self.max_concurrent = max_concurrent
        self.in_flight = 0
        self.peak_in_flight = 0
        self.requests = 0
        self.retries = 0
        self.queue_timeouts = 0
        self.status: dict[str, int] = {}
        self.cooldown_until = 0.0  # time.monotonic() before which no request is sent
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._hold_ewma_s = 1.0

    @property
    def queued(self) -> int:
        return len(self._waiters)

    async def acquire(self, timeout_s: float) -> Lease:
        """Wait for a slot in arrival order; raise QueueTimeout after ``timeout_s``."""
        if self.in_flight < self.max_concurrent and not self._waiters:
            self._take()
            return Lease(self)
        started = time.monotonic()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout_s):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                # The slot was handed over just as we gave up: pass it on, or it is lost.
                self._release_slot()
            else:
                waiter.cancel()
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
            if isinstance(exc, TimeoutError):
                self.queue_timeouts += 1
                raise QueueTimeout(self.name, time.monotonic() - started, self.retry_after_hint()) from None
            raise
        return Lease(self)

    def retry_after_hint(self) -> int:
        """Seconds a refused client should wait: the queue ahead of it at the recent service time."""
        estimate = self._hold_ewma_s * (self.queued + 1) / self.max_concurrent
        return int(min(60, max(1, math.ceil(estimate))))

    async def wait_cooldown(self) -> None:
        """Sleep until the provider's requested pause is over."""
        while (pause := self.cooldown_until - time.monotonic()) > 0:
            await asyncio.sleep(pause)

    def record_status(self, status: int) -> None:
        key = f"{status // 100}xx" if status not in RETRYABLE else str(status)
        self.status[key] = self.status.get(key, 0) + 1

    def health(self) -> LimiterHealth:
        return LimiterHealth(
            max_concurrent=self.max_concurrent,
            in_flight=self.in_flight,
            queued=self.queued,
            peak_in_flight=self.peak_in_flight,
            requests=self.requests,
            retries=self.retries,
            queue_timeouts=self.queue_timeouts,
            upstream_status=dict(self.status),
        )

    def _take(self) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _release_slot(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot changes hands: in_flight stays the same
                return
        self.in_flight -= 1

    def _observe_hold(self, seconds: float) -> None:
        self._hold_ewma_s = 0.8 * self._hold_ewma_s + 0.2 * seconds


class Sent(msgspec.Struct, kw_only=True):
    """A provider's answer (headers received, body unread) and the slot it holds until relayed."""

    response: aiohttp.ClientResponse
    lease: Lease
    attempts: int

    def close(self) -> None:
        """Release the slot and the connection."""
        self.lease.release()
        self.response.release()


async def send(
    limiter: ProviderLimiter,
    session: aiohttp.ClientSession,
    url: str,
    headers: CIMultiDict[str],
    body: bytes,
    policy: RoutingConfig,
    stats: ProxyStats | None = None,
) -> Sent:
    """POST ``body`` to ``url`` within the provider's limit, retrying 429/503 as the module describes.

    Raises QueueTimeout, or UpstreamUnreachable/UpstreamTimeout (the slot is released on every error).
    The caller relays the response, then calls ``Sent.close()``. ``stats`` counts a stale pooled
    connection open_upstream resent.
    """
    lease = await limiter.acquire(policy.queue_timeout_s)
    attempt = 0
    try:
        while True:
            attempt += 1
            await limiter.wait_cooldown()
            limiter.requests += 1
            response = await open_upstream(session, "POST", url, headers, body, stats)
            limiter.record_status(response.status)
            if response.status not in RETRYABLE or attempt >= policy.max_attempts:
                return Sent(response=response, lease=lease, attempts=attempt)
            delay = retry_delay(response.headers.get("Retry-After"), attempt, policy.max_retry_after_s)
            if delay is None:
                return Sent(response=response, lease=lease, attempts=attempt)
            try:
                await response.read()  # drain, so the connection can be reused
            except (aiohttp.ClientError, TimeoutError):
                pass
            response.release()
            limiter.retries += 1
            limiter.cooldown_until = max(limiter.cooldown_until, time.monotonic() + delay)
    except BaseException:
        lease.release()
        raise


class Destination(msgspec.Struct, frozen=True, kw_only=True):
    """Where one routed call goes: a provider's chat endpoint, its model, key-bearing headers, limiter."""

    provider: str
    model: str
    url: str
    headers: CIMultiDict[str]
    limiter: ProviderLimiter
    supports_json_format: bool

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.model}"
