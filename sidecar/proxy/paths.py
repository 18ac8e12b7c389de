"""The one table of LLM API paths: which requests carry a chat body, in which protocol.

Every part reads it: pruning (what to rewrite), routing (what may be routed, stripped, constrained),
telemetry (what is a GenAI exchange). A path matches by its end, so a base URL with a prefix
(``/openai/v1/chat/completions``, ``/anthropic/v1/messages``) is the same endpoint as the bare one.

    POST .../chat/completions          openai     chat           (OpenAI chat completions)
    POST .../v1/messages               anthropic  chat           (Anthropic messages)
    POST .../v1/messages/count_tokens  anthropic  count_tokens   (same body, answered with a count)
    POST .../responses                 responses  chat           (OpenAI Responses: Codex CLI, Agents SDK)
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from sidecar.chat.body import Style

Operation = Literal["chat", "count_tokens"]


class Endpoint(NamedTuple):
    """What a path is: the protocol of its body and the operation it asks for."""

    style: Style
    operation: Operation

    @property
    def provider(self) -> str:
        """The provider the protocol belongs to (``gen_ai.provider.name`` when the host tells nothing)."""
        return "anthropic" if self.style == "anthropic" else "openai"


# Longest suffix first: count_tokens must win over messages.
_SUFFIXES: tuple[tuple[str, Endpoint], ...] = (
    ("/v1/messages/count_tokens", Endpoint("anthropic", "count_tokens")),
    ("/v1/messages", Endpoint("anthropic", "chat")),
    ("/chat/completions", Endpoint("openai", "chat")),
    ("/responses", Endpoint("responses", "chat")),
)


def endpoint(method: str, path: str) -> Endpoint | None:
    """Return the endpoint a request targets, None for anything that is not an LLM call."""
    if method != "POST":
        return None
    for suffix, found in _SUFFIXES:
        if path.endswith(suffix):
            return found
    return None
