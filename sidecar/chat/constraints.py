"""Output constraints: ask the model for code only, JSON only, or no prose, to cut the tokens it generates.

``X-Sidecar-Output`` takes one value or a comma-separated list of ``json``, ``code``, ``no-prose``.
``json`` sets ``response_format: {"type": "json_object"}`` when the provider supports it (and the client
did not choose a response format itself), and an instruction otherwise. Every constraint is also an
instruction merged into the system prompt: appended to a leading system/developer message, or a new
system message first (OpenAI chat); appended to the top-level ``system`` (Anthropic messages). OpenAI's
JSON mode refuses a request whose messages never say "JSON", which the instruction also covers.
"""

from __future__ import annotations

import msgspec

from sidecar.chat.body import ChatBody, append_text, role_of
from sidecar.errors import RoutingError
from sidecar.jsontypes import RawFields

OUTPUT_KINDS = ("json", "code", "no-prose")

INSTRUCTIONS: dict[str, str] = {
    "json": (
        "Output constraint: answer with one valid JSON object only. No prose, no Markdown, no code fences."
    ),
    "code": (
        "Output constraint: answer with code only, in one fenced code block. "
        "No explanation before or after it."
    ),
    "no-prose": (
        "Output constraint: no prose. No greeting, preamble, explanation or summary; "
        "give only the requested content."
    ),
}
_JSON_OBJECT = b'{"type":"json_object"}'


class Applied(msgspec.Struct, frozen=True, kw_only=True):
    """What was done for each constraint: ``json=response_format``, ``code=instruction``..."""

    how: dict[str, str]

    def header(self) -> str:
        return ",".join(f"{kind}={how}" for kind, how in self.how.items())


def parse_output(value: str) -> list[str]:
    """Parse an ``X-Sidecar-Output`` value; raise RoutingError (400) naming the valid kinds."""
    kinds: list[str] = []
    for item in value.split(","):
        kind = item.strip().lower().replace("_", "-")
        if not kind:
            continue
        if kind == "noprose":
            kind = "no-prose"
        if kind not in OUTPUT_KINDS:
            raise RoutingError(
                f"unknown X-Sidecar-Output value {item.strip()!r}; valid: {', '.join(OUTPUT_KINDS)}"
            )
        if kind not in kinds:
            kinds.append(kind)
    return kinds


def apply_constraints(
    body: ChatBody, kinds: list[str], *, style: str, supports_json_format: bool = False
) -> Applied:
    """Apply output constraints to a chat body in place (``style`` is "openai" or "anthropic")."""
    how: dict[str, str] = {}
    lines: list[str] = []
    for kind in kinds:
        if kind == "json" and style == "openai" and supports_json_format and not body.has("response_format"):
            body.set_raw("response_format", _JSON_OBJECT)
            how[kind] = "response_format"
        else:
            how[kind] = "instruction"
        lines.append(INSTRUCTIONS[kind])
    if lines:
        _add_system(body, "\n".join(lines), style)
    return Applied(how=how)


def _add_system(body: ChatBody, text: str, style: str) -> None:
    if style == "anthropic":
        body.set_raw("system", bytes(append_text(body.fields.get("system"), text)))
        return
    messages = body.messages()
    if messages is None:
        return
    if messages and role_of(messages[0]) in ("system", "developer"):
        messages[0]["content"] = append_text(messages[0].get("content"), text)
    else:
        system: RawFields = {
            "role": msgspec.Raw(b'"system"'),
            "content": msgspec.Raw(msgspec.json.encode(text)),
        }
        messages.insert(0, system)
    body.set_messages(messages)
