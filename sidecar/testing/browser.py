"""Headless Chromium driven over the DevTools protocol: the page tests and the README screenshot use it.

    async with Chromium.launch() as browser:          # Debian's chromium, a fresh profile, 127.0.0.1 only
        page = await browser.open("http://127.0.0.1:8787/sidecar/")
        await page.wait_for("document.documentElement.dataset.rendered >= 1")
        figures = await page.evaluate("...")
        png = await page.screenshot()

The browser is started with networking features off (no component updates, sync, background traffic or
first-run pages), listens for DevTools on an ephemeral loopback port it writes to ``DevToolsActivePort``
in its profile directory, and is killed, with its profile removed, on exit. The protocol is plain JSON
over aiohttp's websocket client: one ``Target`` session per page (``flatten`` mode).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import msgspec

from sidecar.jsontypes import JsonValue
from sidecar.tasks import spawn

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


class BrowserError(RuntimeError):
    """The browser could not be started, or a DevTools command failed."""


def find_chromium() -> str | None:
    """Return the path of a Chromium executable ($CHROMIUM wins), or None."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class _Connection:
    """One DevTools websocket: commands by id, answers matched back to their futures."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, JsonValue]]] = {}
        self._reader = spawn(self._read(), name="chromium-devtools-reader")

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            doc = msgspec.json.decode(message.data)
            if not isinstance(doc, dict):
                continue
            ident = doc.get("id")
            if isinstance(ident, int) and ident in self._pending:
                future = self._pending.pop(ident)
                if not future.done():
                    future.set_result(doc)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BrowserError("the browser closed the DevTools connection"))

    async def send(
        self, method: str, params: dict[str, JsonValue] | None = None, session: str | None = None
    ) -> dict[str, JsonValue]:
        ident = next(self._ids)
        message: dict[str, JsonValue] = {"id": ident, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, JsonValue]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        await self._ws.send_str(msgspec.json.encode(message).decode())
        answer = await asyncio.wait_for(future, timeout=30)
        error = answer.get("error")
        if error is not None:
            raise BrowserError(f"{method}: {error}")
        result = answer.get("result")
        return result if isinstance(result, dict) else {}

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self._ws.close()


class Page:
    """One tab: navigate, evaluate, wait, take a screenshot."""

    def __init__(self, connection: _Connection, session: str) -> None:
        self._connection = connection
        self._session = session

    async def send(self, method: str, params: dict[str, JsonValue] | None = None) -> dict[str, JsonValue]:
        """Send a DevTools command to this page."""
        return await self._connection.send(method, params, self._session)

    async def evaluate(self, expression: str) -> JsonValue:
        """Return the value of a JavaScript expression (promises awaited), as JSON."""
        result = await self.send(
            "Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True}
        )
        details = result.get("exceptionDetails")
        if details is not None:
            raise BrowserError(f"script error: {details}")
        value = result.get("result")
        return value.get("value") if isinstance(value, dict) else None

    async def wait_for(self, expression: str, timeout_s: float = 15.0) -> JsonValue:
        """Poll ``expression`` until it is truthy; return its value (BrowserError after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = await self.evaluate(
                f"(() => {{ try {{ return {expression}; }} catch (e) {{ return null; }} }})()"
            )
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {expression}")
            await asyncio.sleep(0.05)

    async def screenshot(self, width: int = 1280, height: int = 1400) -> bytes:
        """Return a PNG of the page at ``width`` x ``height`` CSS pixels."""
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        result = await self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})
        data = result.get("data")
        if not isinstance(data, str):
            raise BrowserError("no screenshot data")
        return base64.b64decode(data)


class Chromium:
    """A headless Chromium process and its DevTools connection."""

    def __init__(self, process: subprocess.Popen[bytes], profile: str, connection: _Connection) -> None:
        self._process = process
        self._profile = profile
        self._connection = connection

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(cls, executable: str | None = None, timeout_s: float = 30.0) -> AsyncIterator[Chromium]:
        """Start the browser with a fresh profile; stop it and remove the profile on exit."""
        path = executable or find_chromium()
        if path is None:
            raise BrowserError("chromium not found (apt-get install chromium, or set $CHROMIUM)")
        profile = tempfile.mkdtemp(prefix="sidecar-chromium-")
        process = subprocess.Popen(
            [path, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        session: aiohttp.ClientSession | None = None
        connection: _Connection | None = None
        try:
            url = await _devtools_url(Path(profile), process, timeout_s)
            session = aiohttp.ClientSession()
            ws = await session.ws_connect(url, max_msg_size=0, timeout=aiohttp.ClientWSTimeout(ws_close=5))
            connection = _Connection(ws)
            yield cls(process, profile, connection)
        finally:
            if connection is not None:
                await connection.close()
            if session is not None:
                await session.close()
            process.kill()
            await asyncio.to_thread(process.wait, 10)
            shutil.rmtree(profile, ignore_errors=True)

    async def open(self, url: str) -> Page:
        """Open ``url`` in a new tab and return it (navigation started, not necessarily finished)."""
        created = await self._connection.send("Target.createTarget", {"url": "about:blank"})
        target = created.get("targetId")
        attached = await self._connection.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        session = attached.get("sessionId")
        if not isinstance(session, str):
            raise BrowserError("no DevTools session for the new tab")
        page = Page(self._connection, session)
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        await page.send("Page.navigate", {"url": url})
        return page


async def _devtools_url(profile: Path, process: subprocess.Popen[bytes], timeout_s: float) -> str:
    """Wait for the browser to write its DevTools port, and return the browser's websocket URL."""
    active = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrowserError(f"chromium exited at start-up with status {process.returncode}")
        try:
            lines = active.read_text().split("\n")
        except FileNotFoundError:
            lines = []
        if len(lines) >= 2 and lines[0].strip().isdigit() and lines[1].strip():
            return f"ws://127.0.0.1:{lines[0].strip()}{lines[1].strip()}"
        await asyncio.sleep(0.05)
    raise BrowserError(f"chromium did not open its DevTools port within {timeout_s:.0f} s")
