"""Who may use /sidecar/mcp: the Origin check, the token policy, and the refusal of an open network port.

Checked on every request (POST, GET, DELETE), before any session or body is looked at:

    Origin header present, not loopback nor in mcp.allowed_origins  -> 403  (DNS-rebinding defence)
    policy "refuse": no token and a non-loopback bind               -> 403  (never an open tool port)
    policy "token":  neither X-Sidecar-MCP-Token: <token> nor
                     Authorization: Bearer <token>                  -> 401  WWW-Authenticate: Bearer
    otherwise                                                       -> None (go on)

The policy is decided once at start-up (:func:`load_policy`): the variable named by ``mcp.token_env``
(default ``SIDECAR_MCP_TOKEN``) set means a bearer token is required whatever the bind address; unset,
a loopback bind is ``open`` and any other bind (``0.0.0.0``, a name, "") is ``refuse``. The token is
compared in constant time and never printed (not even by ``repr``).

Caller identity (:func:`mcp_caller`): the agent's API key, hashed by
:func:`sidecar.proxy.identity.caller_identity` exactly as the pruning middleware hashes it, so a prune
id recovers only for the same key whether it was pruned through the proxy or over MCP. The MCP token
is not an identity when a key comes with it: the token goes in ``X-Sidecar-MCP-Token`` (the key then
in ``Authorization`` or ``x-api-key``), or as the bearer with the key in ``x-api-key``. A client that
sends the token alone is the token's holder (its own prune_text ids recover for it).

:func:`check` returns a :class:`Refusal` (status, message, headers) rather than an HTTP response, so
the policy stays a pure function of the request headers; the HTTP transport renders it as a JSON-RPC
error body.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Literal
from urllib.parse import urlsplit

import msgspec

from sidecar.config import Config
from sidecar.proxy.identity import caller_identity

__all__ = [
    "AuthPolicy",
    "Refusal",
    "auth_policy",
    "check",
    "is_loopback_host",
    "load_policy",
    "mcp_caller",
    "origin_allowed",
]

log = logging.getLogger("sidecar.mcp")


class AuthPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How /sidecar/mcp authenticates: ``open``, ``token`` (bearer required) or ``refuse`` (all 403)."""

    mode: Literal["open", "token", "refuse"]
    token: str | None = None

    def __repr__(self) -> str:  # never print the token
        return f"AuthPolicy(mode={self.mode!r})"


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    """Why a request is turned away: its HTTP status, a metadata-only message, extra headers."""

    status: int
    message: str
    headers: dict[str, str] = {}


ORIGIN_REFUSED = Refusal(status=403, message="forbidden: origin not allowed")
NO_TOKEN_REFUSED = Refusal(
    status=403,
    message="forbidden: MCP over HTTP on a non-loopback address "
    "requires a token (set the variable named by mcp.token_env)",
)
TOKEN_REQUIRED = Refusal(
    status=401,
    message="unauthorized: bearer token required",
    headers={"WWW-Authenticate": 'Bearer realm="sidecar-mcp"'},
)


def is_loopback_host(host: str) -> bool:
    """Return True when binding ``host`` only listens on loopback."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve anywhere, or "" (all interfaces)


def auth_policy(bind_host: str, token: str | None) -> AuthPolicy:
    """Decide the HTTP auth policy: a set token is always required; no token off loopback refuses MCP."""
    if token:
        return AuthPolicy(mode="token", token=token)
    return AuthPolicy(mode="open" if is_loopback_host(bind_host) else "refuse")


def load_policy(config: Config, environ: Mapping[str, str] | None = None) -> AuthPolicy:
    """Decide the policy for ``config`` and the token in the environment; warn when MCP is refused."""
    env = os.environ if environ is None else environ
    policy = auth_policy(config.server.host, env.get(config.mcp.token_env) or None)
    if policy.mode == "refuse":
        log.warning(
            "mcp: bound to %s without $%s: MCP over HTTP is refused", config.server.host, config.mcp.token_env
        )
    return policy


def origin_allowed(origin: str, allowed: Sequence[str]) -> bool:
    """Return True for a loopback origin or one listed in ``mcp.allowed_origins`` (scheme://host[:port])."""
    normalised = origin.strip().rstrip("/").lower()
    if normalised in (a.strip().rstrip("/").lower() for a in allowed):
        return True
    try:
        parts = urlsplit(normalised)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and host is not None and is_loopback_host(host)


TOKEN_HEADER = "X-Sidecar-MCP-Token"


def _is_token(given: str, policy: AuthPolicy) -> bool:
    expected = (policy.token or "").encode("utf-8")
    return bool(expected) and hmac.compare_digest(given.strip().encode("utf-8"), expected)


def _bearer(headers: Mapping[str, str]) -> str | None:
    scheme, _, given = headers.get("Authorization", "").partition(" ")
    return given if scheme.lower() == "bearer" else None


def check(headers: Mapping[str, str], policy: AuthPolicy, allowed_origins: Sequence[str]) -> Refusal | None:
    """Return why a request with these headers is refused, or None when it may go on."""
    origin = headers.get("Origin")
    if origin is not None and not origin_allowed(origin, allowed_origins):
        log.warning("mcp: origin refused")
        return ORIGIN_REFUSED
    if policy.mode == "refuse":
        return NO_TOKEN_REFUSED
    if policy.mode == "token":
        given = headers.get(TOKEN_HEADER)
        if given is None:
            given = _bearer(headers)
        if given is None or not _is_token(given, policy):
            return TOKEN_REQUIRED
    return None


def mcp_caller(headers: Mapping[str, str], policy: AuthPolicy) -> str | None:
    """Return the caller identity of an MCP request: its API key's, the token's only when sent alone."""
    if policy.mode == "token" and TOKEN_HEADER not in headers:
        bearer = _bearer(headers)
        key = headers.get("x-api-key")
        if bearer is not None and key and _is_token(bearer, policy):
            return caller_identity({"x-api-key": key})  # the token is the bearer, the agent's key apart
    return caller_identity(headers)
