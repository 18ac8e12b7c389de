"""Who may read the dashboard, its data and /sidecar/metrics: the MCP server's policy, reused.

The policy is the one ``/sidecar/mcp`` uses (:func:`sidecar.mcpserver.security.auth_policy`, decided at
start-up from the bind address and the variable named by ``mcp.token_env``, default
``SIDECAR_MCP_TOKEN``), checked on every request:

    Origin   present, and neither loopback, an ``mcp.allowed_origins`` entry, nor (token policy)
             the page's own origin                                          -> 403
    open     (loopback bind, no token): the Host header must name a loopback host (or the host of an
             allowed origin), so a DNS-rebinding page cannot read the data  -> 403 otherwise
    refuse   (non-loopback bind, no token): never an open dashboard         -> 403 naming the variable
    token    ``Authorization: Bearer <token>`` (Prometheus, curl), or the session cookie that
             ``POST /sidecar/login`` sets once the token was typed into the login form -> 401 otherwise

The session cookie holds an HMAC of the token, not the token: it opens the dashboard only (MCP still wants
the bearer token), dies when the token changes, and is ``HttpOnly; SameSite=Strict`` (another site's
page can neither read it nor make the browser send it).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from urllib.parse import urlsplit

import msgspec
from aiohttp import web

from sidecar.config import Config
from sidecar.mcpserver.security import AuthPolicy, auth_policy, is_loopback_host, origin_allowed

COOKIE = "sidecar_dashboard"
COOKIE_MAX_AGE_S = 12 * 3600
_COOKIE_CONTEXT = b"sidecar dashboard session v1"


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    """Why a dashboard request is turned away; ``login``: a browser should be shown the login form."""

    status: int
    message: str
    login: bool = False


class DashboardAccess:
    """The dashboard's access check, from the MCP auth policy and allowed origins."""

    @classmethod
    def for_config(cls, config: Config, token: str | None) -> DashboardAccess:
        """Decide the policy as MCP does: from the bind address and the token (None: unset)."""
        policy = auth_policy(config.server.host, token)
        return cls(policy, config.mcp.allowed_origins, config.mcp.token_env)

    def __init__(self, policy: AuthPolicy, allowed_origins: Sequence[str], token_env: str) -> None:
        self.policy = policy
        self.allowed_origins = list(allowed_origins)
        self.token_env = token_env
        self._session = (
            hmac.new(policy.token.encode("utf-8"), _COOKIE_CONTEXT, hashlib.sha256).hexdigest()
            if policy.mode == "token" and policy.token
            else None
        )

    def check(self, request: web.Request) -> Refusal | None:
        """Return why ``request`` may not read the dashboard, or None when it may."""
        origin = request.headers.get("Origin")
        if origin is not None and not self._origin_ok(origin, request):
            return Refusal(status=403, message="forbidden: origin not allowed")
        mode = self.policy.mode
        if mode == "refuse":
            return Refusal(
                status=403,
                message=f"forbidden: the dashboard on a non-loopback address requires a token "
                f"(set {self.token_env})",
            )
        if mode == "open":
            host = request.url.host or ""
            if not (is_loopback_host(host) or self._allowed_host(host)):
                return Refusal(status=403, message="forbidden: host not allowed (use 127.0.0.1 or localhost)")
            return None
        if self._bearer_ok(request) or self.session_ok(request.cookies.get(COOKIE, "")):
            return None
        return Refusal(status=401, message="unauthorized: bearer token required", login=True)

    def token_ok(self, given: str) -> bool:
        """Tell whether ``given`` is the token (constant time)."""
        expected = (self.policy.token or "").encode("utf-8")
        return bool(expected) and hmac.compare_digest(given.strip().encode("utf-8"), expected)

    def session_ok(self, cookie: str) -> bool:
        """Tell whether a session cookie value was issued for the current token."""
        return self._session is not None and hmac.compare_digest(
            cookie.encode("utf-8"), self._session.encode()
        )

    def set_session(self, response: web.StreamResponse, secure: bool) -> None:
        """Give the browser the session cookie (after the token was typed in the login form)."""
        if self._session is not None:
            response.set_cookie(
                COOKIE,
                self._session,
                max_age=COOKIE_MAX_AGE_S,
                path="/sidecar/",
                httponly=True,
                samesite="Strict",
                secure=secure,
            )

    def _bearer_ok(self, request: web.Request) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self.token_ok(given)

    def _origin_ok(self, origin: str, request: web.Request) -> bool:
        if origin_allowed(origin, self.allowed_origins):
            return True
        # With a token required, the page's own origin is safe: a rebinding page has neither token nor cookie.
        own = f"{request.scheme}://{request.host}".lower()
        return self.policy.mode == "token" and origin.strip().rstrip("/").lower() == own

    def _allowed_host(self, host: str) -> bool:
        for allowed in self.allowed_origins:
            try:
                if urlsplit(allowed.strip().lower()).hostname == host.lower():
                    return True
            except ValueError:
                continue
        return False
