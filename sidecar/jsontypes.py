"""JSON value types and the reading of msgspec's validation errors, shared by every layer.

msgspec reports where a value failed as ``<reason> - at `$.server.port``` (or ``$[2].x`` in arrays);
:func:`error_path` is the one place that parses it, so config errors, MCP ``-32602`` messages and plan
errors all name a field the same way. msgspec is pinned below its next minor release because of this.
"""

from __future__ import annotations

import re

import msgspec

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]
JsonObject = dict[str, JsonValue]
RawFields = dict[str, msgspec.Raw]  # a JSON object decoded one level: each value kept as its bytes
# What decoding untrusted JSON may raise: msgspec raises RecursionError, not DecodeError, on values nested
# past Python's recursion limit (~1000 levels), and even skipping such a value into a Raw recurses.
DECODE_ERRORS: tuple[type[Exception], ...] = (msgspec.DecodeError, RecursionError)

_AT = " - at `$"
_MISSING = re.compile(r"missing required field `([^`]+)`")


class ErrorPath(msgspec.Struct, frozen=True):
    """A validation error split into its reason and the dotted path of the field it names ('' at the root)."""

    reason: str
    path: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


def error_path(exc: msgspec.ValidationError, prefix: str = "", *, brackets: bool = False) -> ErrorPath:
    """Split msgspec's message into a reason and a dotted path under ``prefix`` (a missing field included).

    ``Expected `int`, got `str` - at `$.server.port``` gives ("Expected `int`, got `str`", "server.port");
    array indexes become path items (``$.steps[2].id`` -> ``steps.2.id``), or stay JSONPath-style
    with ``brackets`` (``ranges[0].end_line``: the MCP server's wire messages, unchanged since issue 5).
    """
    reason, _, at = str(exc).partition(_AT)
    at = at.rstrip("`")
    if brackets:
        path = prefix + at if at.startswith("[") else ".".join(p for p in (prefix, at.lstrip(".")) if p)
    else:
        dotted = at.replace("[", ".").replace("]", "").replace("'", "").replace('"', "")
        path = ".".join(p for p in (prefix, dotted.lstrip(".")) if p)
    missing = _MISSING.search(reason)
    if missing:
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    return ErrorPath(reason, path)
