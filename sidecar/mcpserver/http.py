"""MCP transports for the pruner: Streamable HTTP at /sidecar/mcp, and stdio (``sidecar mcp``).

HTTP (``install_mcp``), in the order a POST is checked:
  Origin      present and not loopback nor in ``mcp.allowed_origins`` -> 403 (DNS-rebinding defence)
  token       ``$SIDECAR_MCP_TOKEN`` (``mcp.token_env``) set -> ``Authorization: Bearer`` required, any bind;
              unset on a non-loopback bind -> MCP over HTTP refused (403): never an open tool port
  session     ``initialize`` issues ``Mcp-Session-Id``; later requests must carry it (400 without,
              404 unknown, expired, deleted, or opened by another caller)
  version     an ``MCP-Protocol-Version`` header naming a version we do not speak -> 400
  answer      JSON, or one SSE event when the client's Accept prefers text/event-stream (ties go to JSON,
              so the SDK's "application/json, text/event-stream" and curl's "*/*" get plain JSON)
GET has no server-initiated stream (405); DELETE ends a session.

Caller identity: the credential a client sends (the MCP token, or an API key as a bearer or
``x-api-key``) is hashed exactly as the pruning middleware hashes API keys, and passed to the pruner:
a prune id recovers only for the same credential, whether it was pruned through the proxy or MCP.

stdio: newline-delimited JSON-RPC on stdin/stdout, requests answered concurrently, logs on stderr only.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import ipaddress
import logging
import os
import secrets
import sys
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Literal
from urllib.parse import urlsplit

import msgspec
from aiohttp import web

from sidecar.config import Config, McpConfig
from sidecar.keys import CONFIG, HEALTH_SOURCES
from sidecar.mcpserver.jsonrpc import (
    INVALID_REQUEST,
    PROTOCOL_VERSIONS,
    McpDispatcher,
    SessionState,
    decode,
    error_reply,
)
from sidecar.proxy.identity import caller_identity
from sidecar.pruning.lifecycle import PRUNER
from sidecar.tasks import spawn

log = logging.getLogger("sidecar.mcp")

MCP_PATH = "/sidecar/mcp"
SESSION_HEADER = "Mcp-Session-Id"
VERSION_HEADER = "MCP-Protocol-Version"
MAX_SESSIONS = 10_000
SESSION_IDLE_S = 24 * 3600.0


class AuthPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How /sidecar/mcp authenticates: ``open``, ``token`` (bearer required) or ``refuse`` (all 403)."""

    mode: Literal["open", "token", "refuse"]
    token: str | None = None

    def __repr__(self) -> str:  # never print the token
        return f"AuthPolicy(mode={self.mode!r})"


def is_loopback_host(host: str) -> bool:
    """Return True when binding ``host`` only listens on loopback."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve anywhere, or "" (all interfaces)


def auth_policy(bind_host: str, token: str | None) -> AuthPolicy:
    """Decide the HTTP auth policy: a set token is always required; no token off loopback refuses MCP."""
    if token:
        return AuthPolicy(mode="token", token=token)
    return AuthPolicy(mode="open" if is_loopback_host(bind_host) else "refuse")


def origin_allowed(origin: str, allowed: Sequence[str]) -> bool:
    """Return True for a loopback origin or one listed in ``mcp.allowed_origins`` (scheme://host[:port])."""
    normalised = origin.strip().rstrip("/").lower()
    if normalised in (a.strip().rstrip("/").lower() for a in allowed):
        return True
    try:
        parts = urlsplit(normalised)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and host is not None and is_loopback_host(host)


def prefers_sse(accept: str) -> bool:
    """Return True when Accept ranks text/event-stream above application/json (ties: JSON)."""
    best: dict[str, tuple[float, int]] = {}
    for index, part in enumerate(accept.split(",")):
        media, *params = (p.strip().lower() for p in part.split(";"))
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        for kind, names in (
            ("json", ("application/json", "application/*", "*/*")),
            ("sse", ("text/event-stream", "text/*", "*/*")),
        ):
            if media in names and (q, -index) > best.get(kind, (-1.0, 0)):
                best[kind] = (q, -index)
    sse, json_ = best.get("sse", (0.0, 0)), best.get("json", (0.0, 0))
    return sse[0] > 0 and sse > json_


class McpHealth(msgspec.Struct, frozen=True, kw_only=True):
    """The "mcp" section of /sidecar/health."""

    auth: str  # open | token | refuse
    sessions: int
    requests_total: int
    refused_total: int


class _Session:
    __slots__ = ("state", "seen")

    def __init__(self, state: SessionState) -> None:
        self.state = state
        self.seen = time.monotonic()


def _rpc_error(
    status: int, code: int, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, body=error_reply(code, message), content_type="application/json", headers=headers
    )


class McpHttp:
    """The /sidecar/mcp endpoint: security checks, sessions, JSON or SSE answers."""

    def __init__(self, dispatcher: McpDispatcher, config: McpConfig, policy: AuthPolicy) -> None:
        self.dispatcher = dispatcher
        self.allowed_origins = list(config.allowed_origins)
        self.policy = policy
        self.sessions: OrderedDict[str, _Session] = OrderedDict()
        self.requests_total = self.refused_total = 0

    def health(self) -> McpHealth:
        """Return the endpoint's counters."""
        return McpHealth(
            auth=self.policy.mode,
            sessions=len(self.sessions),
            requests_total=self.requests_total,
            refused_total=self.refused_total,
        )

    def _check(self, request: web.Request) -> web.Response | None:
        self.requests_total += 1
        refused = self._refusal(request)
        self.refused_total += refused is not None
        return refused

    def _refusal(self, request: web.Request) -> web.Response | None:
        origin = request.headers.get("Origin")
        if origin is not None and not origin_allowed(origin, self.allowed_origins):
            log.warning("mcp: origin refused")
            return _rpc_error(403, INVALID_REQUEST, "forbidden: origin not allowed")
        if self.policy.mode == "refuse":
            return _rpc_error(
                403,
                INVALID_REQUEST,
                "forbidden: MCP over HTTP on a non-loopback address "
                "requires a token (set the variable named by mcp.token_env)",
            )
        if self.policy.mode == "token":
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            expected = (self.policy.token or "").encode("utf-8")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8"), expected):
                return _rpc_error(
                    401,
                    INVALID_REQUEST,
                    "unauthorized: bearer token required",
                    {"WWW-Authenticate": 'Bearer realm="sidecar-mcp"'},
                )
        return None

    def _session(self, request: web.Request) -> _Session | web.Response:
        session_id = request.headers.get(SESSION_HEADER)
        if not session_id:
            return _rpc_error(
                400, INVALID_REQUEST, f"bad request: missing {SESSION_HEADER} (call initialize)"
            )
        self._expire()
        session = self.sessions.get(session_id)
        if session is None or session.state.caller != caller_identity(request.headers):
            return _rpc_error(404, INVALID_REQUEST, "session not found (initialize again)")
        session.seen = time.monotonic()
        self.sessions.move_to_end(session_id)
        return session

    def _expire(self) -> None:
        horizon = time.monotonic() - SESSION_IDLE_S
        while self.sessions:
            key, oldest = next(iter(self.sessions.items()))
            if oldest.seen > horizon and len(self.sessions) <= MAX_SESSIONS:
                break
            del self.sessions[key]

    async def post(self, request: web.Request) -> web.StreamResponse:
        """Answer a POST of JSON-RPC messages."""
        refused = self._check(request)
        if refused is not None:
            return refused
        decoded = decode(await request.read())
        headers: dict[str, str] = {}
        if "initialize" in decoded.methods():
            state = SessionState(caller=caller_identity(request.headers))
            body = await self.dispatcher.respond(decoded, state)
            if state.protocol_version is not None:
                session_id = secrets.token_urlsafe(24)
                self.sessions[session_id] = _Session(state)
                self._expire()
                headers[SESSION_HEADER] = session_id
        else:
            session = self._session(request)
            if isinstance(session, web.Response):
                return session
            version = request.headers.get(VERSION_HEADER)
            if version is not None and version not in PROTOCOL_VERSIONS:
                return _rpc_error(400, INVALID_REQUEST, f"bad request: unsupported {VERSION_HEADER}")
            body = await self.dispatcher.respond(decoded, session.state)
        if body is None:
            return web.Response(status=202, headers=headers)
        if not prefers_sse(request.headers.get("Accept", "")):
            return web.Response(body=body, content_type="application/json", headers=headers)
        stream = web.StreamResponse(
            headers={**headers, "Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await stream.prepare(request)
        await stream.write(b"event: message\ndata: " + body + b"\n\n")
        await stream.write_eof()
        return stream

    async def get(self, request: web.Request) -> web.Response:
        """No server-initiated stream: the pruner never sends requests or notifications."""
        refused = self._check(request)
        return refused or web.Response(status=405, headers={"Allow": "POST, DELETE"})

    async def delete(self, request: web.Request) -> web.Response:
        """End a session."""
        refused = self._check(request)
        if refused is not None:
            return refused
        session = self._session(request)
        if isinstance(session, web.Response):
            return session
        self.sessions.pop(request.headers[SESSION_HEADER], None)
        return web.Response(status=204)


MCP_HTTP: web.AppKey[McpHttp] = web.AppKey("sidecar_mcp_http")


def install_mcp(app: web.Application) -> None:
    """Serve MCP at /sidecar/mcp (install after ``install_pruner``: it uses the app's Pruner)."""
    config = app[CONFIG]

    async def mcp_ctx(app: web.Application) -> AsyncIterator[None]:
        token = os.environ.get(config.mcp.token_env) or None
        policy = auth_policy(config.server.host, token)
        if PRUNER not in app:
            raise RuntimeError("install_mcp needs install_pruner before it in the installers")
        if policy.mode == "refuse":
            log.warning(
                "mcp: bound to %s without $%s: MCP over HTTP is refused",
                config.server.host,
                config.mcp.token_env,
            )
        app[MCP_HTTP] = endpoint = McpHttp(McpDispatcher(app[PRUNER]), config.mcp, policy)
        app[HEALTH_SOURCES]["mcp"] = endpoint.health
        try:
            yield
        finally:
            endpoint.sessions.clear()

    if not config.mcp.enabled:
        return
    app.cleanup_ctx.append(mcp_ctx)

    async def post(request: web.Request) -> web.StreamResponse:
        return await request.app[MCP_HTTP].post(request)

    async def get(request: web.Request) -> web.StreamResponse:
        return await request.app[MCP_HTTP].get(request)

    async def delete(request: web.Request) -> web.StreamResponse:
        return await request.app[MCP_HTTP].delete(request)

    app.router.add_post(MCP_PATH, post)
    app.router.add_get(MCP_PATH, get, allow_head=False)
    app.router.add_delete(MCP_PATH, delete)


# ---- stdio -----------------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``sidecar mcp`` options."""
    parser.add_argument("--config", default=None, metavar="FILE", help="config file (default: config.toml)")


def run(args: argparse.Namespace) -> int:
    """Serve MCP on stdin/stdout until stdin closes."""
    from sidecar.config import load_config

    config = load_config(args.config)
    try:
        asyncio.run(serve_stdio(config))
    except KeyboardInterrupt:
        pass
    return 0


async def serve_stdio(
    config: Config,
    reader: asyncio.StreamReader | None = None,
    write: Callable[[bytes], None] | None = None,
) -> None:
    """Answer newline-delimited JSON-RPC from ``reader`` (stdin) with ``write`` (stdout) until EOF."""
    from sidecar.pruning.service import Pruner

    if reader is None:
        reader = await _stdin_reader(config.server.max_body_bytes)
    write = write or _write_stdout
    pruner = Pruner(config)
    await pruner.start()
    dispatcher, state = McpDispatcher(pruner), SessionState()
    pending: set[asyncio.Task[None]] = set()

    async def answer(line: bytes) -> None:
        reply = await dispatcher.handle(line, state)
        if reply is not None:
            write(reply + b"\n")

    try:
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # longer than the limit: its tail is dropped with it
                write(error_reply(-32700, "parse error: message too large") + b"\n")
                continue
            if not line:
                break
            if line.strip():
                task = spawn(answer(line), name="mcp-stdio")
                pending.add(task)
                task.add_done_callback(pending.discard)
        if pending:
            await asyncio.gather(*pending)
    finally:
        await pruner.aclose()


async def _stdin_reader(limit: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit)
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    except ValueError:  # stdin is a regular file: read it whole (it is finite)
        reader.feed_data(sys.stdin.buffer.read())
        reader.feed_eof()
    return reader


def _write_stdout(data: bytes) -> None:
    # One write per message from the loop thread: replies never interleave.
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except (BrokenPipeError, ValueError):  # the client closed our stdout: nobody is left to answer
        log.info("mcp: stdout closed, reply dropped")
