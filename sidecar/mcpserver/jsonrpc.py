"""The MCP pruner protocol: one JSON-RPC dispatcher shared by the HTTP and stdio transports.

    body -> decode (JSON-RPC envelope, batches) -> method table -> tools (prune_text, recover_text, health)
         -> response bytes (or None: only notifications and client responses)

Tool arguments are msgspec structs decoded straight from the raw ``arguments`` bytes, so an invalid
call gets -32602 with a message naming the field (``arguments.options.min_keep_lines``). The tool
input and output schemas are generated from the same structs, with ``$ref`` inlined so that clients
which do not resolve references still read them. Argument errors stay JSON-RPC errors (not
``isError`` results) because the clients of the existing pruner expect -32602; an unexpected failure
inside a tool is a tool execution error (``isError: true``), as the MCP spec asks.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Generic, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from sidecar import __version__
from sidecar.errors import RecoverError
from sidecar.jsontypes import JsonValue
from sidecar.pruning.service import Pruner
from sidecar.pruning.types import (
    Annotation,
    LineRange,
    PruneOutcome,
    PruningHealth,
    RecoverResult,
    SourceType,
)

log = logging.getLogger("sidecar.mcp")

# Newest first: a client asking for one of these gets it, any other request gets the newest.
PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
LATEST_VERSION = PROTOCOL_VERSIONS[0]
_STRUCTURED_VERSIONS = frozenset(("2025-11-25", "2025-06-18"))  # outputSchema, structuredContent, title

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
SERVER_NAME = "sidecar-pruner"

RequestId = int | str
Schema = dict[str, JsonValue]


class RpcError(Exception):
    """A JSON-RPC error to send back; ``message`` carries metadata only, never tool text."""

    def __init__(self, code: int, message: str, data: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = dict(data) if data else None


# ---- wire envelope ---------------------------------------------------------------------------------


class Message(msgspec.Struct, kw_only=True):
    """One decoded JSON-RPC message; ``result``/``error`` mark a response from the client (ignored)."""

    jsonrpc: str | UnsetType = UNSET
    id: RequestId | None | UnsetType = UNSET
    method: str | UnsetType = UNSET
    params: msgspec.Raw | UnsetType = UNSET
    result: msgspec.Raw | UnsetType = UNSET
    error: msgspec.Raw | UnsetType = UNSET


class _ErrorBody(msgspec.Struct, omit_defaults=True):
    code: int
    message: str
    data: dict[str, str] | None = None


class _Error(msgspec.Struct, kw_only=True):
    jsonrpc: str = "2.0"
    id: RequestId | None
    error: _ErrorBody


class _Result(msgspec.Struct, kw_only=True):
    jsonrpc: str = "2.0"
    id: RequestId
    result: msgspec.Raw


def _err(code: int, message: str, id: RequestId | None = None, data: dict[str, str] | None = None) -> _Error:
    return _Error(id=id, error=_ErrorBody(code=code, message=message, data=data))


Reply = _Error | _Result


class Decoded(msgspec.Struct):
    """A request body: its messages (or a ready error for each invalid one) and whether it was a batch."""

    items: list[Message | _Error]
    batch: bool

    def methods(self) -> list[str]:
        """Return the methods named in the body."""
        return [m.method for m in self.items if isinstance(m, Message) and isinstance(m.method, str)]


def error_reply(code: int, message: str, id: RequestId | None = None) -> bytes:
    """Encode a JSON-RPC error response (for transport-level failures)."""
    return msgspec.json.encode(_err(code, message, id))


def decode(body: bytes) -> Decoded:
    """Decode a JSON-RPC body (one message or a batch) without raising."""
    stripped = body.lstrip()
    if stripped[:1] == b"[":
        try:
            raws = msgspec.json.decode(stripped, type=list[msgspec.Raw])
        except msgspec.DecodeError:
            return Decoded(items=[_err(PARSE_ERROR, "parse error")], batch=False)
        if not raws:
            return Decoded(items=[_invalid("empty batch")], batch=False)
        return Decoded(items=[_decode_one(raw) for raw in raws], batch=True)
    return Decoded(items=[_decode_one(stripped)], batch=False)


def _decode_one(raw: bytes | msgspec.Raw) -> Message | _Error:
    try:
        message = msgspec.json.decode(raw, type=Message)
    except msgspec.ValidationError as exc:
        return _invalid(f"invalid request: {_reason(exc, '')}")
    except msgspec.DecodeError:
        return _err(PARSE_ERROR, "parse error")
    if message.jsonrpc != "2.0":
        return _invalid('invalid request: jsonrpc must be "2.0"', message.id)
    if message.method is UNSET and message.result is UNSET and message.error is UNSET:
        return _invalid("invalid request: method is missing", message.id)
    if message.id is None and isinstance(message.method, str):
        return _invalid("invalid request: id must be a string or an integer")
    return message


def _invalid(message: str, id: RequestId | None | UnsetType = None) -> _Error:
    return _err(INVALID_REQUEST, message, None if isinstance(id, UnsetType) else id)


def _reason(exc: msgspec.ValidationError, prefix: str) -> str:
    """Turn msgspec's message into ``field: reason`` with the field as a dotted path under ``prefix``."""
    reason, _, at = str(exc).partition(" - at `$")
    path = (prefix + at.rstrip("`")).lstrip(".")
    missing = re.search(r"missing required field `([^`]+)`", reason)
    if missing:
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    return f"{path}: {reason}" if path else reason


def _field(exc: msgspec.ValidationError, prefix: str) -> RpcError:
    text = _reason(exc, prefix)
    field = text.split(": ", 1)[0] if ": " in text else prefix
    return RpcError(INVALID_PARAMS, f"invalid params: {text}", {"field": field})


S = TypeVar("S")


def _params(raw: msgspec.Raw | UnsetType, type_: type[S], prefix: str = "params") -> S:
    try:
        body = b"{}" if isinstance(raw, UnsetType) or bytes(raw).strip() in (b"", b"null") else raw
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        raise _field(exc, prefix) from None
    except msgspec.DecodeError:
        raise RpcError(INVALID_PARAMS, f"invalid params: {prefix}: not valid JSON") from None


# ---- tool arguments and results --------------------------------------------------------------------


class PruneTextOptions(msgspec.Struct, kw_only=True):
    """Pruning options; each one omitted (or null) takes its value from the config's [pruning]."""

    max_prune_ratio: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    min_keep_lines: Annotated[int, msgspec.Meta(ge=0)] | None = None
    timeout_ms: Annotated[int, msgspec.Meta(ge=1)] | None = None
    annotate_lines: bool | None = None
    include_markers: bool | None = None
    keep_ratio: (
        Annotated[float, msgspec.Meta(ge=0, le=1, description="extension: share of tokens kept")] | None
    ) = None


class PruneTextArgs(msgspec.Struct, kw_only=True):
    text: Annotated[str, msgspec.Meta(description="the tool output or file to prune")]
    goal_hint: Annotated[str, msgspec.Meta(description="what the reader needs from the text")]
    source_type: SourceType | None = None
    options: PruneTextOptions | None = None


class PruneTextStats(msgspec.Struct, kw_only=True):
    backend: str
    original_lines: int
    kept_lines: int
    pruned_lines: int
    pruned_ratio: float
    tokens_est_before: int
    tokens_est_after: int
    tokens_saved_est: int
    elapsed_ms: float
    latency_ms: float
    used_fallback: bool
    cost_estimated_usd: float


class PruneTextResult(msgspec.Struct, kw_only=True):
    prune_id: str
    pruned_text: str
    annotations: list[Annotation]
    warnings: list[str]
    stats: PruneTextStats


class RangeArg(msgspec.Struct, kw_only=True):
    start_line: Annotated[int, msgspec.Meta(description="1-based, inclusive, original numbering")]
    end_line: Annotated[int, msgspec.Meta(description="1-based, inclusive")]


class RecoverTextArgs(msgspec.Struct, kw_only=True):
    prune_id: str
    ranges: Annotated[list[RangeArg], msgspec.Meta(description="empty or omitted: the whole text")] = []
    include_line_numbers: bool = False


class HealthArgs(msgspec.Struct, kw_only=True):
    pass


def prune_result(outcome: PruneOutcome) -> PruneTextResult:
    """Return the ``prune_text`` output (DESIGN.md's fields, no others) for an outcome."""
    return msgspec.convert(outcome, PruneTextResult, from_attributes=True)


# ---- schemas ---------------------------------------------------------------------------------------


def json_schema(type_: type[msgspec.Struct]) -> Schema:
    """Return a self-contained JSON Schema object for a struct (references inlined, titles dropped)."""
    (root,), defs = msgspec.json.schema_components([type_], ref_template="#/$defs/{name}")

    def inline(node: JsonValue, fields: bool = False) -> JsonValue:
        # ``fields``: node maps field names to schemas (a "properties" object), where "title" is a name.
        if isinstance(node, list):
            return [inline(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and not fields:
            return inline(defs[ref.rsplit("/", 1)[1]])
        return {
            k: inline(v, not fields and k == "properties") for k, v in node.items() if fields or k != "title"
        }

    schema = inline(root)
    assert isinstance(schema, dict)
    return schema


ArgsT = TypeVar("ArgsT", bound=msgspec.Struct)


class Tool(Generic[ArgsT]):
    """A tool: its name, descriptions, argument type, output type and handler."""

    def __init__(
        self,
        name: str,
        title: str,
        description: str,
        args: type[ArgsT],
        output: type[msgspec.Struct],
        run: Callable[[ArgsT, str | None], Awaitable[msgspec.Struct]],
    ) -> None:
        self.name, self.title, self.description = name, title, description
        self.args, self.run = args, run
        self.input_schema, self.output_schema = json_schema(args), json_schema(output)

    def describe(self, structured: bool) -> Schema:
        """Return the tools/list entry (with title and outputSchema when the version has them)."""
        entry: Schema = {"name": self.name, "description": self.description, "inputSchema": self.input_schema}
        if structured:
            entry["title"] = self.title
            entry["outputSchema"] = self.output_schema
        return entry

    async def call(self, raw: msgspec.Raw | UnsetType, caller: str | None) -> msgspec.Struct:
        """Validate ``raw`` arguments and run the tool."""
        return await self.run(_params(raw, self.args, "arguments"), caller)


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


_PRUNE_DOC = (
    "Prune a large text (code, logs, docs, JSON, search results, diffs) to the lines relevant to goal_hint. "
    "Kept lines are verbatim; "
    "each pruned run becomes one marker line naming its original lines. Returns a prune_id for recover_text."
)
_RECOVER_DOC = (
    "Return original lines of a text pruned by prune_text, by 1-based inclusive line ranges in the original "
    "numbering (no ranges: the whole text)."
)
_HEALTH_DOC = (
    "Pruning aggregates since start-up: calls, DeepInfra calls and fallbacks, estimated cost, tokens saved, "
    "cache hits and misses."
)
INSTRUCTIONS = (
    "prune_text removes the lines of a tool output that do not serve goal_hint and returns a prune_id; "
    "recover_text returns original lines of a pruned text by line range; health reports aggregates."
)


class McpDispatcher:
    """Answer MCP JSON-RPC messages with the pruning service; transport-independent."""

    def __init__(self, pruner: Pruner) -> None:
        self.pruner = pruner
        tools: list[Tool[PruneTextArgs] | Tool[RecoverTextArgs] | Tool[HealthArgs]] = [
            Tool(
                "prune_text", "Prune text for a goal", _PRUNE_DOC, PruneTextArgs, PruneTextResult, self._prune
            ),
            Tool(
                "recover_text", "Recover lines", _RECOVER_DOC, RecoverTextArgs, RecoverResult, self._recover
            ),
            Tool("health", "Pruning health", _HEALTH_DOC, HealthArgs, PruningHealth, self._health),
        ]
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
            reply = item if isinstance(item, _Error) else await self._one(item, state)
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
            return _err(exc.code, exc.message, id_, exc.data)
        if isinstance(id_, UnsetType) or id_ is None:
            return None
        return _Result(id=id_, result=msgspec.Raw(result if result is not None else b"{}"))

    async def _call(self, method: str, params: msgspec.Raw | UnsetType, state: SessionState) -> bytes | None:
        if method == "tools/call":
            return await self._tools_call(_params(params, _CallParams), state)
        if method == "tools/list":
            return self._lists[(state.protocol_version or LATEST_VERSION) in _STRUCTURED_VERSIONS]
        if method == "ping":
            return b"{}"
        if method == "initialize":
            return self._initialize(_params(params, _InitializeParams), state)
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
        except (RpcError, RecoverError) as exc:
            if isinstance(exc, RecoverError):
                log.info("mcp %s: %s", tool.name, exc.reason)
                raise RpcError(exc.jsonrpc_code, str(exc), {"reason": exc.reason}) from None
            raise
        except Exception as exc:  # noqa: BLE001 - a tool failure is a tool result, not a protocol error
            log.warning("mcp %s failed: %s", tool.name, type(exc).__name__)
            failed = _ToolResult(
                content=[_Text(text=f"{tool.name} failed: {type(exc).__name__}")], isError=True
            )
            return msgspec.json.encode(failed)
        payload = msgspec.json.encode(output)
        elapsed_ms = (time.perf_counter() - started) * 1e3
        log.debug("mcp %s: %d bytes in %.1f ms", tool.name, len(payload), elapsed_ms)
        structured = (state.protocol_version or LATEST_VERSION) in _STRUCTURED_VERSIONS
        result = _ToolResult(
            content=[_Text(text=payload.decode("utf-8"))],
            structuredContent=msgspec.Raw(payload) if structured else UNSET,
        )
        return msgspec.json.encode(result)

    async def _prune(self, args: PruneTextArgs, caller: str | None) -> PruneTextResult:
        options = self.pruner.default_options()
        if args.options is not None:
            given = msgspec.structs.asdict(args.options)
            options = msgspec.structs.replace(options, **{k: v for k, v in given.items() if v is not None})
        outcome = await self.pruner.prune(
            args.text, args.goal_hint, source_type=args.source_type, options=options, caller=caller
        )
        return prune_result(outcome)

    async def _recover(self, args: RecoverTextArgs, caller: str | None) -> RecoverResult:
        ranges = [LineRange(start_line=r.start_line, end_line=r.end_line) for r in args.ranges]
        return await self.pruner.recover(
            args.prune_id, ranges, include_line_numbers=args.include_line_numbers, caller=caller
        )

    async def _health(self, args: HealthArgs, caller: str | None) -> PruningHealth:
        return self.pruner.health()
