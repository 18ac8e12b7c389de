"""DOUBLE-CHECK: the executor's answer relayed as is, with the auditor's verdict as a field, a header or a
last stream chunk; the audit never fails the request."""

from __future__ import annotations

import json

import aiohttp
import pytest
from multidict import CIMultiDict

from sidecar.app import build_app
from sidecar.routing.doublecheck import (
    MAX_ANSWER_CHARS,
    MAX_REQUEST_CHARS,
    Audit,
    answer_text,
    audit_body,
    parse_verdict,
)
from sidecar.routing.limiter import Destination, ProviderLimiter
from sidecar.routing.middleware import install_routing
from sidecar.testing.fake_upstream import VERBOSE_REPLY
from tests.routing.support import received, sdk, user, write_config

pytestmark = pytest.mark.timeout(30)


async def test_double_check_attaches_audit_field_and_header(sidecar, fake):
    client = sdk(sidecar, **{"X-Sidecar-Mode": "double-check"})
    raw = await client.chat.completions.with_raw_response.create(model="m", messages=user())
    reply = raw.parse()
    assert reply.choices[0].message.content == VERBOSE_REPLY  # the executor's answer, unchanged
    assert raw.headers["X-Sidecar-Audit"] == "pass"
    assert raw.headers["X-Sidecar-Auditor"] == "gemini:gemini-2.0-flash"
    audit = reply.model_extra["sidecar_audit"]
    assert audit["verdict"] == "pass" and audit["auditor"] == "gemini:gemini-2.0-flash"
    assert audit["attempts"] == 1 and audit["usage"]["prompt_tokens"] > 0
    sent = json.loads(received(fake, "gemini")[0].body)
    assert sent["model"] == "gemini-2.0-flash"
    assert sent["response_format"] == {"type": "json_object"}
    assert "write parse_port" in sent["messages"][1]["content"]
    assert VERBOSE_REPLY in sent["messages"][1]["content"]  # the auditor reviews the executor's answer
    assert received(fake, "deepseek")[0].started < received(fake, "gemini")[0].started


async def test_double_check_reports_a_failed_audit(sidecar, fake):
    client = sdk(sidecar, **{"X-Sidecar-Mode": "double-check"})
    raw = await client.chat.completions.with_raw_response.create(model="m", messages=user("plant-bug please"))
    assert raw.headers["X-Sidecar-Audit"] == "fail; issues=1"
    assert raw.parse().model_extra["sidecar_audit"]["issues"] == ["the answer contains a marked bug"]


async def test_double_check_streams_answer_then_audit_chunk(sidecar, fake):
    client = sdk(sidecar, **{"X-Sidecar-Mode": "double-check"})
    raw = await client.chat.completions.with_raw_response.create(model="m", messages=user(), stream=True)
    assert raw.headers["X-Sidecar-Audit"] == "in-stream"
    parts, audits = [], []
    async for chunk in raw.parse():
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
        if chunk.model_extra.get("sidecar_audit"):
            audits.append(chunk.model_extra["sidecar_audit"])
    assert "".join(parts) == VERBOSE_REPLY
    assert len(audits) == 1 and audits[0]["verdict"] == "pass"


async def test_double_check_stream_wire_format(sidecar, fake):
    body = json.dumps({"model": "m", "messages": user(), "stream": True}).encode()
    resp = await sidecar.post("/v1/chat/completions", data=body, headers={"X-Sidecar-Mode": "double-check"})
    text = (await resp.read()).decode()
    events = [e for e in text.split("\n\n") if e.strip()]
    assert events[-1] == "data: [DONE]"
    assert events[-2].startswith("data: ") and '"sidecar_audit"' in events[-2]
    assert text.count("[DONE]") == 1


async def test_audit_failure_never_fails_the_request(aiohttp_client, fake, tmp_path, provider_keys):
    config = write_config(tmp_path, fake.url, urls={"gemini": "http://127.0.0.1:9/v1"})
    client = await aiohttp_client(build_app(config, installers=[install_routing]))
    raw = await sdk(client, **{"X-Sidecar-Mode": "double-check"}).chat.completions.with_raw_response.create(
        model="m", messages=user()
    )
    assert raw.parse().choices[0].message.content == VERBOSE_REPLY
    assert raw.headers["X-Sidecar-Audit"] == "error; reason=upstream_unreachable"


async def test_executor_error_is_relayed_unaudited(sidecar, fake):
    fake.inject("status=500")
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            sidecar.make_url("/v1/chat/completions"),
            json={"model": "m", "messages": user()},
            headers={"X-Sidecar-Mode": "double-check"},
        )
        assert resp.status == 500
        assert resp.headers["X-Sidecar-Audit"] == "skipped; reason=executor_status_500"
    assert received(fake, "gemini") == []


# --- the auditor's request and reply, without a server --------------------------------------------


@pytest.mark.parametrize(
    ("reply", "verdict", "issues"),
    [
        ('{"verdict": "pass", "issues": [], "summary": "ok"}', "pass", []),
        ('```json\n{"verdict": " FAIL ", "issues": ["a", {"line": 3}]}\n```', "fail", ["a", '{"line":3}']),
        ('{"verdict": "maybe"}', "unknown", []),
        ('{"verdict": 1, "issues": "not a list"}', "unknown", []),
        ("The answer passed every check.", "pass", []),
        ("Tests failed: the range check is off by one.", "fail", []),
        ("I cannot tell.", "unknown", []),
    ],
)
def test_parse_verdict(reply: str, verdict: str, issues: list[str]):
    audit = parse_verdict(reply, "gemini:gemini-2.0-flash")
    assert (audit.verdict, audit.issues, audit.auditor) == (verdict, issues, "gemini:gemini-2.0-flash")


def test_a_prose_verdict_that_says_passes_is_a_pass():
    assert parse_verdict("The answer passes every check.", "a:b").verdict == "pass"


def test_a_prose_verdict_keeps_a_bounded_summary():
    audit = parse_verdict("pass " + "x" * 2000, "a:b")
    assert audit.verdict == "pass" and len(audit.summary) == 500


@pytest.mark.parametrize(
    ("audit", "header"),
    [
        (Audit(verdict="pass", auditor="a:b"), "pass"),
        (Audit(verdict="fail", auditor="a:b", issues=["x", "y"]), "fail; issues=2"),
        (Audit(verdict="unknown", auditor="a:b"), "unknown"),
        (Audit(verdict="error", auditor="a:b", reason="status_503"), "error; reason=status_503"),
    ],
)
def test_audit_header(audit: Audit, header: str):
    assert audit.header() == header


def test_answer_text_of_a_completion():
    assert answer_text(b'{"choices": [{"message": {"content": "hi"}}]}') == "hi"
    for raw in (b'{"choices": []}', b'{"choices": [{"delta": {"content": "x"}}]}', b"not json", b"[1]"):
        assert answer_text(raw) is None, raw


def test_audit_body_quotes_the_end_of_the_request_and_the_start_of_the_answer():
    def auditor(json_format: bool) -> Destination:
        return Destination(
            provider="gemini",
            model="gemini-2.0-flash",
            url="http://127.0.0.1:9/v1/chat/completions",
            headers=CIMultiDict(),
            limiter=ProviderLimiter("gemini", 1),
            supports_json_format=json_format,
        )

    request = "OLD" + "r" * MAX_REQUEST_CHARS
    answer = "a" * MAX_ANSWER_CHARS + "CUT"
    doc = json.loads(audit_body(auditor(True), request, answer))
    assert doc["model"] == "gemini-2.0-flash" and doc["stream"] is False and doc["temperature"] == 0
    assert doc["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in doc["messages"]] == ["system", "user"]
    user_text = doc["messages"][1]["content"]
    assert "OLD" not in user_text and "CUT" not in user_text  # the latest request, the answer's start
    assert "response_format" not in json.loads(audit_body(auditor(False), "req", "ans"))
