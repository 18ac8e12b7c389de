"""`sidecar fake-upstream`: the fake provider as a real server, plain or scripted (``--script FILE``).

Plain, it answers every chat request with a canned reply at the latency and chunk pace asked for
(``--providers`` adds the four routing providers' profiles); scripted, it plays a model that drives a
real agent through a task (sidecar.testing.scripted).
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from sidecar.testing import scripted
from sidecar.testing.fake_upstream import PROVIDER_PROFILES, FakeUpstream, routing_reply


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``sidecar fake-upstream`` options."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8788)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before the response headers")
    parser.add_argument("--chunk-ms", type=float, default=0.0, help="delay between streamed chunks")
    parser.add_argument(
        "--providers",
        action="store_true",
        help="also serve " + ", ".join(PROVIDER_PROFILES) + " under /p/<name>/v1 at realistic speeds, "
        "answering like a model that follows output constraints",
    )
    parser.add_argument(
        "--script",
        metavar="FILE",
        help="act as a scripted model driving a real agent (Anthropic Messages and OpenAI Responses, "
        "streamed): see sidecar.testing.scripted",
    )
    parser.add_argument("--record", metavar="DIR", help="with --script: write every request body to DIR")


def run(args: argparse.Namespace) -> int:
    """Run the fake upstream until interrupted (SIGINT or SIGTERM)."""
    if getattr(args, "script", None):
        return scripted.run(args)  # the scripted model is its own server

    async def main() -> None:
        providers = getattr(args, "providers", False)
        fake = FakeUpstream(
            latency_ms=args.latency_ms,
            chunk_ms=args.chunk_ms,
            host=args.host,
            port=args.port,
            record=False,
            profiles=dict(PROVIDER_PROFILES) if providers else None,
            reply=routing_reply if providers else None,
        )
        await fake.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)  # PID 1 in a container ignores SIGTERM without this
        print(f"fake upstream listening on {fake.url}", flush=True)
        if providers:
            for name in PROVIDER_PROFILES:
                print(f"  provider {name}: base_url = {fake.url}/p/{name}/v1", flush=True)
        try:
            await stop.wait()
        finally:
            await fake.stop()

    asyncio.run(main())
    return 0
