"""Chat request bodies: pure functions over the bytes an agent sends (no I/O, no aiohttp).

    body         ChatBody: top-level fields kept as raw JSON; edit a field, every other byte stays
    segments     parse_chat(body, style) -> the prunable texts (tool outputs) and the goal of each
    calls        what a tool call says about its output: the goal hint, the source type (Cline's too)
    splice       replace JSON string tokens in place: only the pruned strings are re-encoded
    strip        prompt stripping (courtesy, repeats, ANSI, progress bars), fenced code untouched
    constraints  output constraints (json | code | no-prose) as response_format or an instruction

Every function here either succeeds or raises (SegmentError, SpliceError, RoutingError); the callers
(pruning, routing) forward the request untouched when one does.
"""

from sidecar.chat.body import ChatBody, Style
from sidecar.chat.segments import ParsedChat, Segment, SegmentError, parse_chat, rewrite

__all__ = ["ChatBody", "ParsedChat", "Segment", "SegmentError", "Style", "parse_chat", "rewrite"]
