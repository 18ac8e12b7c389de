"""Per-provider concurrency limits, the FIFO queue, the sidecar's own 429, and 429/503 retries."""

from __future__ import annotations

import asyncio
import email.utils
import time

import aiohttp
import openai
import pytest
from aiohttp.test_utils import TestServer

from sidecar.app import build_app
from sidecar.routing.limiter import ProviderLimiter, QueueTimeout
from sidecar.routing.middleware import install_routing
from sidecar.testing.fake_upstream import FakeUpstream, Profile, routing_reply
from tests.routing.support import PROVIDERS, received, sdk, user, write_config

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def fake() -> FakeUpstream:
    # The fake deepseek answers 429 above 5 in flight, as the real one would: any overshoot shows.
    profiles = {name: Profile(latency_ms=50) for name in PROVIDERS}
    profiles["deepseek"] = Profile(latency_ms=50, max_concurrent=5, retry_after_s=1)
    server = FakeUpstream(profiles=profiles, reply=routing_reply)
    await server.start()
    yield server
    await server.stop()


async def start(aiohttp_client, fake, tmp_path, **kwargs):
    return await aiohttp_client(
        build_app(write_config(tmp_path, fake.url, **kwargs), installers=[install_routing])
    )


async def test_50_concurrent_requests_never_exceed_max_concurrent(
    aiohttp_client, fake, tmp_path, provider_keys
):
    client = await start(aiohttp_client, fake, tmp_path)
    api = sdk(client, **{"X-Sidecar-Mode": "double-check"})
    # double-check's executor is deepseek (max_concurrent = 5); the audits go to gemini.
    results = await asyncio.gather(
        *(
            api.chat.completions.with_raw_response.create(model="m", messages=user(f"task {i}"))
            for i in range(50)
        )
    )
    assert len(results) == 50
    assert all(r.parse().choices[0].message.content for r in results)
    assert all(r.headers["X-Sidecar-Attempts"] == "1" for r in results)  # no 429 was ever provoked
    assert fake.max_in_flight["deepseek"] == 5
    assert len(received(fake, "deepseek")) == 50
    health = await (await client.get("/sidecar/health")).json()
    deepseek = health["routing"]["providers"]["deepseek"]
    assert deepseek["peak_in_flight"] == 5 and deepseek["upstream_status"] == {"2xx": 50}


async def test_429_with_retry_after_1_succeeds_after_about_a_second(
    aiohttp_client, fake, tmp_path, provider_keys
):
    client = await start(aiohttp_client, fake, tmp_path)
    fake.inject("status=429;retry-after=1")
    started = time.monotonic()
    raw = await sdk(client, **{"X-Sidecar-Mode": "fast"}).chat.completions.with_raw_response.create(
        model="m", messages=user()
    )
    elapsed = time.monotonic() - started
    assert raw.parse().choices[0].message.content  # no error seen by the client
    assert raw.headers["X-Sidecar-Attempts"] == "2"
    assert 1.0 <= elapsed < 2.5
    first, second = received(fake, "groq")
    assert second.started - first.started >= 1.0


async def test_503_with_http_date_retry_after_is_retried(aiohttp_client, fake, tmp_path, provider_keys):
    client = await start(aiohttp_client, fake, tmp_path)
    when = email.utils.formatdate(time.time() + 2, usegmt=True)  # whole seconds: waits 1-2 s
    fake.inject(f"status=503;retry-after={when}")
    started = time.monotonic()
    raw = await sdk(client, **{"X-Sidecar-Mode": "fast"}).chat.completions.with_raw_response.create(
        model="m", messages=user()
    )
    assert raw.headers["X-Sidecar-Attempts"] == "2"
    assert 0.9 <= time.monotonic() - started < 3.0


async def test_attempts_are_bounded_and_the_last_answer_relayed(
    aiohttp_client, fake, tmp_path, provider_keys
):
    client = await start(aiohttp_client, fake, tmp_path, routing="max_attempts = 3")
    fake.inject("status=503;retry-after=0", times=5)
    with pytest.raises(openai.InternalServerError) as info:
        await sdk(client, **{"X-Sidecar-Mode": "fast"}).chat.completions.create(model="m", messages=user())
    assert info.value.status_code == 503
    assert info.value.response.headers["X-Sidecar-Attempts"] == "3"
    assert len(received(fake, "groq")) == 3


async def test_retry_after_beyond_the_cap_is_not_waited_for(aiohttp_client, fake, tmp_path, provider_keys):
    client = await start(aiohttp_client, fake, tmp_path, routing="max_retry_after_s = 2")
    fake.inject("status=429;retry-after=3600")
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as info:
        await sdk(client, **{"X-Sidecar-Mode": "fast"}).chat.completions.create(model="m", messages=user())
    assert time.monotonic() - started < 1.0
    assert info.value.response.headers["Retry-After"] == "3600"  # the provider's own answer, for the agent


async def test_queue_timeout_is_a_sidecar_429_with_retry_after(aiohttp_client, tmp_path, provider_keys):
    slow = FakeUpstream(profiles={"groq": Profile(latency_ms=1500)}, reply=routing_reply)
    await slow.start()
    try:
        client = await start(
            aiohttp_client, slow, tmp_path, limits={"groq": 1}, routing="queue_timeout_s = 0.3"
        )
        api = sdk(client, **{"X-Sidecar-Mode": "fast"})
        first = asyncio.ensure_future(api.chat.completions.create(model="m", messages=user()))  # noqa: TID251
        await asyncio.sleep(0.1)
        with pytest.raises(openai.RateLimitError) as info:
            await api.chat.completions.create(model="m", messages=user())
        assert info.value.body["code"] == "sidecar_queue_timeout"
        assert int(info.value.response.headers["Retry-After"]) >= 1
        assert (await first).choices[0].message.content
        assert len(received(slow, "groq")) == 1  # the refused request never reached the provider
    finally:
        await slow.stop()


async def test_a_client_that_leaves_while_queued_frees_its_place(tmp_path, provider_keys):
    slow = FakeUpstream(profiles={"groq": Profile(latency_ms=300)}, reply=routing_reply)
    await slow.start()
    # As `sidecar serve` runs it: a client that disconnects cancels its handler.
    config = write_config(tmp_path, slow.url, limits={"groq": 1})
    server = TestServer(build_app(config, installers=[install_routing]), handler_cancellation=True)
    await server.start_server()
    try:
        body = {"model": "m", "messages": user()}
        headers = {"X-Sidecar-Mode": "fast"}
        url = server.make_url("/v1/chat/completions")
        async with aiohttp.ClientSession() as http:
            holder = asyncio.ensure_future(http.post(url, json=body, headers=headers))  # noqa: TID251
            await asyncio.sleep(0.05)
            with pytest.raises(asyncio.TimeoutError):
                await http.post(url, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=0.1))
            (await holder).release()
            resp = await http.post(url, json=body, headers=headers)
            assert resp.status == 200
            health = await (await http.get(server.make_url("/sidecar/health"))).json()
        groq = health["routing"]["providers"]["groq"]
        assert groq["in_flight"] == 0 and groq["queued"] == 0
        assert len(received(slow, "groq")) == 2  # the one that left never reached the provider
    finally:
        await server.close()
        await slow.stop()


# --- the limiter itself --------------------------------------------------------------------------


async def test_slots_are_granted_in_arrival_order():
    limiter = ProviderLimiter("p", 2)
    held = [await limiter.acquire(1), await limiter.acquire(1)]
    order: list[int] = []

    async def waiter(i: int) -> None:
        lease = await limiter.acquire(5)
        order.append(i)
        await asyncio.sleep(0.01)
        lease.release()

    tasks = []
    for i in range(6):
        tasks.append(asyncio.ensure_future(waiter(i)))  # noqa: TID251
        await asyncio.sleep(0)  # arrival order = creation order
    assert limiter.queued == 6
    for lease in held:
        lease.release()
    await asyncio.gather(*tasks)
    assert order == list(range(6))
    assert limiter.in_flight == 0 and limiter.peak_in_flight == 2


async def test_newcomers_do_not_jump_the_queue():
    limiter = ProviderLimiter("p", 1)
    lease = await limiter.acquire(1)
    queued = asyncio.ensure_future(limiter.acquire(1))  # noqa: TID251
    await asyncio.sleep(0)
    lease.release()  # handed to the queued waiter, not left for a newcomer
    with pytest.raises(QueueTimeout):
        await limiter.acquire(0.05)
    (await queued).release()
    assert limiter.in_flight == 0 and limiter.queue_timeouts == 1


async def test_cancelled_waiter_does_not_lose_the_slot():
    limiter = ProviderLimiter("p", 1)
    lease = await limiter.acquire(1)
    waiting = asyncio.ensure_future(limiter.acquire(5))  # noqa: TID251
    await asyncio.sleep(0)
    lease.release()  # granted to `waiting`...
    waiting.cancel()  # ...which is cancelled before it runs: the slot must come back
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert limiter.in_flight == 0
    (await limiter.acquire(0.1)).release()
