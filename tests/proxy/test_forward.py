"""The transparent path: bytes in equal bytes out, streaming, errors, limits, disconnects."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import time

import aiohttp
import anthropic
import httpx
import httpx2
import msgspec
import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sidecar.testing.fake_upstream import FakeUpstream
from tests.support import base, sidecar, start_sidecar

__all__ = ["sidecar"]  # a fixture (tests/support.py)

pytestmark = pytest.mark.timeout(30)


async def raw_request(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    out = await reader.read()
    writer.close()
    return out


# --- SDK clients, byte for byte ----------------------------------------------------------------------


class Capture:
    def __init__(self) -> None:
        self.requests: list[bytes] = []

    async def hook(self, request: httpx.Request | httpx2.Request) -> None:
        self.requests.append(request.content)


async def test_openai_sdk_non_streaming_bytes_identical(sidecar: TestServer, fake_upstream: FakeUpstream):
    cap = Capture()
    async with httpx.AsyncClient(event_hooks={"request": [cap.hook]}) as http:
        client = openai.AsyncOpenAI(api_key="sk-test", base_url=base(sidecar) + "/v1", http_client=http)
        reply = await client.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": 'héllo ✓ \u2028 "quoted"'}],
            extra_body={"unknown_field": {"nested": [1, 2.50, 1e3]}},
        )
    assert fake_upstream.received[-1].body == cap.requests[-1]
    assert (
        reply.choices[0].message.content
        == json.loads(fake_upstream.sent[-1])["choices"][0]["message"]["content"]
    )
    assert reply.usage is not None and reply.usage.prompt_tokens > 0


async def test_openai_sdk_streaming(sidecar: TestServer, fake_upstream: FakeUpstream):
    cap = Capture()
    async with httpx.AsyncClient(event_hooks={"request": [cap.hook]}) as http:
        client = openai.AsyncOpenAI(api_key="sk-test", base_url=base(sidecar) + "/v1", http_client=http)
        stream = await client.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": "stream please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        parts = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    assert fake_upstream.received[-1].body == cap.requests[-1]
    assert "".join(parts).startswith("Here is the change")


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_sdk(sidecar: TestServer, fake_upstream: FakeUpstream, stream: bool):
    cap = Capture()
    # anthropic 2.x runs on httpx2, a fork with the same hooks API.
    async with httpx2.AsyncClient(event_hooks={"request": [cap.hook]}) as http:
        client = anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=base(sidecar), http_client=http)
        messages = [{"role": "user", "content": "bonjour"}]
        if stream:
            async with client.messages.stream(model="claude-test", max_tokens=64, messages=messages) as s:
                text = "".join([t async for t in s.text_stream])
        else:
            msg = await client.messages.create(model="claude-test", max_tokens=64, messages=messages)
            text = msg.content[0].text  # type: ignore[union-attr]
    assert fake_upstream.received[-1].body == cap.requests[-1]
    assert text.startswith("Here is the change")
    # The API key goes upstream untouched.
    sent = {(k.lower(), v) for k, v in fake_upstream.received[-1].headers}
    assert ("authorization", "Bearer sk-ant-test") in sent or ("x-api-key", "sk-ant-test") in sent


@pytest.mark.parametrize("stream", [False, True])
async def test_response_bytes_identical(sidecar: TestServer, fake_upstream: FakeUpstream, stream: bool):
    body = json.dumps({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "x"}]})
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.post(base(sidecar) + "/v1/chat/completions", data=body) as resp:
            got = await resp.read()
    assert got == fake_upstream.sent[-1]


# --- every method, query strings, repeated headers, binary bodies ------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_methods_and_bodies_arrive_identical(
    sidecar: TestServer, fake_upstream: FakeUpstream, method: str
):
    body = b"\x00\xff\xfe binary \xe9 " + "unicode ✓".encode() + bytes(range(256))
    if method in ("GET", "OPTIONS"):
        body = b""
    async with aiohttp.ClientSession() as session:
        async with session.request(
            method,
            base(sidecar) + "/v1/files/a%2Fb",
            params=None,
            data=body or None,
            headers=[("X-Rep", "1"), ("X-Rep", "2"), ("Content-Type", "application/octet-stream")],
        ) as resp:
            assert resp.status == 200
            echo = await resp.json()
    got = fake_upstream.received[-1]
    assert got.method == method
    assert got.body == body
    assert base64.b64decode(echo["body_b64"]) == body
    assert [v for k, v in got.headers if k == "X-Rep"] == ["1", "2"]


async def test_head_is_relayed(sidecar: TestServer, fake_upstream: FakeUpstream):
    async with aiohttp.ClientSession() as session:
        async with session.head(base(sidecar) + "/v1/models") as resp:
            assert resp.status == 200
    assert fake_upstream.received[-1].method == "HEAD"


async def test_raw_query_and_hop_by_hop_headers(sidecar: TestServer, fake_upstream: FakeUpstream):
    request = (
        b"POST /v1/x%2Fy?q=%2F&a=1&a=2&weird=%zz HTTP/1.1\r\n"
        b"Host: client.example\r\n"
        b"Connection: close, X-Private\r\n"
        b"X-Private: hop\r\n"
        b"Keep-Alive: timeout=5\r\n"
        b"TE: trailers\r\n"
        b"Upgrade: websocket\r\n"
        b"Proxy-Authorization: Basic abc\r\n"
        b"X-Sidecar-Goal: secret goal\r\n"
        b"X-Sidecar-Prune: off\r\n"
        b"Authorization: Bearer sk-keep\r\n"
        b"X-Dup: a\r\nX-Dup: b\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        b'4\r\n{"a"\r\n3\r\n:1}\r\n0\r\n\r\n'
    )
    out = await raw_request(sidecar.port, request)  # type: ignore[arg-type]
    assert out.startswith(b"HTTP/1.1 200")
    got = fake_upstream.received[-1]
    assert got.path_qs == "/v1/x%2Fy?q=%2F&a=1&a=2&weird=%zz"
    names = {k.lower() for k, _ in got.headers}
    for dropped in (
        "x-private",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-authorization",
        "transfer-encoding",
        "x-sidecar-goal",
        "x-sidecar-prune",
    ):
        assert dropped not in names
    headers = dict((k.lower(), v) for k, v in got.headers)
    assert headers["host"] == f"127.0.0.1:{fake_upstream.port}"
    assert headers["authorization"] == "Bearer sk-keep"
    assert [v for k, v in got.headers if k == "X-Dup"] == ["a", "b"]
    assert got.body == b'{"a":1}'
    # aiohttp would add these on its own; an agent that did not send them must not appear to.
    assert "user-agent" not in names and "accept-encoding" not in names and "content-type" not in names


async def test_compressed_and_repeated_response_headers_relayed_raw(make_config, aiohttp_server):
    payload = gzip.compress(b'{"ok": true}' * 100)

    async def handler(request: web.Request) -> web.Response:
        resp = web.Response(
            body=payload, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )
        resp.headers.add("Set-Cookie", "a=1")
        resp.headers.add("Set-Cookie", "b=2")
        resp.headers["Connection"] = "keep-alive"
        return resp

    upstream_app = web.Application()
    upstream_app.router.add_get("/gz", handler)
    upstream = await aiohttp_server(upstream_app)
    server = await start_sidecar(make_config(str(upstream.make_url("")).rstrip("/")))
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            async with session.get(base(server) + "/gz", headers={"Accept-Encoding": "gzip"}) as resp:
                assert await resp.read() == payload
                assert resp.headers.getall("Set-Cookie") == ["a=1", "b=2"]
                assert resp.headers["Content-Encoding"] == "gzip"
    finally:
        await server.close()


# --- limits and failures ------------------------------------------------------------------------------


async def test_body_over_limit_is_413(fake_upstream: FakeUpstream, make_config):
    config = make_config(fake_upstream.url)
    config = msgspec.structs.replace(
        config, server=msgspec.structs.replace(config.server, max_body_bytes=1024)
    )
    server = await start_sidecar(config)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(base(server) + "/v1/chat/completions", data=b"x" * 2048) as resp:
                assert resp.status == 413
                assert (await resp.json())["error"]["code"] == "request_too_large"

            async def chunks():
                for _ in range(4):
                    yield b"y" * 512

            async with session.post(base(server) + "/v1/chat/completions", data=chunks()) as resp:
                assert resp.status == 413
            async with session.post(base(server) + "/v1/chat/completions", data=b"{}" * 500) as resp:
                assert resp.status == 400  # under the limit: forwarded (the fake rejects {}{}...)
    finally:
        await server.close()
    assert len(fake_upstream.received) == 1


async def test_upstream_unreachable_is_502(make_config):
    server = await start_sidecar(make_config("http://127.0.0.1:9"))
    try:
        async with openai.AsyncOpenAI(api_key="k", base_url=base(server) + "/v1", max_retries=0) as client:
            with pytest.raises(openai.APIStatusError) as info:
                await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        assert info.value.status_code == 502
        body = info.value.body
        assert isinstance(body, dict) and body["code"] == "upstream_unreachable"
        async with aiohttp.ClientSession() as session:
            async with session.get(base(server) + "/sidecar/health") as resp:
                health = await resp.json()
        assert health["proxy"]["upstream_errors"]["connect"] == 1
    finally:
        await server.close()


async def test_upstream_timeout_is_504(fake_upstream: FakeUpstream, make_config):
    config = make_config(fake_upstream.url)
    config = msgspec.structs.replace(
        config, upstream=msgspec.structs.replace(config.upstream, read_timeout_s=0.3)
    )
    server = await start_sidecar(config)
    try:
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            async with session.post(
                base(server) + "/v1/chat/completions", data=b"{}", headers={"X-Fake-Fault": "stall"}
            ) as resp:
                assert resp.status == 504
                assert (await resp.json())["error"]["type"] == "upstream_timeout"
            assert time.monotonic() - started < 2
    finally:
        await server.close()


async def test_upstream_drop_mid_stream_truncates_client(sidecar: TestServer, fake_upstream: FakeUpstream):
    body = json.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]})
    async with aiohttp.ClientSession() as session:
        async with session.post(
            base(sidecar) + "/v1/chat/completions", data=body, headers={"X-Fake-Fault": "drop-mid-stream"}
        ) as resp:
            assert resp.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()


async def test_client_disconnect_cancels_upstream(sidecar: TestServer, fake_upstream: FakeUpstream):
    body = json.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]})
    async with aiohttp.ClientSession() as session:
        resp = await session.post(
            base(sidecar) + "/v1/chat/completions", data=body, headers={"X-Fake-Fault": "stall-mid-stream"}
        )
        await resp.content.readany()  # the first event arrived; the upstream now stalls
        resp.close()  # the agent gives up
    for _ in range(100):
        if fake_upstream.cancelled:
            break
        await asyncio.sleep(0.02)
    assert fake_upstream.cancelled == 1
    assert fake_upstream.in_flight[""] == 0


async def test_streaming_chunks_are_not_buffered(fake_upstream: FakeUpstream, make_config):
    fake_upstream.default = type(fake_upstream.default)(chunk_ms=50)
    server = await start_sidecar(make_config(fake_upstream.url))
    body = json.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]})
    arrivals: list[float] = []
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(base(server) + "/v1/chat/completions", data=body) as resp:
                async for _chunk in resp.content.iter_any():
                    arrivals.append(time.monotonic())
    finally:
        await server.close()
    sent = list(fake_upstream.chunk_sent_at)
    assert len(sent) >= 10
    # Each event reaches the client soon after the fake wrote it, not at the end of the stream.
    lags = sorted(min(abs(a - s) for a in arrivals) for s in sent)
    assert lags[len(lags) // 2] < 0.02
    assert arrivals[-1] - arrivals[0] > 0.3


async def test_upstream_dying_inside_a_small_body_is_502(make_config):
    """A fixed-length answer cut short before anything reached the agent gets a proper 502."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"partial":'
        )
        await writer.drain()
        writer.close()

    upstream = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = upstream.sockets[0].getsockname()[1]
    server = await start_sidecar(make_config(f"http://127.0.0.1:{port}"))
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(base(server) + "/v1/models") as resp:
                assert resp.status == 502
                assert (await resp.json())["error"]["type"] == "upstream_unreachable"
            async with session.get(base(server) + "/sidecar/health") as resp:
                assert (await resp.json())["proxy"]["upstream_errors"] == {"mid_body": 1}
    finally:
        await server.close()
        upstream.close()
        await upstream.wait_closed()
