"""Prune ids: 128 bits of HMAC-SHA256 over the cache key, in lower-case base32 (26 characters).

Unguessable without the text, yet the same text, goal, options and backend always get the same id,
even after the cache entry expired, so a segment is rewritten byte-identically on every turn. The
secret is ``SIDECAR_PRUNE_ID_SECRET``, else the one agreed through Redis (stores.redis_store), else
random per process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PROCESS_SECRET = secrets.token_bytes(32)
PRUNE_ID_SECRET_ENV = "SIDECAR_PRUNE_ID_SECRET"


def make_prune_id(key: bytes, secret: bytes) -> str:
    """Return the prune id for a cache key: 128 bits of HMAC-SHA256, lower-case base32."""
    mac = hmac.new(secret, key, hashlib.sha256).digest()[:16]
    return base64.b32encode(mac).decode("ascii").rstrip("=").lower()
