"""The MCP method table: one dispatcher shared by the HTTP and stdio transports.

    body -> jsonrpc.decode -> for each message, in order:
        initialize                 negotiate the protocol version, remember it in the SessionState
        notifications/initialized  mark the session initialised (no reply)
        ping                       {}
        tools/list                 the tools' entries (title and outputSchema from 2025-06-18)
        tools/call                 Tool.call(arguments, state.caller) -> content text (+ structuredContent)
        other notifications        ignored; responses from the client: ignored
        anything else              -32601
    -> one reply, a batch of replies, or None (only notifications and client responses)

Errors: argument errors stay JSON-RPC errors (``-32602``, not ``isError`` results) because the clients
of the existing pruner expect them; a recover refusal is ``-32004``/``-32005`` with ``data.reason``;
an unexpected failure inside a tool is a tool execution error (``isError: true``, the exception's class
only), as the MCP spec asks. Logs carry the tool name, sizes and timings, never argument text.

A :class:`SessionState` is what a transport keeps per connection (stdio) or per ``Mcp-Session-Id``
(HTTP): the negotiated version and the caller identity that scopes prune ids.
"""

from __future__ import annotations

import logging
import time

import msgspec
from msgspec import UNSET, UnsetType

from sidecar import __version__
from sidecar.errors import RecoverError
from sidecar.mcpserver.jsonrpc import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    Decoded,
    ErrorReply,
    Message,
    Reply,
    ResultReply,
    RpcError,
    decode,
    decode_params,
    error_message,
)
from sidecar.mcpserver.tools import pruner_tools
from sidecar.pruning.service import Pruner

__all__ = [
    "INSTRUCTIONS",
    "LATEST_VERSION",
    "PROTOCOL_VERSIONS",
    "SERVER_NAME",
    "McpDispatcher",
    "SessionState",
]

log = logging.getLogger("sidecar.mcp")

# Newest first: a client asking for one of these gets it, any other request gets the newest.
PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
LATEST_VERSION = PROTOCOL_VERSIONS[0]
_STRUCTURED_VERSIONS = frozenset(("2025-11-25", "2025-06-18"))  # outputSchema, structuredContent, title

SERVER_NAME = "sidecar-pruner"
INSTRUCTIONS = (
    "prune_text removes the lines of a tool output that do not serve goal_hint and returns a prune_id; "
    "recover_text returns original lines of a pruned text by line range; health reports aggregates."
)


class SessionState:
    """What a connection (stdio) or an Mcp-Session-Id (HTTP) remembers."""

    __slots__ = ("protocol_version", "caller", "initialized")

    def __init__(self, caller: str | None = None) -> None:
        self.protocol_version: str | None = None
        self.caller = caller
        self.initialized = False


class _InitializeParams(msgspec.Struct, kw_only=True):
    protocolVersion: str  # wire name


class _CallParams(msgspec.Struct, kw_only=True):
    name: str
    arguments: msgspec.Raw | UnsetType = UNSET


class _Text(msgspec.Struct, kw_only=True):
    type: str = "text"
    text: str


class _ToolResult(msgspec.Struct, omit_defaults=True):
    content: list[_Text]
    structuredContent: msgspec.Raw | UnsetType = UNSET  # wire name
    isError: bool = False  # wire name


class McpDispatcher:
    """Answer MCP JSON-RPC messages with the pruning service; transport-independent."""

    def __init__(self, pruner: Pruner) -> None:
        self.pruner = pruner
        tools = pruner_tools(pruner)
        self.tools = {tool.name: tool for tool in tools}
        self._lists = {
            flag: msgspec.json.encode({"tools": [t.describe(flag) for t in tools]}) for flag in (False, True)
        }

    async def handle(self, body: bytes, state: SessionState) -> bytes | None:
        """Answer one body (message or batch); None when nothing is to be sent back."""
        return await self.respond(decode(body), state)

    async def respond(self, decoded: Decoded, state: SessionState) -> bytes | None:
        """Answer decoded messages in order; None when all were notifications or responses."""
        replies: list[Reply] = []
        for item in decoded.items:
            reply = item if isinstance(item, ErrorReply) else await self._one(item, state)
            if reply is not None:
                replies.append(reply)
        if not replies:
            return None
        return msgspec.json.encode(replies if decoded.batch else replies[0])

    async def _one(self, message: Message, state: SessionState) -> Reply | None:
        method, id_ = message.method, message.id
        if not isinstance(method, str):
            return None  # a response to a request we never send
        try:
            result = await self._call(method, message.params, state)
        except RpcError as exc:
            if isinstance(id_, UnsetType):
                return None
            return error_message(exc.code, exc.message, id_, exc.data)
        if isinstance(id_, UnsetType) or id_ is None:
            return None
        return ResultReply(id=id_, result=msgspec.Raw(result if result is not None else b"{}"))

    async def _call(self, method: str, params: msgspec.Raw | UnsetType, state: SessionState) -> bytes | None:
        if method == "tools/call":
            return await self._tools_call(decode_params(params, _CallParams), state)
        if method == "tools/list":
            return self._lists[_structured(state)]
        if method == "ping":
            return b"{}"
        if method == "initialize":
            return self._initialize(decode_params(params, _InitializeParams), state)
        if method == "notifications/initialized":
            state.initialized = True
            return None
        if method.startswith("notifications/"):
            return None
        raise RpcError(METHOD_NOT_FOUND, f"method not found: {method[:80]}")

    def _initialize(self, params: _InitializeParams, state: SessionState) -> bytes:
        asked = params.protocolVersion
        version = asked if asked in PROTOCOL_VERSIONS else LATEST_VERSION
        state.protocol_version = version
        return msgspec.json.encode(
            {
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": SERVER_NAME, "title": "Sidecar pruner", "version": __version__},
                "instructions": INSTRUCTIONS,
            }
        )

    async def _tools_call(self, params: _CallParams, state: SessionState) -> bytes:
        tool = self.tools.get(params.name)
        if tool is None:
            raise RpcError(
                INVALID_PARAMS, f"invalid params: name: unknown tool {params.name[:80]!r}", {"field": "name"}
            )
        started = time.perf_counter()
        try:
            output = await tool.call(params.arguments, state.caller)
        except RpcError:
            raise
        except RecoverError as exc:
            log.info("mcp %s: %s", tool.name, exc.reason)
            raise RpcError(exc.jsonrpc_code, str(exc), {"reason": exc.reason}) from None
        except Exception as exc:  # noqa: BLE001 - a tool failure is a tool result, not a protocol error
            log.warning("mcp %s failed: %s", tool.name, type(exc).__name__)
            failed = _ToolResult(
                content=[_Text(text=f"{tool.name} failed: {type(exc).__name__}")], isError=True
            )
            return msgspec.json.encode(failed)
        payload = msgspec.json.encode(output)
        elapsed_ms = (time.perf_counter() - started) * 1e3
        log.debug("mcp %s: %d bytes in %.1f ms", tool.name, len(payload), elapsed_ms)
        result = _ToolResult(
            content=[_Text(text=payload.decode("utf-8"))],
            structuredContent=msgspec.Raw(payload) if _structured(state) else UNSET,
        )
        return msgspec.json.encode(result)


def _structured(state: SessionState) -> bool:
    """Return True when the session's version has outputSchema and structuredContent."""
    return (state.protocol_version or LATEST_VERSION) in _STRUCTURED_VERSIONS
