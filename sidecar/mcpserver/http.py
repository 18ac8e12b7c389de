"""MCP Streamable HTTP at /sidecar/mcp: sessions, content negotiation, and ``install_mcp``.

A POST, in the order it is checked:

    security    Origin, token policy, non-loopback refusal (security.check)      -> 403 / 401
    initialize  a body naming ``initialize`` opens a session: Mcp-Session-Id in the answer, bound to the
                caller identity of the credential that opened it
    session     any other body must carry Mcp-Session-Id: 400 without, 404 unknown, expired (idle 24 h,
                at most 10,000 kept, least recently used dropped first), deleted, or another caller's
    version     an MCP-Protocol-Version header naming a version we do not speak  -> 400
    dispatch    McpDispatcher.respond(decoded, session state)
    answer      202 when nothing is to be sent back; JSON, or one SSE event when the client's Accept
                prefers text/event-stream (ties go to JSON, so the SDK's "application/json,
                text/event-stream" and curl's "*/*" get plain JSON)

GET has no server-initiated stream (405: the pruner never sends requests or notifications); DELETE
ends a session. ``install_mcp`` adds the routes and one cleanup context that builds the endpoint
from the app's Pruner (so it must come after ``install_pruner``) and reports its counters as the
"mcp" section of /sidecar/health.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping

import msgspec
from aiohttp import web

from sidecar.config import McpConfig
from sidecar.keys import CONFIG, HEALTH_SOURCES
from sidecar.mcpserver.dispatcher import PROTOCOL_VERSIONS, McpDispatcher, SessionState
from sidecar.mcpserver.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST, Decoded, decode, error_reply
from sidecar.mcpserver.security import AuthPolicy, check, load_policy, mcp_caller
from sidecar.proxy.forward import BodyTimeout, BodyTooLarge, read_body
from sidecar.pruning.lifecycle import PRUNER

__all__ = ["MCP_HTTP", "MCP_PATH", "McpHealth", "McpHttp", "install_mcp", "prefers_sse"]

log = logging.getLogger("sidecar.mcp")

MCP_PATH = "/sidecar/mcp"
SESSION_HEADER = "Mcp-Session-Id"
VERSION_HEADER = "MCP-Protocol-Version"
MAX_SESSIONS = 10_000
SESSION_IDLE_S = 24 * 3600.0


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
        refusal = check(request.headers, self.policy, self.allowed_origins)
        if refusal is None:
            return None
        self.refused_total += 1
        return _rpc_error(refusal.status, INVALID_REQUEST, refusal.message, refusal.headers or None)

    def _session(self, request: web.Request) -> _Session | web.Response:
        session_id = request.headers.get(SESSION_HEADER)
        if not session_id:
            return _rpc_error(
                400, INVALID_REQUEST, f"bad request: missing {SESSION_HEADER} (call initialize)"
            )
        self._expire()
        session = self.sessions.get(session_id)
        if session is None or session.state.caller != mcp_caller(request.headers, self.policy):
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
        try:  # bounded in size and in time (server.body_timeout_s), as the proxy's bodies are
            raw = await read_body(request, request.app[CONFIG].server.max_body_bytes)
        except BodyTooLarge:
            return _rpc_error(413, INVALID_REQUEST, "request too large (server.max_body_bytes)")
        except BodyTimeout:
            return _rpc_error(
                408, INVALID_REQUEST, "request body not received in time (server.body_timeout_s)"
            )
        decoded = decode(raw)
        headers: dict[str, str] = {}
        if "initialize" in decoded.methods():
            state = SessionState(caller=mcp_caller(request.headers, self.policy))
            body = await self._respond(decoded, state)
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
            body = await self._respond(decoded, session.state)
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

    async def _respond(self, decoded: Decoded, state: SessionState) -> bytes | None:
        """Dispatch; a bug in the dispatcher is a JSON-RPC error (class name only), never an HTTP 500."""
        try:
            return await self.dispatcher.respond(decoded, state)
        except Exception as exc:  # noqa: BLE001 - every request gets a JSON-RPC answer, as over stdio
            log.warning("mcp request failed: %s", type(exc).__name__)
            return error_reply(INTERNAL_ERROR, f"internal error: {type(exc).__name__}")

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
        if PRUNER not in app:
            raise RuntimeError("install_mcp needs install_pruner before it in the installers")
        policy = load_policy(config)
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
