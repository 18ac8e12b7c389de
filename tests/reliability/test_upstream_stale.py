"""A pooled connection the upstream closed as idle just as a request went out on it: resent once, never twice.

The race is made deterministic by a raw upstream that answers the first request of each connection with
keep-alive, then meets the next one on that connection by closing it without a byte of answer: a FIN
after reading the request whole, or a reset (RST) once its first bytes arrived.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from sidecar.app import build_app
from sidecar.config import load_config
from sidecar.keys import UPSTREAM
from sidecar.proxy import upstream as upstream_module
from sidecar.routing.middleware import install_routing
from tests.reliability.conftest import start_full
from tests.routing.support import provider_keys, write_config

__all__ = ["provider_keys"]  # a fixture (tests/routing/support.py)

pytestmark = pytest.mark.timeout(30)

CHAT = "/v1/chat/completions"
OK_BODY = json.dumps(
    {
        "id": "c1",
        "object": "chat.completion",
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
).encode()
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(OK_BODY),
    OK_BODY,
)


def chat_body(text: str) -> bytes:
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}).encode()


@dataclass
class Attempt:
    connection: int  # the server's count of accepted connections, from 1
    body: bytes | None  # as received; None when reset before it was read


@dataclass
class ClosingUpstream:
    """Answers the first ``answered`` requests of each connection, closes on the next (``close``: fin|rst)."""

    answered: int
    close: str = "fin"
    attempts: list[Attempt] = field(default_factory=list)
    connections: int = 0
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = self.connections
        self._writers.append(writer)
        try:
            for _ in range(self.answered):
                self.attempts.append(Attempt(connection, await read_body(reader)))
                writer.write(ANSWER)
                await writer.drain()
            if self.close == "rst":
                await reader.read(1)  # the next request started arriving
                self.attempts.append(Attempt(connection, None))
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
            else:
                self.attempts.append(Attempt(connection, await read_body(reader)))
                writer.close()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()  # the proxy closed an idle connection


async def read_body(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        assert name.strip().lower() != b"transfer-encoding", head
        if name.strip().lower() == b"content-length":
            length = int(value)
    return await reader.readexactly(length)


@pytest.fixture
async def proxy_to(tmp_path: Path):
    """Start the full sidecar in front of a ClosingUpstream; yields a function (upstream) -> base URL."""
    started: list[tuple[ClosingUpstream, TestServer]] = []

    async def start(upstream: ClosingUpstream, extra: str = "") -> TestServer:
        await upstream.start()
        path = tmp_path / "c.toml"
        path.write_text(f'[upstream]\nurl = "{upstream.url}"\n{extra}')
        server = await start_full(load_config(str(path), env={}))
        started.append((upstream, server))
        return server

    yield start
    for upstream, server in started:
        await server.close()
        await upstream.stop()


def base(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


async def post(session: aiohttp.ClientSession, server: TestServer, body: bytes) -> tuple[int, bytes]:
    async with session.post(base(server) + CHAT, data=io.BytesIO(body)) as resp:  # no large-bytes warning
        return resp.status, await resp.read()


async def until_pooled(server: TestServer, count: int = 1) -> None:
    """Wait (a few ms at most) until the proxy has put ``count`` upstream connections back in the pool."""
    connector = server.app[UPSTREAM].connector
    assert connector is not None
    for _ in range(200):
        if sum(map(len, connector._conns.values())) >= count:  # aiohttp's idle connections by key
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the upstream connection never went back to the pool")


async def upstream_errors(session: aiohttp.ClientSession, server: TestServer) -> dict[str, int]:
    async with session.get(base(server) + "/sidecar/health") as resp:
        errors: dict[str, int] = (await resp.json())["proxy"]["upstream_errors"]
        return errors


@pytest.mark.parametrize("close", ["fin", "rst"])
@pytest.mark.parametrize("size", ["small", "over_1_mib"])
async def test_a_reused_connection_closed_by_the_upstream_is_resent_once_on_a_new_one(proxy_to, close, size):
    upstream = ClosingUpstream(answered=1, close=close)
    server = await proxy_to(upstream)
    first = chat_body("first")
    second = chat_body("second " + ("x" * (3 * 1024 * 1024 // 2) if size == "over_1_mib" else "é ✓"))
    async with aiohttp.ClientSession() as session:
        assert await post(session, server, first) == (200, ANSWER.split(b"\r\n\r\n", 1)[1])
        await until_pooled(server)
        status, _ = await post(session, server, second)
        assert status == 200
        assert await upstream_errors(session, server) == {"stale_connection": 1}
    assert [a.connection for a in upstream.attempts] == [1, 1, 2]
    assert upstream.attempts[0].body == first
    assert upstream.attempts[1].body == (second if close == "fin" else None)
    assert upstream.attempts[2].body == second  # byte for byte, whole, on the new connection


async def test_the_resend_skips_the_other_pooled_connections(proxy_to):
    """The upstream closed every idle connection: the resend opens a new one rather than take another."""

    class TwoAtOnce(ClosingUpstream):
        arrived = 0
        both = asyncio.Event()

        async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if self.connections < 2:  # the first two connections answer once both requests are in
                original = reader.readexactly

                async def readexactly(n: int) -> bytes:
                    data = await original(n)
                    self.arrived += 1
                    if self.arrived == 2:
                        self.both.set()
                    await self.both.wait()
                    return data

                reader.readexactly = readexactly  # type: ignore[method-assign]
            await super()._serve(reader, writer)

    upstream = TwoAtOnce(answered=1)
    server = await proxy_to(upstream)
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(post(session, server, chat_body(f"first {i}")) for i in range(2)))
        assert [status for status, _ in results] == [200, 200]
        await until_pooled(server, 2)
        assert (await post(session, server, chat_body("third")))[0] == 200
        assert await upstream_errors(session, server) == {"stale_connection": 1}
    assert sorted(a.connection for a in upstream.attempts[:2]) == [1, 2]
    assert upstream.attempts[2].connection in (1, 2)
    assert [a.connection for a in upstream.attempts[3:]] == [3]  # not the other pooled one


async def test_a_fresh_connection_closed_without_an_answer_is_not_resent(proxy_to):
    upstream = ClosingUpstream(answered=0)  # processes, then drops: a resend could bill twice
    server = await proxy_to(upstream)
    async with aiohttp.ClientSession() as session:
        status, raw = await post(session, server, chat_body("once"))
        assert status == 502, raw
        assert json.loads(raw)["error"]["code"] == "upstream_unreachable"
        assert await upstream_errors(session, server) == {"connect": 1}
    assert [a.connection for a in upstream.attempts] == [1]


@pytest.mark.parametrize("close", ["fin", "rst"])
async def test_a_resend_that_fails_too_is_502_after_two_attempts(proxy_to, close):
    class OnceOnly(ClosingUpstream):
        async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.answered = 1 if self.connections == 0 else 0  # only the first connection answers
            await super()._serve(reader, writer)

    upstream = OnceOnly(answered=1, close=close)
    server = await proxy_to(upstream)
    async with aiohttp.ClientSession() as session:
        assert (await post(session, server, chat_body("first")))[0] == 200
        await until_pooled(server)
        status, raw = await post(session, server, chat_body("second"))
        assert status == 502, raw
        assert await upstream_errors(session, server) == {"stale_connection": 1, "connect": 1}
    assert [a.connection for a in upstream.attempts] == [1, 1, 2]


async def test_a_reused_connection_that_times_out_is_not_resent(proxy_to):
    class Silent(ClosingUpstream):
        async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            self._writers.append(writer)
            try:
                self.attempts.append(Attempt(self.connections, await read_body(reader)))
                writer.write(ANSWER)
                self.attempts.append(Attempt(self.connections, await read_body(reader)))
                await reader.read()  # no answer: the proxy's read timeout ends it
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            writer.close()

    upstream = Silent(answered=1)
    server = await proxy_to(upstream, "read_timeout_s = 0.05\n")
    async with aiohttp.ClientSession() as session:
        assert (await post(session, server, chat_body("first")))[0] == 200
        await until_pooled(server)
        status, raw = await post(session, server, chat_body("second"))
        assert status == 504, raw
        assert await upstream_errors(session, server) == {"timeout": 1}
    assert [a.connection for a in upstream.attempts] == [1, 1]


async def test_a_routed_request_is_resent_the_same_way(tmp_path: Path, provider_keys):
    upstream = ClosingUpstream(answered=1)
    await upstream.start()
    config = write_config(tmp_path, "http://127.0.0.1:9", urls={"groq": upstream.url + "/v1"})
    server = TestServer(build_app(config, installers=[install_routing]), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession(headers={"X-Sidecar-Mode": "fast"}) as session:
            assert (await post(session, server, chat_body("first")))[0] == 200
            await until_pooled(server)
            assert (await post(session, server, chat_body("second")))[0] == 200
            assert await upstream_errors(session, server) == {"stale_connection": 1}
    finally:
        await server.close()
        await upstream.stop()
    assert [a.connection for a in upstream.attempts] == [1, 1, 2]
    assert upstream.attempts[1].body == upstream.attempts[2].body


def test_the_private_connector_methods_it_overrides_still_exist():
    """PoolBoundedConnector overrides aiohttp's private _get and _wait_for_available_connection: a rename
    would silently turn the stale-connection resend and the bounded pool wait off."""
    for name in ("_get", "_wait_for_available_connection"):
        method = getattr(aiohttp.BaseConnector, name, None)
        assert inspect.iscoroutinefunction(method), name
        assert list(inspect.signature(method).parameters) == ["self", "key", "traces"], name
        assert f"self.{name}(key, traces)" in inspect.getsource(aiohttp.BaseConnector.connect), name


def _wrapped(cause: BaseException | None) -> aiohttp.ClientOSError:
    """The error aiohttp raises when writing the request body fails, with the write's own error as cause."""
    exc = aiohttp.ClientOSError(None, "Can not write request body for http://127.0.0.1/v1/chat/completions")
    exc.__cause__ = cause
    return exc


def test_a_body_write_to_a_closing_transport_counts_as_the_idle_close():
    """Under load most races end here (bench/reliability.py --only stale): the upstream's close lands between
    taking the pooled connection and writing the body, and aiohttp wraps the write's error, errno None."""
    closing = aiohttp.ClientConnectionResetError("Cannot write to closing transport")
    assert upstream_module._closed_while_idle(_wrapped(closing))
    assert upstream_module._closed_while_idle(_wrapped(BrokenPipeError()))
    assert not upstream_module._closed_while_idle(_wrapped(None))
    assert not upstream_module._closed_while_idle(_wrapped(TimeoutError()))
    assert not upstream_module._closed_while_idle(_wrapped(ValueError("not a connection's end")))
