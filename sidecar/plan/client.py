"""One plan step as a chat completion: its compact messages, the request with retries, the answer read.

Errors are reported as :class:`StepFailed` with metadata only (a status, an error code or class):
a provider may quote the request in its error message. A 429/502/503/504 or a connection error is
retried (``retries`` times): after what ``Retry-After`` asks (seconds or an HTTP date, read by
:mod:`sidecar.resilience`), else after an exponential back-off. The wait is capped, and a server
asking for more than the cap gets the cap, not a failure: a plan step is worth a retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import aiohttp
import msgspec

from sidecar.plan.model import Step
from sidecar.plan.results import StepResult
from sidecar.resilience import retry_delay

_RETRYABLE = frozenset({429, 502, 503, 504})
MAX_RETRY_WAIT_S = 30.0
_BACKOFF_BASE_S = 0.25

MessageBuilder = Callable[[Step, Mapping[str, str]], list[dict[str, str]]]


class _Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class _Message(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    message: _Message


class _ChatResponse(msgspec.Struct):
    choices: list[_Choice]
    model: str | None = None
    usage: _Usage | None = None


class StepFailed(Exception):
    """A step's request failed; the message is metadata only (a status or an error class)."""

    def __init__(self, reason: str, status: int | None = None, body: bytes | None = None) -> None:
        super().__init__(reason)
        self.status, self.body = status, body


class _ErrorDetail(msgspec.Struct):
    code: str | int | None = None
    type: str | None = None


class _ErrorBody(msgspec.Struct):
    error: _ErrorDetail | None = None


def _error_code(raw: bytes) -> str:
    """The ``error.code`` (or ``type``) of an OpenAI-style error body, when it is a short identifier.

    Never the message: a provider may quote the request in it.
    """
    try:
        detail = msgspec.json.decode(raw, type=_ErrorBody).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ""
    for value in (detail.code, detail.type) if detail else ():
        text = str(value) if value is not None else ""
        if 0 < len(text) <= 64 and text.replace("_", "").replace("-", "").replace(".", "").isalnum():
            return f" ({text})"
    return ""


def output_kind(step: Step) -> str:
    """Return the X-Sidecar-Output value for a step: JSON for analysis, code otherwise."""
    return "json" if step.type == "analysis" else "code"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}\n[... {len(text) - limit} more characters]"


def build_messages(
    step: Step,
    inputs: Mapping[str, str],
    *,
    input_chars: int = 4000,
    constrain: bool = True,
) -> list[dict[str, str]]:
    """Build the compact chat messages for one step; ``inputs`` maps step ids to their outputs.

    ``constrain`` adds a one-line output constraint (code or JSON only) for providers reached directly;
    through the sidecar, ``X-Sidecar-Output`` asks for the same.
    """
    ctx = step.context
    constraint = "Code only, no prose." if output_kind(step) == "code" else "One JSON object only, no prose."
    lines = [step.description, f"Type: {step.type}"]
    if ctx.files:
        lines.append("Files: " + ", ".join(ctx.files))
    if ctx.language:
        lines.append(f"Language: {ctx.language}")
    if ctx.extra:
        lines.append("Context: " + msgspec.json.encode(ctx.extra).decode())
    if step.validation_criteria:
        lines.append("Criteria:\n" + "\n".join(f"- {c}" for c in step.validation_criteria))
    for dep in step.dependencies:
        if dep in inputs:
            lines.append(f"Output of {dep}:\n{_clip(inputs[dep], input_chars)}")
    user = {"role": "user", "content": "\n".join(lines)}
    return [{"role": "system", "content": constraint}, user] if constrain else [user]


class ChatClient:
    """Sends steps as chat completions to one OpenAI-compatible endpoint (the sidecar, usually)."""

    def __init__(
        self,
        *,
        base_url: str,
        mode: str | None,
        model: str,
        api_key: str | None,
        extra_headers: Mapping[str, str],
        retries: int,
        constrain: bool,
        max_retry_wait_s: float = MAX_RETRY_WAIT_S,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.mode, self.model = mode, model
        self.api_key, self.retries, self.extra_headers = api_key, retries, dict(extra_headers)
        self.constrain, self.max_retry_wait_s = constrain, max_retry_wait_s

    async def call(
        self, session: aiohttp.ClientSession, step: Step, messages: list[dict[str, str]], result: StepResult
    ) -> tuple[str, bytes]:
        """Send one step's messages; return the answer's text and raw body, or raise StepFailed."""
        body = msgspec.json.encode({"model": self.model, "messages": messages, "stream": False})
        headers = {
            **self.extra_headers,
            "Content-Type": "application/json",
        }
        if self.constrain:
            headers["X-Sidecar-Output"] = output_kind(step)
        if self.mode:
            headers["X-Sidecar-Mode"] = self.mode
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                async with session.post(self.url, data=body, headers=headers) as resp:
                    raw = await resp.read()
                    result.http_status = resp.status
                    if resp.status in _RETRYABLE and not last:
                        result.retries += 1
                        wait = retry_wait(resp.headers.get("Retry-After"), attempt + 1, self.max_retry_wait_s)
                        await asyncio.sleep(wait)
                        continue
                    if resp.status >= 400:
                        raise StepFailed(f"HTTP {resp.status}{_error_code(raw)}", resp.status, raw)
                    result.provider = resp.headers.get("X-Sidecar-Provider")
                    result.model = resp.headers.get("X-Sidecar-Model")
                    result.audit = resp.headers.get("X-Sidecar-Audit")
                    attempts = resp.headers.get("X-Sidecar-Attempts", "")
                    if attempts.isdigit():
                        result.retries += max(0, int(attempts) - 1)
                    return _parse_response(raw, result), raw
            except (aiohttp.ClientError, TimeoutError) as exc:
                if last:
                    raise StepFailed(type(exc).__name__) from exc
                result.retries += 1
                await asyncio.sleep(retry_wait(None, attempt + 1, self.max_retry_wait_s))
        raise StepFailed("no attempt made")  # unreachable: the loop returns or raises


def retry_wait(retry_after: str | None, attempt: int, cap_s: float = MAX_RETRY_WAIT_S) -> float:
    """Return the seconds to wait before retry number ``attempt`` (1-based), never more than ``cap_s``."""
    delay = retry_delay(retry_after, attempt, cap_s, base_s=_BACKOFF_BASE_S)
    return cap_s if delay is None else delay  # asked for more than the cap: wait the cap, then retry


def _parse_response(raw: bytes, result: StepResult) -> str:
    try:
        doc = msgspec.json.decode(raw, type=_ChatResponse)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StepFailed("invalid response body") from exc
    result.model = doc.model or result.model
    if doc.usage is not None:
        result.prompt_tokens, result.completion_tokens = doc.usage.prompt_tokens, doc.usage.completion_tokens
    content = doc.choices[0].message.content if doc.choices else None
    if not content:
        raise StepFailed("empty response")
    return content
