"""Run Headroom's ``compress`` on mixed cases; executed by bench/mixed_quality.py inside Headroom's own venv.

Reads cases (JSON lines with ``id``, ``goal``, ``tool``, ``text``) on stdin and writes
``{"id", "output", "ms"}`` lines on stdout. Each case is one OpenAI-style exchange: the goal as the
user message, the assistant's ``Bash`` tool call with the case's command, and the tool result
holding the text (Headroom leaves ``read_file`` results alone by default, so the tool is named after
the command). ``protect_recent=0`` so the last message is eligible for compression.
"""

import json
import sys
import time

from headroom import compress
from headroom.compress import CompressConfig


def main() -> None:
    config = CompressConfig(protect_recent=0)
    for line in sys.stdin:
        c = json.loads(line)
        messages = [
            {"role": "user", "content": c["goal"]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "Bash", "arguments": json.dumps({"command": c["tool"]})},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": c["text"]},
        ]
        started = time.perf_counter()
        result = compress(messages, model="gpt-4", config=config)
        ms = (time.perf_counter() - started) * 1000.0
        out = result.messages[-1]["content"]
        if not isinstance(out, str):
            out = json.dumps(out)
        print(json.dumps({"id": c["id"], "output": out, "ms": ms}), flush=True)


if __name__ == "__main__":
    main()
