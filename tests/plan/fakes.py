"""A real in-process OpenAI-style server for the plan tests, and plan documents to feed it.

:class:`FakeLLM` answers ``/v1/chat/completions`` with a latency per step and scripted error statuses,
and records when each call started and ended, its headers and body.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from sidecar.plan.results import RunSummary, StepResult

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


@dataclass
class Call:
    step: str
    start: float
    end: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, object] = field(default_factory=dict)


class FakeLLM:
    """An OpenAI-compatible handler: latency per step, scripted failures, start/end times recorded."""

    def __init__(self, latency: float = 0.05) -> None:
        self.latency = latency
        self.latency_by_step: dict[str, float] = {}
        self.status_by_step: dict[str, list[int]] = {}  # statuses to answer, in order, before succeeding
        self.calls: list[Call] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.cancelled = 0
        self.retry_after = "0"  # sent with every scripted error status

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        first_line = body["messages"][-1]["content"].split("\n", 1)[0]
        step = re.search(r"step_\d+", first_line).group(0)  # type: ignore[union-attr]
        call = Call(step, time.monotonic(), headers=dict(request.headers), body=body)
        self.calls.append(call)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency_by_step.get(step, self.latency))
            statuses = self.status_by_step.get(step)
            if statuses:
                status = statuses.pop(0)
                return web.json_response(
                    {"error": {"message": "SECRET prompt echo", "code": "server_error"}},
                    status=status,
                    headers={"Retry-After": self.retry_after},
                )
            doc = {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": "fake-coder",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": f"result of {step}"}}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
            }
            headers = {"X-Sidecar-Provider": "fakeprov", "X-Sidecar-Attempts": "1"}
            return web.json_response(doc, headers=headers)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            call.end = time.monotonic()
            self.in_flight -= 1

    def calls_for(self, step: str) -> list[Call]:
        return [c for c in self.calls if c.step == step]


def step(n: int, deps: tuple[int, ...] = (), **kw: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "id": f"step_{n}",
        "description": f"step_{n}: implement part {n}",
        "type": "code_generation",
        "complexity": 0.5,
        "estimated_tokens": 100,
        "dependencies": [f"step_{d}" for d in deps],
        "context": {"files": [f"src/part{n}.py"], "language": "python"},
    }
    doc.update(kw)
    return doc


def write_plan(path: Path, *steps: dict[str, object]) -> Path:
    path.write_text(json.dumps({"task_id": "t1", "description": "test plan", "steps": list(steps)}))
    return path


def by_id(summary: RunSummary) -> dict[str, StepResult]:
    return {r.id: r for r in summary.steps}
