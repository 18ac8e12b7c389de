"""The one chat-path table (sidecar.proxy.paths)."""

from __future__ import annotations

import pytest

from sidecar.proxy.paths import Endpoint, endpoint


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/chat/completions", Endpoint("openai", "chat")),
        ("/chat/completions", Endpoint("openai", "chat")),
        ("/openai/v1/chat/completions", Endpoint("openai", "chat")),  # a prefixed base URL is the same
        ("/v1/messages", Endpoint("anthropic", "chat")),
        ("/anthropic/v1/messages", Endpoint("anthropic", "chat")),
        ("/v1/messages/count_tokens", Endpoint("anthropic", "count_tokens")),
        ("/v1/responses", Endpoint("responses", "chat")),
        ("/v1/models", None),
        ("/v1/messages/batches", None),
        ("/v1/chat/completions/x", None),
        ("/sidecar/health", None),
    ],
)
def test_endpoint_by_suffix(path: str, expected: Endpoint | None) -> None:
    assert endpoint("POST", path) == expected


def test_only_post_is_an_llm_call() -> None:
    assert endpoint("GET", "/v1/chat/completions") is None
    assert endpoint("GET", "/v1/responses") is None


def test_provider_follows_the_protocol() -> None:
    assert Endpoint("responses", "chat").provider == "openai"
    assert Endpoint("anthropic", "count_tokens").provider == "anthropic"
