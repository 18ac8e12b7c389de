"""The sidecar's error hierarchy, translated at one boundary each.

SidecarError
├── ConfigError            bad config value or file: start-up stops, message names the key
├── UpstreamError          the upstream could not be reached or did not answer in time
│   ├── UpstreamUnreachable    -> 502
│   ├── UpstreamTimeout        -> 504
│   └── UpstreamBusy           -> 503 every pooled connection stayed busy for upstream.pool_timeout_s
├── PruningError           anything in the pruning path; always caught: the request goes as sent
│   └── BackendError           a backend failed (the manager falls back to the heuristic)
│       └── BackendUnavailable     a backend is not usable (no key, circuit open)
├── RecoverError           recover_text failures, mapped to JSON-RPC codes
│   ├── PruneIdNotFound        -32004 prune_id_not_found
│   └── InvalidRange           -32005 invalid_range
├── RoutingError           routing a request to a provider failed (bad mode, missing key)
└── RedisUnavailable       Redis skipped (back-off) or failed: the in-process stores serve instead
"""

from __future__ import annotations


class SidecarError(Exception):
    """Base of every error the sidecar raises on purpose."""


class ConfigError(SidecarError):
    """An invalid configuration value; the message is one line naming the key or variable."""


class UpstreamError(SidecarError):
    """The upstream failed before a response could be relayed."""

    status = 502
    code = "upstream_error"


class UpstreamUnreachable(UpstreamError):
    status = 502
    code = "upstream_unreachable"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class UpstreamBusy(UpstreamError):
    """No pooled upstream connection came free in time (``upstream.max_connections`` all busy)."""

    status = 503
    code = "upstream_pool_exhausted"


class PruningError(SidecarError):
    """Anything that goes wrong while pruning."""


class BackendError(PruningError):
    """A pruning backend failed; ``cause`` is metadata only (a status or an error class)."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


class BackendUnavailable(BackendError):
    """A backend cannot be used right now (no API key, circuit breaker open)."""


class RecoverError(SidecarError):
    jsonrpc_code = -32000
    reason = "recover_error"


class PruneIdNotFound(RecoverError):
    jsonrpc_code = -32004
    reason = "prune_id_not_found"


class InvalidRange(RecoverError):
    jsonrpc_code = -32005
    reason = "invalid_range"


class RoutingError(SidecarError):
    """A request could not be routed to a provider; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class RedisUnavailable(SidecarError):
    """Redis was skipped (back-off) or failed: use the in-process store (always caught by its users)."""
