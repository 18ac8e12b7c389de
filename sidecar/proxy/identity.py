"""Who is calling: a stable, non-reversible id of the API key a request carries.

The pruning middleware stores each pruned text under its caller's id, and the MCP server lets a prune id
recover only for the same id: the same key, whether it prunes through the proxy or calls MCP tools.
The key itself is never stored or logged, only this hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping


def caller_identity(headers: Mapping[str, str]) -> str | None:
    """Return a stable, non-reversible id of the API key in request headers, or None without one."""
    raw = headers.get("Authorization") or headers.get("x-api-key")
    if not raw:
        return None
    key = raw.strip()
    if key[:7].lower() == "bearer ":
        key = key[7:].strip()  # the same key through Authorization or x-api-key is the same caller
    return "key-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
