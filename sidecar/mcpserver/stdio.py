"""MCP over stdio, and the ``sidecar mcp`` command that an editor starts (Cline, Continue, Claude Code).

    stdin  --readline--> one JSON-RPC message (or batch) per line
           --spawn-----> McpDispatcher.handle(line, the connection's SessionState)   (concurrently)
    stdout <--write----- one reply per line, written whole from the loop thread (never interleaved)

Requests are answered concurrently, so replies may come out of order (JSON-RPC ids pair them up);
notifications get no line. A line longer than ``server.max_body_bytes`` (the reader's limit) is never
decoded: it is skipped to its newline and answered with one ``-32700``. An unexpected failure answers
``-32603`` (the exception's class only), so every request line gets a reply. At EOF
the server waits for the answers still running, closes the Pruner and returns. Only JSON-RPC goes to
stdout: logs go to stderr, and a closed stdout drops the reply (nobody is left to read it).

There is no authentication on stdio: the process belongs to whoever started it, and the connection
has no caller identity (its prune ids recover for any caller without a credential).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable

from sidecar.config import Config
from sidecar.mcpserver.dispatcher import McpDispatcher, SessionState
from sidecar.mcpserver.jsonrpc import INTERNAL_ERROR, PARSE_ERROR, error_reply
from sidecar.tasks import spawn

__all__ = ["configure", "run", "serve_stdio"]

log = logging.getLogger("sidecar.mcp")


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``sidecar mcp`` options."""
    parser.add_argument("--config", default=None, metavar="FILE", help="config file (default: config.toml)")


def run(args: argparse.Namespace) -> int:
    """Serve MCP on stdin/stdout until stdin closes."""
    from sidecar.config import load_config

    config = load_config(args.config)
    try:
        asyncio.run(serve_stdio(config))
    except KeyboardInterrupt:
        pass
    return 0


async def serve_stdio(
    config: Config,
    reader: asyncio.StreamReader | None = None,
    write: Callable[[bytes], None] | None = None,
) -> None:
    """Answer newline-delimited JSON-RPC from ``reader`` (stdin) with ``write`` (stdout) until EOF."""
    from sidecar.pruning.service import Pruner

    if reader is None:
        reader = await _stdin_reader(config.server.max_body_bytes)
    write = write or _write_stdout
    pruner = Pruner(config)
    await pruner.start()
    dispatcher, state = McpDispatcher(pruner), SessionState()
    pending: set[asyncio.Task[None]] = set()

    async def answer(line: bytes) -> None:
        try:
            reply = await dispatcher.handle(line, state)
        except Exception as exc:  # noqa: BLE001 - a request line always gets a reply
            log.warning("mcp: request failed: %s", type(exc).__name__)
            reply = error_reply(INTERNAL_ERROR, f"internal error: {type(exc).__name__}")
        if reply is not None:
            write(reply + b"\n")

    try:
        while True:
            line = await _next_line(reader)
            if line is None:  # longer than the limit: skipped whole, one error
                write(error_reply(PARSE_ERROR, "parse error: message too large") + b"\n")
                continue
            if not line:
                break
            if line.strip():
                task = spawn(answer(line), name="mcp-stdio")
                pending.add(task)
                task.add_done_callback(pending.discard)
        if pending:
            await asyncio.gather(*pending)
    finally:
        await pruner.aclose()


async def _next_line(reader: asyncio.StreamReader) -> bytes | None:
    """Return the next line (b"" at EOF), or None for a line over the reader's limit, read to its end."""
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:  # EOF: the last line may lack its newline
        return exc.partial
    except asyncio.LimitOverrunError as exc:
        consumed = exc.consumed
    # readline() would drop the buffer and read the line's tail as a line of its own (a second error):
    # discard up to the newline instead, the limit's worth at a time (the data stays in the buffer).
    while True:
        await reader.read(max(consumed, 1))
        try:
            await reader.readuntil(b"\n")
            return None
        except asyncio.IncompleteReadError:
            return None
        except asyncio.LimitOverrunError as exc:
            consumed = exc.consumed


async def _stdin_reader(limit: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit)
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    except ValueError:  # stdin is a regular file: read it whole (it is finite)
        reader.feed_data(sys.stdin.buffer.read())
        reader.feed_eof()
    return reader


def _write_stdout(data: bytes) -> None:
    # One write per message from the loop thread: replies never interleave.
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except (BrokenPipeError, ValueError):  # the client closed our stdout: nobody is left to answer
        log.info("mcp: stdout closed, reply dropped")
