"""Caller identity from API keys (sidecar.proxy.identity)."""

from __future__ import annotations

from sidecar.proxy.identity import caller_identity


def test_the_same_key_is_the_same_caller_through_either_header() -> None:
    assert caller_identity({"Authorization": "Bearer k"}) == caller_identity({"x-api-key": "k"})
    assert caller_identity({"Authorization": "bearer  k "}) == caller_identity({"x-api-key": "k"})


def test_no_key_no_identity_and_keys_differ() -> None:
    assert caller_identity({}) is None
    assert caller_identity({"Authorization": "Bearer k"}) != caller_identity({"Authorization": "Bearer j"})


def test_the_identity_does_not_reveal_the_key() -> None:
    ident = caller_identity({"x-api-key": "sk-secret-123"})
    assert ident is not None and "sk-secret" not in ident and ident.startswith("key-")
