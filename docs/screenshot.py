"""Take the README's dashboard screenshot from a real run: two agents' conversations through a sidecar.

    .venv/bin/python docs/screenshot.py [--minutes 10] [--out docs/dashboard.png] [--open-first]

Starts the fake upstream and a sidecar in-process on free loopback ports, then every minute plays the
demo's agent session (OpenAI style, as an OpenAI SDK sends it) and the same session in Anthropic style
(as Claude Code sends it), so the chart has several minutes of history. Then it opens /sidecar/ in
headless Chromium (sidecar.testing.browser) and saves a PNG. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sidecar.app import build_app
from sidecar.config import load_config
from sidecar.server import make_runner
from sidecar.testing.browser import Chromium
from sidecar.testing.demo import conversation
from sidecar.testing.fake_upstream import FakeUpstream

AGENTS = (
    ("openai", "OpenAI/Python 1.99.1", "gpt-5.4"),
    ("anthropic", "claude-cli/2.1.4 (external, cli)", "claude-sonnet-5-5"),
)


def anthropic_messages(messages: list[dict[str, object]]) -> tuple[str, list[dict[str, object]]]:
    """Turn the demo's OpenAI messages into Anthropic ones (tool_use / tool_result blocks)."""
    system, out = "", []
    names = {"read_file": "Read", "run_tests": "Bash", "grep": "Grep"}
    for msg in messages:
        role = msg["role"]
        if role == "system":
            system = str(msg["content"])
        elif role == "user":
            out.append({"role": "user", "content": msg["content"]})
        elif role == "assistant":
            calls = msg.get("tool_calls") or []
            blocks = []
            for call in calls:  # type: ignore[union-attr]
                fn = call["function"]
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call["id"],
                        "name": names.get(fn["name"], fn["name"]),
                        "input": json.loads(fn["arguments"]),
                    }
                )
            out.append({"role": "assistant", "content": blocks})
        elif role == "tool":
            out.append(
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": msg["tool_call_id"], "content": msg["content"]}
                    ],
                }
            )
    return system, out


async def play_round(base: str) -> None:
    """Play the demo session once per agent."""
    async with aiohttp.ClientSession() as http:
        for style, agent, model in AGENTS:
            for messages in conversation():
                headers = {"User-Agent": agent, "Authorization": "Bearer sk-screenshot-not-a-key"}
                if style == "openai":
                    url, body = f"{base}/v1/chat/completions", {"model": model, "messages": messages}
                else:
                    system, msgs = anthropic_messages(messages)
                    url = f"{base}/v1/messages"
                    body = {"model": model, "max_tokens": 1024, "system": system, "messages": msgs}
                async with http.post(url, json=body, headers=headers) as response:
                    await response.read()


async def main(args: argparse.Namespace) -> None:
    fake = FakeUpstream(latency_ms=20, record=False)
    await fake.start()
    config = load_config(env={"SIDECAR_UPSTREAM_URL": fake.url})
    runner = make_runner(build_app(config), shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        for minute in range(args.minutes):
            started = time.monotonic()
            await play_round(base)
            print(f"round {minute + 1}/{args.minutes} played", flush=True)
            if minute + 1 < args.minutes:
                await asyncio.sleep(max(0.0, 60.0 - (time.monotonic() - started)))
        async with Chromium.launch() as browser:
            page = await browser.open(f"{base}/sidecar/")
            await page.wait_for("Number(document.documentElement.dataset.rendered) >= 1")
            if args.open_first:
                await page.evaluate("document.querySelector('tbody#recent tr.seg').click()")
                await page.wait_for("document.querySelector('tr.detail') !== null")
            png = await page.screenshot(args.width, args.height)
        Path(args.out).write_bytes(png)
        print(f"wrote {args.out} ({len(png):,} bytes)")
    finally:
        await runner.cleanup()
        await fake.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10, help="rounds, one a minute (default 10)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("dashboard.png")))
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1300)
    parser.add_argument("--open-first", action="store_true", help="expand the newest recent segment")
    asyncio.run(main(parser.parse_args()))
