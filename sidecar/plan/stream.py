"""Streaming plan reading: each step as soon as its object closes, and the byte sources to read from.

The streaming reader (:class:`StreamParser`, :func:`read_streaming`) yields each validated step
as soon as its object is closed, so a runner can start work while the planner is still writing
the rest of the file; a document it cannot follow is read whole instead.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import os
import sys
import threading
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import cast

import msgspec

from sidecar.plan.model import (
    Plan,
    PlanError,
    Step,
    check_graph,
    make_plan,
    parse_plan,
    validate_header,
    validate_step,
)


class StreamFormatError(Exception):
    """The document cannot be read incrementally (the caller reads it whole instead)."""


class StreamItem(msgspec.Struct, frozen=True):
    """A value completed by the stream parser: a step (``key == "steps"``) or a top-level field."""

    key: str
    value: object
    index: int = -1  # position in ``steps`` for a step


_WS = " \t\r\n"


class StreamParser:
    """Incremental reader of a plan document: feed bytes, get each step as soon as it is closed.

    Only the top-level object and the ``steps`` array are tracked here; every value in them is
    delimited by a small bracket/string scanner and decoded whole with ``json``, so a malformed
    value is caught exactly. Anything else unexpected raises :class:`StreamFormatError`.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._buf = ""
        self._i = 0
        self._state = "start"
        self._key = ""
        self._vstart = -1  # start of the value being captured, -1 when none
        self._capture_state = ""
        self._depth = 0
        self._in_str = False
        self._esc = False
        self._steps_seen = False
        self._step_index = 0
        self.done = False

    def feed(self, data: bytes) -> list[StreamItem]:
        """Consume bytes; return the steps and top-level fields completed by them."""
        try:
            self._buf += self._decoder.decode(data)
        except UnicodeDecodeError as exc:
            raise StreamFormatError("invalid UTF-8") from exc
        items: list[StreamItem] = []
        self._run(items)
        cut = self._vstart if self._vstart >= 0 else self._i
        self._buf = self._buf[cut:]
        self._i -= cut
        if self._vstart >= 0:
            self._vstart = 0
        return items

    def _run(self, items: list[StreamItem]) -> None:
        buf = self._buf
        while self._i < len(buf):
            if self._vstart >= 0:
                end = self._scan_value()
                if end < 0:
                    return
                text, self._vstart = buf[self._vstart : end], -1
                try:
                    value: object = json.loads(text)
                except ValueError:
                    raise StreamFormatError(f"malformed value in state {self._capture_state}") from None
                self._on_value(value, items)
                continue
            c = buf[self._i]
            if c in _WS or (c == "\ufeff" and self._state == "start"):
                self._i += 1
                continue
            self._step(c)

    def _begin(self) -> None:
        self._vstart, self._capture_state = self._i, self._state
        self._depth, self._in_str, self._esc = 0, False, False

    def _step(self, c: str) -> None:
        state = self._state
        nxt: str | None = None
        if state == "start" and c == "{":
            nxt = "key_or_end"
        elif state in ("key_or_end", "key") and c == '"':
            self._begin()
            return
        elif (state == "key_or_end" or state == "comma_or_end") and c == "}":
            nxt = "done"
            self.done = True
        elif state == "colon" and c == ":":
            nxt = "value"
        elif state == "value":
            if self._key == "steps" and c == "[" and not self._steps_seen:
                self._steps_seen = True
                nxt = "item_or_end"
            elif self._key == "steps":
                raise StreamFormatError("'steps' is repeated or not an array")
            else:
                self._begin()
                return
        elif state == "comma_or_end" and c == ",":
            nxt = "key"
        elif state in ("item_or_end", "item") and c not in ",]":
            self._begin()
            return
        elif state == "item_or_end" and c == "]":
            nxt = "comma_or_end"
        elif state == "item_sep" and c in ",]":
            nxt = "item" if c == "," else "comma_or_end"
        if nxt is None:
            raise StreamFormatError(f"unexpected character in state {state}")
        self._state = nxt
        self._i += 1

    def _scan_value(self) -> int:
        buf, i = self._buf, self._i
        if buf[self._vstart] not in '{["':
            while i < len(buf):
                if buf[i] in ",]}" or buf[i] in _WS:
                    self._i = i
                    return i
                i += 1
            self._i = i
            return -1
        while i < len(buf):
            c = buf[i]
            i += 1
            if self._in_str:
                if self._esc:
                    self._esc = False
                elif c == "\\":
                    self._esc = True
                elif c == '"':
                    self._in_str = False
                    if self._depth == 0:
                        self._i = i
                        return i
            elif c == '"':
                self._in_str = True
            elif c in "{[":
                self._depth += 1
            elif c in "}]":
                self._depth -= 1
                if self._depth == 0:
                    self._i = i
                    return i
        self._i = i
        return -1

    def _on_value(self, value: object, items: list[StreamItem]) -> None:
        state = self._capture_state
        if state in ("key_or_end", "key"):
            self._key, self._state = cast(str, value), "colon"
        elif state == "value":
            items.append(StreamItem(self._key, value))
            self._state = "comma_or_end"
        else:
            items.append(StreamItem("steps", value, self._step_index))
            self._step_index += 1
            self._state = "item_sep"


async def read_streaming(
    chunks: AsyncIterable[bytes], *, on_fallback: Callable[[str], None] | None = None
) -> AsyncIterator[Step | Plan]:
    """Yield each validated step as soon as it is complete, then the whole checked Plan.

    Raises PlanError on the first invalid step (steps already yielded stay yielded) and, at the
    end, on header, duplicate, unknown-dependency or cycle errors. If the document cannot be read
    incrementally, it is read whole, ``on_fallback`` is told why, and the remaining steps follow.
    """
    parser = StreamParser()
    received = bytearray()
    header: dict[str, object] = {}
    steps: list[Step] = []
    fallback: str | None = None
    async with contextlib.aclosing(_aiter(chunks)) as source:
        async for chunk in source:
            received += chunk
            if fallback is not None:
                if _is_complete_json(received):
                    break
                continue
            try:
                items = parser.feed(chunk)
            except StreamFormatError as exc:
                fallback = str(exc)
                if on_fallback is not None:
                    on_fallback(fallback)
                if _is_complete_json(received):
                    break
                continue
            for item in items:
                if item.key != "steps":
                    header[item.key] = item.value
                    continue
                step, errors = validate_step(item.value, f"$.steps[{item.index}]")
                if step is None:
                    raise PlanError(errors)
                if any(s.id == step.id for s in steps):
                    raise PlanError([f"$.steps[{item.index}].id: duplicate id '{step.id}'"])
                steps.append(step)
                yield step
            if parser.done:
                break
    if fallback is None and not parser.done:
        fallback = "the plan ended before its top-level object closed"
        if on_fallback is not None:
            on_fallback(fallback)
    if fallback is not None:
        plan = parse_plan(bytes(received))
        known = {s.id: s for s in steps}
        for step in plan.steps:
            if step.id not in known:
                yield step
            elif known[step.id] != step:
                raise PlanError([f"$.steps: step '{step.id}' changed after it was read"])
        yield plan
        return
    errors = validate_header({**header, "steps": []})
    if not steps and not errors:
        errors.append("$.steps: expected at least 1 step")
    errors.extend(check_graph(steps))
    if errors:
        raise PlanError(errors)
    yield make_plan(header, steps)


async def _aiter(chunks: AsyncIterable[bytes]) -> AsyncGenerator[bytes, None]:
    async for chunk in chunks:
        yield chunk


def _is_complete_json(data: bytes | bytearray) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


async def follow_file(
    path: Path, *, poll_s: float = 0.02, idle_timeout_s: float = 60.0
) -> AsyncIterator[bytes]:
    """Yield a file's bytes as they are written; stop after ``idle_timeout_s`` without growth."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + idle_timeout_s
    while True:
        try:
            fh = path.open("rb")
            break
        except FileNotFoundError:
            if loop.time() > deadline:
                raise PlanError([f"$: plan file not found: {path}"]) from None
            await asyncio.sleep(poll_s)
    with fh:
        while True:
            data = fh.read(1 << 16)
            if data:
                deadline = loop.time() + idle_timeout_s
                yield data
            elif loop.time() > deadline:
                return
            else:
                await asyncio.sleep(poll_s)


async def stdin_chunks() -> AsyncIterator[bytes]:
    """Yield stdin's bytes as they arrive (a daemon thread reads, so Ctrl-C never waits on it)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    fd = sys.stdin.fileno()

    def pump() -> None:
        try:
            while True:
                data = os.read(fd, 1 << 16)
                loop.call_soon_threadsafe(queue.put_nowait, data)
                if not data:
                    return
        except (OSError, ValueError, RuntimeError):  # stdin closed, or the loop is gone
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(queue.put_nowait, b"")

    threading.Thread(target=pump, name="plan-stdin", daemon=True).start()
    while data := await queue.get():
        yield data


async def read_whole(source: str | Path | AsyncIterable[bytes]) -> bytes:
    """Read a plan completely: a path, ``-`` for stdin, or an async iterable of bytes."""
    if isinstance(source, str | Path) and str(source) != "-":
        try:
            return Path(source).read_bytes()
        except OSError as exc:
            raise PlanError([f"$: cannot read plan file {source}: {exc.strerror}"]) from exc
    chunks = stdin_chunks() if isinstance(source, str | Path) else source
    out = bytearray()
    async for chunk in chunks:
        out += chunk
    return bytes(out)


def stream_source(
    source: str | Path | AsyncIterable[bytes], *, idle_timeout_s: float = 60.0
) -> AsyncIterable[bytes]:
    """Return the byte stream to read a plan from incrementally."""
    if not isinstance(source, str | Path):
        return source
    return stdin_chunks() if str(source) == "-" else follow_file(Path(source), idle_timeout_s=idle_timeout_s)
