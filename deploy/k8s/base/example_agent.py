"""An example agent: calls the LLM API through the pod's sidecar and logs what pruning saved.

Replace this container with a real agent (Aider, OpenHands, ...) whose OpenAI or Anthropic base URL
points at http://127.0.0.1:8787. Standard library only, so it runs on any Python 3.11 image.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request

BASE_URL = os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8787/v1").rstrip("/")
MODEL = os.environ.get("AGENT_MODEL", "gpt-4o-mini")
INTERVAL_S = float(os.environ.get("AGENT_INTERVAL_S", "60"))
ITERATIONS = int(os.environ.get("AGENT_ITERATIONS", "0"))  # 0: until SIGTERM

_stopping = False


def _stop(signum: int, frame: object) -> None:
    # PID 1 in a container has no default SIGTERM action: without a handler the pod waits out its grace.
    global _stopping
    _stopping = True


def _tool_output() -> str:
    lines = [f"00:00:{i % 60:02d} INFO worker-{i % 7} processed batch {i} in {i % 13} ms" for i in range(400)]
    lines[311] = "00:05:11 ERROR worker-3 batch 311 failed: ConnectionResetError on db-primary:5432"
    return "\n".join(lines)


def _request() -> urllib.request.Request:
    body = {
        "model": MODEL,
        "messages": [
            {"role": "user", "content": "Why did the batch job fail?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "read_log", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": _tool_output()},
        ],
    }
    headers = {"Content-Type": "application/json", "X-Sidecar-Goal": "find the cause of the batch failure"}
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return urllib.request.Request(
        f"{BASE_URL}/chat/completions", data=json.dumps(body).encode(), headers=headers, method="POST"
    )


def call_once() -> int:
    """Send one chat completion through the sidecar and log metadata only; return the HTTP status."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(_request(), timeout=30) as resp:
            status, headers = int(resp.status), resp.headers
            payload = resp.read()
    except urllib.error.HTTPError as exc:
        status, headers, payload = exc.code, exc.headers, b""
    except OSError as exc:
        print(f"agent: request failed: {type(exc).__name__}", flush=True)
        return 0
    elapsed_ms = (time.monotonic() - started) * 1000
    try:
        choices = len(json.loads(payload).get("choices", []))
    except (ValueError, AttributeError):
        choices = 0
    print(
        f"agent: status={status} choices={choices} elapsed_ms={elapsed_ms:.0f}"
        f" tokens_saved={headers.get('X-Sidecar-Tokens-Saved', '-')}"
        f" backend={headers.get('X-Sidecar-Backend', '-')}"
        f" fallback={headers.get('X-Sidecar-Fallback', '-')}",
        flush=True,
    )
    return status


def main() -> int:
    """Call the sidecar every AGENT_INTERVAL_S seconds until SIGTERM or AGENT_ITERATIONS calls."""
    signal.signal(signal.SIGTERM, _stop)
    done = 0
    while not _stopping:
        call_once()
        done += 1
        if ITERATIONS and done >= ITERATIONS:
            break
        deadline = time.monotonic() + INTERVAL_S
        while not _stopping and time.monotonic() < deadline:
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
