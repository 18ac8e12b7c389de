"""Run Headroom on mixed cases; executed by bench/mixed_quality.py inside Headroom's own venv.

Reads cases (JSON lines with ``id``, ``kind``, ``goal``, ``tool``, ``text``) on stdin and writes
``{"id", "pipeline", "pipeline_ms", "direct", "direct_ms"}`` lines on stdout:

- ``pipeline``: ``headroom.compress`` on one OpenAI-style exchange (the goal as the user message, the
  assistant's ``Bash`` tool call with the case's command, the tool result holding the text; Headroom
  leaves ``read_file`` results alone by default, so the tool is named after the command),
  ``protect_recent=0`` so the last message is eligible;
- ``direct``: Headroom's own compressor for the case's kind, called on the text with the goal as
  context (``SmartCrusher.crush`` for JSON, ``LogCompressor``, ``SearchCompressor``,
  ``DiffCompressor``): its per-kind strategies without its router, whose text path needs an ML model
  that is not available offline.
"""

import json
import sys
import time

from headroom import compress
from headroom.compress import CompressConfig
from headroom.transforms.diff_compressor import DiffCompressor
from headroom.transforms.log_compressor import LogCompressor
from headroom.transforms.search_compressor import SearchCompressor
from headroom.transforms.smart_crusher import SmartCrusher


def pipeline(case: dict) -> str:
    messages = [
        {"role": "user", "content": case["goal"]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "Bash", "arguments": json.dumps({"command": case["tool"]})},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": case["text"]},
    ]
    out = compress(messages, model="gpt-4", config=CompressConfig(protect_recent=0)).messages[-1]["content"]
    return out if isinstance(out, str) else json.dumps(out)


DIRECT = {
    "json": lambda text, goal: SmartCrusher().crush(text, goal).compressed,
    "logs": lambda text, goal: LogCompressor().compress(text, goal).compressed,
    "search": lambda text, goal: SearchCompressor().compress(text, goal).compressed,
    "diff": lambda text, goal: DiffCompressor().compress(text, goal).compressed,
}


def main() -> None:
    for line in sys.stdin:
        c = json.loads(line)
        row = {"id": c["id"]}
        for name, run in (
            ("pipeline", pipeline),
            ("direct", lambda c: DIRECT[c["kind"]](c["text"], c["goal"]) if c["kind"] in DIRECT else None),
        ):
            started = time.perf_counter()
            row[name] = run(c)  # direct: None for a kind Headroom has no compressor of its own for
            row[f"{name}_ms"] = (time.perf_counter() - started) * 1000.0
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
