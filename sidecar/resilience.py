"""Waiting before a retry: ``Retry-After`` (delta-seconds or HTTP-date) and exponential back-off.

One reading of the header for every client the sidecar has: the provider calls of routing (which
relay the provider's answer when it asks for more than the cap) and the plan runner's chat client
(which waits at most the cap).
"""

from __future__ import annotations

import email.utils
import math
import time


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` value asks for (delta-seconds or HTTP-date); None if invalid."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        return max(0.0, when.timestamp() - (time.time() if now is None else now))
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def backoff(attempt: int, base_s: float, cap_s: float) -> float:
    """Exponential back-off: ``base_s`` before retry 1, doubling each time, at most ``cap_s``."""
    return min(cap_s, base_s * 2.0 ** max(attempt - 1, 0))


def retry_delay(retry_after: str | None, attempt: int, cap_s: float, base_s: float = 0.5) -> float | None:
    """Seconds to wait before retry number ``attempt``; None when the server asks for more than ``cap_s``.

    Without a usable ``Retry-After``, exponential back-off from ``base_s`` (capped at ``cap_s``).
    """
    asked = parse_retry_after(retry_after)
    if asked is None:
        return backoff(attempt, base_s, cap_s)
    return asked if asked <= cap_s else None
