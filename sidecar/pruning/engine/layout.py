"""One-line JSON laid out over lines, so that a line pruner has lines to choose among.

    spread_json(text) -> str | None    the same document, one member per line where it is long
    body_start(text) -> int            where a JSON answer starts after its head or warnings (or 0)
    document(text) -> (start, end, body)  where a JSON answer starts and ends after and before what
                                       surrounds it (a response head, warnings, curl's trace; 0, len)

An API answer is often one JSON document on a single line: ``curl -s https://pypi.org/pypi/NAME/json``,
``gh api`` into a pipe, an MCP tool's ``json.dumps`` result. Pruned by lines, such a text can only be
kept whole (250 KB for one PyPI project). ``spread_json`` breaks it at its structure, the way a pretty
printer would, but only where it is long: a container of more than ``WIDTH`` characters gets one line
per member, indented two spaces per level; a container that fits stays on its line as written (a
release file, an installed package: a record per line); an array's numbers and literals share lines of
about ``WIDTH`` characters (an embedding is a few dozen lines, not 1,536).

The re-layout is lossless: only whitespace between tokens changes (none is added inside a string, a
number or a key), so the result parses to the same value, and every kept line is the original's
characters. Returns None when the text is not one JSON object or array, already spans lines, is short
or over ``MAX_CHARS``, or has nothing longer than ``WIDTH`` to break.

What comes before the document is kept as it is, the document after it laid out: an HTTP response
head (``curl -i``, ``gh api -i``, HTTPie's default output: a status line, header lines, a blank line),
or a few lines of warnings (``npm warn …``, ``Warning: …`` on stderr before ``kubectl``'s JSON), or
``curl -v``'s trace when the agent's shell merges stderr (``* `` notes, ``> `` request and ``< ``
response lines, ``{ [N bytes data]``). Its trace after the document (an agent printing stderr after
stdout; the note closing the connection, glued to an answer with no final newline) stays after it on
lines of its own, and the notes curl wrote into the document where stdout's buffer was flushed go
there too: the answer is laid out as it was sent.
"""

from __future__ import annotations

import re

import msgspec

__all__ = ["MAX_CHARS", "MIN_CHARS", "MULTILINE", "WIDTH", "body_start", "document", "spread_json"]

WIDTH = 120  # a container longer than this is laid out one member per line
MIN_CHARS = 2_000  # shorter documents are not worth a layout
# Longer ones stay whole: the scan holds a position per bracket and comma and the result a piece per
# line (a dense array of short strings has a member every four characters): 2 MB caps that near 90 MB,
# for a moment, and the lines the engine then scores near half a million.
MAX_CHARS = 2_000_000
MULTILINE = 8  # a document with this many line breaks is laid out already (kinds.detect_kind reads it)
INDENT = "  "

# Each match runs to the next structural character outside a string (strings are consumed whole, so
# brackets and commas inside them are skipped); possessive: a valid document has one parse.
_STRUCTURE = re.compile(r'(?:[^"\[\]{},]++|"[^"\\]*+(?:\\.[^"\\]*+)*+")*+([\[\]{},])')
_SPACE = " \t\r\n"
# A response head: its status line, up to HEAD_LINES header lines ("Name: value", the name an HTTP
# token), and the blank line ending it; a "100 Continue" head may come before the final one.
HEAD_LINES = 200
PREAMBLE_LINES = 8  # or a few lines (warnings) before a line opening the document...
PREAMBLE_CHARS = 1_000  # ...in this many characters
_HTTP_HEAD = re.compile(
    rf"HTTP/\d(?:\.\d)? [1-5]\d\d\b[^\n]*+\n(?:[\w!#$%&'*+.^`|~-]++:[^\n]*+\n){{0,{HEAD_LINES}}}\r?\n"
)
# curl -v's trace: connection notes ("* "), the request ("> ") and response ("< ") lines, each a lone
# marker when blank, and the data notes ("{ [65536 bytes data]"). Before the document when the shell
# merges the two streams as they come; after it (from its first note on, or only the one closing the
# connection, glued to an answer with no final newline) when the agent appends stderr to stdout.
_TRACE_LINE = r"(?:[*<>](?:[ \t][^\n]*+)?+|[{}] \[\d++ bytes data\])\r?"
_CURL_TRACE = re.compile(rf"(?:{_TRACE_LINE}\n)++")
_CURL_TAIL = re.compile(rf"(?<=[\n}}\]])\* [^\n]*+(?:\n{_TRACE_LINE})*+\s*+\Z")
CURL_TAIL_CHARS = 4_000  # a trace after the document is searched for in this many characters
_CURL_NOTE = re.compile(
    r"\* (?:Connection #\d++ to host [^\n]*+|Closing connection[ #\d]*+|shutting down connection #\d++)\n"
)
_TRACE_OPENS = ("* ", "> ", "< ")
_NOT_PACKED = ('"', "]", "}", "[", "{")  # a string or a container ends before a comma or starts after it


def body_start(text: str) -> int:
    """Return where a JSON document may start after what ``text`` opens with (0: at its start).

    After the HTTP response heads it opens with; else, when it does not open with a bracket, after
    at most ``PREAMBLE_LINES`` lines (``PREAMBLE_CHARS`` characters) before a line that does. The
    caller parses what follows: this only says where to try.
    """
    start = 0
    if text[:2] in _TRACE_OPENS and (trace := _CURL_TRACE.match(text)) is not None:
        start = trace.end()
    while text.startswith("HTTP/", start) and (m := _HTTP_HEAD.match(text, start)) is not None:
        start = m.end()
    if start or text.lstrip(_SPACE)[:1] in ("{", "["):
        return start
    window = text[:PREAMBLE_CHARS]
    at = min((i for i in (window.find("\n{"), window.find("\n[")) if i >= 0), default=-1)
    return at + 1 if 0 <= window.count("\n", 0, at) < PREAMBLE_LINES else 0


def body_end(text: str) -> int:
    """Return where curl's trace after the document starts at the end of ``text``, else its length."""
    at = max(0, len(text) - CURL_TAIL_CHARS)
    tail = _CURL_TAIL.search(text, at) if text.find("* ", at) >= 0 else None  # most texts stop here
    return len(text) if tail is None else tail.start()


def document(text: str) -> tuple[int, int, str]:
    """Return where a JSON document may start and end in ``text``, and what lies between them.

    Within a curl trace, the notes curl wrote into the document (``* Connection #0 … left intact``:
    stderr is written at once, stdout where its buffer filled) are taken out of what is returned.
    """
    end = body_end(text)
    start = min(body_start(text), end)
    body = text[start:end]
    if (end < len(text) or text[:2] in _TRACE_OPENS) and "* C" in body:
        body = _CURL_NOTE.sub("", body)
    return start, end, body


def spread_json(text: str) -> str | None:
    """Return ``text`` laid out one member per line where it is long, or None (see the module doc)."""
    start, end, body = document(text)
    if not start and end == len(text):
        return _spread(text)
    laid = _spread(body)
    if laid is None:
        return None
    # curl's notes from inside the document follow it, with the rest of its trace.
    after = "".join(_CURL_NOTE.findall(text, start, end)) if len(body) < end - start else ""
    after += text[end:]
    return text[:start] + laid + ("\n" if after and not laid.endswith("\n") else "") + after


def _spread(text: str) -> str | None:
    if not MIN_CHARS <= len(text) <= MAX_CHARS or text.count("\n") >= MULTILINE:
        return None
    body = text.strip(_SPACE)
    if body[:1] not in ("{", "[") or len(body) <= WIDTH:
        return None
    try:
        msgspec.json.decode(body.encode("utf-8", "surrogateescape"))
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return None  # not JSON: the scan below may assume a valid document
    at = [m.end() - 1 for m in _STRUCTURE.finditer(body)]
    chars = [body[i] for i in at]
    # Where each container closes (index into ``at``), from the brackets alone: strings were skipped.
    close: dict[int, int] = {}
    stack: list[int] = []
    for i, ch in enumerate(chars):
        if ch == "[" or ch == "{":
            stack.append(i)
        elif ch == "]" or ch == "}":
            close[stack.pop()] = i
    out: list[str] = []
    last = 0  # where the current output line starts in ``body``
    wide: list[str] = []  # the open containers laid out over lines, "[" or "{" (a short one is skipped)
    i, n = 0, len(at)
    while i < n:
        ch, pos = chars[i], at[i]
        if ch == "[" or ch == "{":
            if at[close[i]] - pos + 1 <= WIDTH:
                i = close[i]  # fits on its line: written as it is, nothing inside it to visit
            else:
                wide.append(ch)
                out.append(body[last : pos + 1])
                out.append("\n" + INDENT * len(wide))
                last = _skip_space(body, pos + 1)
        elif ch == ",":
            # An array's numbers and literals share lines up to WIDTH (an embedding, a list of ids);
            # any other member (a string, a container, an object's member) gets its own line.
            if (
                wide[-1] == "{"
                or pos - last >= WIDTH
                or _before(body, last, pos) in _NOT_PACKED
                or body[_skip_space(body, pos + 1)] in _NOT_PACKED
            ):
                out.append(body[last : pos + 1])
                out.append("\n" + INDENT * len(wide))
                last = _skip_space(body, pos + 1)
        else:
            wide.pop()
            out.append(body[last:pos].rstrip(_SPACE))
            out.append("\n" + INDENT * len(wide))
            last = pos
        i += 1
    if len(out) <= 6:
        return None  # at most one member in a long container: nothing to choose among
    out.append(body[last:])
    lead, trail = text[: len(text) - len(text.lstrip(_SPACE))], text[len(text.rstrip(_SPACE)) :]
    return lead + "".join(out) + trail


def _before(text: str, start: int, pos: int) -> str:
    """Return the last character before ``pos`` (and from ``start``) that is not whitespace, or ""."""
    ch = text[pos - 1] if pos > start else ""
    return text[start:pos].rstrip(_SPACE)[-1:] if ch in _SPACE else ch


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _SPACE:
        pos += 1
    return pos
