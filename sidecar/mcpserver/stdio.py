"""MCP over stdio, and the ``sidecar mcp`` command that an editor starts (Cline, Continue, Claude Code).

    stdin  --readline--> one JSON-RPC message (or batch) per line
           --spawn-----> McpDispatcher.handle(line, the connection's SessionState)   (concurrently)
    stdout <--write----- one reply per line, written whole from the loop thread (never interleaved)

Requests are answered concurrently, so replies may come out of order (JSON-RPC ids pair them up);
notifications get no line. A line longer than ``server.max_body_bytes`` is never decoded: it is
answered with ``-32700`` (once per chunk the reader gives up on, so possibly more than once). At EOF
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
from sidecar.mcpserver.jsonrpc import PARSE_ERROR, error_reply
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
        reply = await dispatcher.handle(line, state)
        if reply is not None:
            write(reply + b"\n")

    try:
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # longer than the limit: its tail is dropped with it
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
