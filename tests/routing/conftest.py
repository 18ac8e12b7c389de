"""Routing fixtures (defined in support.py, which the chat tests import too): the fake providers, their keys,
a sidecar with routing only, and the SDK clients closed after each test."""

from __future__ import annotations

from tests.routing.support import close_sdk_clients, fake, provider_keys, sidecar

__all__ = ["close_sdk_clients", "fake", "provider_keys", "sidecar"]
