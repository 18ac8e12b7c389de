"""Retry-After parsing and back-off (sidecar.resilience)."""

from __future__ import annotations

import email.utils
import time

from sidecar.resilience import backoff, parse_retry_after, retry_delay


def test_parse_retry_after():
    assert parse_retry_after("1") == 1.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = time.time()
    date = email.utils.formatdate(now + 10, usegmt=True)
    assert 8.5 <= parse_retry_after(date, now=now) <= 10.0
    assert parse_retry_after(email.utils.formatdate(now - 100, usegmt=True), now=now) == 0.0


def test_retry_delay_backs_off_without_header_and_refuses_beyond_cap():
    assert retry_delay(None, 1, 30) == 0.5
    assert retry_delay(None, 3, 30) == 2.0
    assert retry_delay(None, 10, 5) == 5
    assert retry_delay("4", 1, 30) == 4.0
    assert retry_delay("40", 1, 30) is None


def test_backoff_doubles_from_base_up_to_cap():
    assert [backoff(n, 0.25, 2.0) for n in (1, 2, 3, 4, 5)] == [0.25, 0.5, 1.0, 2.0, 2.0]
