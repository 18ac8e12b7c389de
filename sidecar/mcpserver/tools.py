"""The MCP tools over the Pruner: argument and output structs, their JSON Schemas, and the handlers.

    tools/call arguments (raw bytes) -> Tool.call -> decode_params(.., PruneTextArgs, "arguments")
        -> handler(args, caller) -> Pruner.prune / recover / health -> output Struct (encoded by the caller)

    prune_text    PruneTextArgs   -> PruneTextResult  (DESIGN.md's output fields and no others)
    recover_text  RecoverTextArgs -> RecoverResult    (RecoverError -> -32004 / -32005 in the dispatcher)
    health        HealthArgs      -> PruningHealth    (the "pruning" section of /sidecar/health)

One struct is both the validator and the advertised schema: ``inputSchema`` and ``outputSchema`` are
generated from the same msgspec structs that decode the arguments and encode the results, with
``$ref`` inlined so that clients which do not resolve references still read them. Options left out
of ``prune_text`` (or null) take their value from the config's ``[pruning]``.

``prune_text``'s ``stats`` is :class:`sidecar.pruning.types.PruneTextStats`, the public figures that
the pruner's own ``PruneStats`` extends; converting the outcome into it drops the internal ones
(``cache_hit``, ``source_type``...), so they never reach a client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Generic, TypeVar

import msgspec
from msgspec import UnsetType

from sidecar.jsontypes import JsonValue
from sidecar.mcpserver.jsonrpc import decode_params
from sidecar.pruning.service import Pruner
from sidecar.pruning.stores.recover import MAX_RANGES
from sidecar.pruning.types import (
    Annotation,
    LineRange,
    PruneOutcome,
    PruneTextStats,
    PruningHealth,
    RecoverResult,
    SourceType,
)

__all__ = [
    "HealthArgs",
    "PruneTextArgs",
    "PruneTextOptions",
    "PruneTextResult",
    "RangeArg",
    "RecoverTextArgs",
    "Schema",
    "Tool",
    "json_schema",
    "prune_result",
    "pruner_tools",
]

Schema = dict[str, JsonValue]


# ---- arguments and results -------------------------------------------------------------------------


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
    ranges: Annotated[
        list[RangeArg],
        msgspec.Meta(max_length=MAX_RANGES, description="empty or omitted: the whole text"),
    ] = []
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


# ---- tools -----------------------------------------------------------------------------------------

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
        """Validate ``raw`` arguments and run the tool (RpcError -32602 names an invalid field)."""
        return await self.run(decode_params(raw, self.args, "arguments"), caller)


AnyTool = Tool[PruneTextArgs] | Tool[RecoverTextArgs] | Tool[HealthArgs]

_PRUNE_DOC = (
    "Prune a large text (code, logs, docs, JSON, search results, diffs) to the lines relevant to goal_hint. "
    "Kept lines are verbatim; each pruned run becomes one marker line naming its original lines. "
    "Returns a prune_id for recover_text."
)
_RECOVER_DOC = (
    "Return original lines of a text pruned by prune_text, by 1-based inclusive line ranges in the original "
    "numbering (no ranges: the whole text)."
)
_HEALTH_DOC = (
    "Pruning aggregates since start-up: calls, DeepInfra calls and fallbacks, estimated cost, tokens saved, "
    "cache hits and misses."
)


def pruner_tools(pruner: Pruner) -> list[AnyTool]:
    """Return the three tools over ``pruner``, in tools/list order."""

    async def prune(args: PruneTextArgs, caller: str | None) -> PruneTextResult:
        options = pruner.default_options()
        if args.options is not None:
            given = msgspec.structs.asdict(args.options)
            options = msgspec.structs.replace(options, **{k: v for k, v in given.items() if v is not None})
        outcome = await pruner.prune(
            args.text, args.goal_hint, source_type=args.source_type, options=options, caller=caller
        )
        return prune_result(outcome)

    async def recover(args: RecoverTextArgs, caller: str | None) -> RecoverResult:
        ranges = [LineRange(start_line=r.start_line, end_line=r.end_line) for r in args.ranges]
        return await pruner.recover(
            args.prune_id, ranges, include_line_numbers=args.include_line_numbers, caller=caller
        )

    async def health(args: HealthArgs, caller: str | None) -> PruningHealth:
        return pruner.health()

    return [
        Tool("prune_text", "Prune text for a goal", _PRUNE_DOC, PruneTextArgs, PruneTextResult, prune),
        Tool("recover_text", "Recover lines", _RECOVER_DOC, RecoverTextArgs, RecoverResult, recover),
        Tool("health", "Pruning health", _HEALTH_DOC, HealthArgs, PruningHealth, health),
    ]
