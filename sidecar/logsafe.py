"""Keep what clients send out of the log: third-party log records lose their exception messages.

    aiohttp.server: "Error handling request from 127.0.0.1" + BadHttpMessage("... Bearer sk-...")
      -> "Error handling request from 127.0.0.1 [BadHttpMessage]" (+ the traceback's frames, no message)

aiohttp's HTTP parser errors quote the raw bytes they choked on: a header line with an API key, a
request line that is really prompt text (the bytes after a short Content-Length). Its server logs
them with ``exc_info`` at ERROR (DEBUG for a first bad method), so they would reach the log at the
default level. A :class:`logging.Filter` on aiohttp's and asyncio's loggers (where records from code
the sidecar does not own come from) replaces each record's exception with its class name and its
traceback frames (file, line, function: code, never data), at every level. The sidecar's own loggers
log metadata only by construction and are left alone.

Logger filters apply to the records logged on that very logger, so every logger name is listed.
:func:`install_log_filters` is idempotent; ``build_app`` and the CLI call it.
"""

from __future__ import annotations

import logging
import traceback
from types import TracebackType

# Loggers that may log exceptions raised while handling client bytes: aiohttp's (server, web,
# access, client, internal, websocket) and asyncio's ("Task exception was never retrieved").
GUARDED_LOGGERS = (
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.internal",
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.websocket",
    "asyncio",
)


class ExceptionTextFilter(logging.Filter):
    """Replace a record's exception by its class name and bare traceback frames; keep the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place (never drops it)."""
        info = record.exc_info
        if info and info[1] is not None:
            record.exc_text = _frames(info[1], info[2])
            record.exc_info = None
            record.msg = f"{record.getMessage()} [{type(info[1]).__name__}]"
            record.args = None
        record.stack_info = None
        return True


def _frames(exc: BaseException, tb: TracebackType | None) -> str:
    """The traceback as frames and exception class names only (chained causes included)."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        frames = "".join(traceback.format_tb(current.__traceback__ if current is not exc else tb))
        parts.append(
            f"Traceback (most recent call last):\n{frames}{type(current).__name__} (message withheld)"
        )
        current = current.__cause__ or current.__context__
    return "\n\nwhile handling:\n".join(reversed(parts))


_FILTER = ExceptionTextFilter()


def install_log_filters() -> None:
    """Add the filter to every guarded logger (idempotent)."""
    for name in GUARDED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
