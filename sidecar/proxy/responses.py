"""The sidecar's own answers: errors in the OpenAI error shape, which every agent SDK parses.

Anthropic's SDK reads ``error.message`` and ``error.type`` from the same object, so one shape serves both.
"""

from __future__ import annotations

import msgspec
from aiohttp import web


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """Build an error in the OpenAI error shape, which every agent SDK parses."""
    body = msgspec.json.encode({"error": {"message": message, "type": code, "param": None, "code": code}})
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)
