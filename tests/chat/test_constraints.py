"""Output constraints: JSON response format where supported, instructions otherwise, fewer tokens out."""

from __future__ import annotations

import json

import openai
import pytest

from sidecar.app import build_app
from sidecar.chat.body import ChatBody
from sidecar.chat.constraints import INSTRUCTIONS, apply_constraints, parse_output
from sidecar.errors import RoutingError
from sidecar.routing.middleware import install_routing
from sidecar.testing.fake_upstream import CODE_REPLY, VERBOSE_REPLY, FakeUpstream
from tests.routing.support import (
    close_sdk_clients,
    fake,
    provider_keys,
    received,
    sdk,
    user,
    write_config,
)

__all__ = [
    "close_sdk_clients",
    "fake",
    "provider_keys",
]  # the routing tests' fixtures (tests/routing/support.py)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def sidecar(aiohttp_client, fake: FakeUpstream, tmp_path, provider_keys):
    return await aiohttp_client(build_app(write_config(tmp_path, fake.url), installers=[install_routing]))


def body_of(doc: dict) -> ChatBody:
    body = ChatBody.parse(json.dumps(doc).encode())
    assert body is not None
    return body


def test_parse_output():
    assert parse_output("json") == ["json"]
    assert parse_output(" Code , no_prose,code") == ["code", "no-prose"]
    with pytest.raises(RoutingError) as info:
        parse_output("yaml")
    assert "json, code, no-prose" in str(info.value)


def test_json_uses_response_format_where_supported_and_instruction_otherwise():
    doc = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    supported = body_of(doc)
    applied = apply_constraints(supported, ["json"], style="openai", supports_json_format=True)
    out = json.loads(supported.encode())
    assert applied.header() == "json=response_format"
    assert out["response_format"] == {"type": "json_object"}
    assert out["messages"][0] == {
        "role": "system",
        "content": INSTRUCTIONS["json"],
    }  # OpenAI needs "JSON" said
    unsupported = body_of(doc)
    applied = apply_constraints(unsupported, ["json"], style="openai", supports_json_format=False)
    out = json.loads(unsupported.encode())
    assert applied.header() == "json=instruction" and "response_format" not in out
    assert out["messages"][0]["content"] == INSTRUCTIONS["json"]


def test_client_response_format_is_kept():
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    body = body_of({"model": "m", "messages": [], "response_format": schema})
    apply_constraints(body, ["json"], style="openai", supports_json_format=True)
    assert json.loads(body.encode())["response_format"] == schema


def test_instruction_merges_into_existing_system_message():
    doc = {"messages": [{"role": "system", "content": "Be careful."}, {"role": "user", "content": "go"}]}
    body = body_of(doc)
    apply_constraints(body, ["code", "no-prose"], style="openai", supports_json_format=True)
    messages = json.loads(body.encode())["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == f"Be careful.\n\n{INSTRUCTIONS['code']}\n{INSTRUCTIONS['no-prose']}"


def test_anthropic_system_gets_the_instruction():
    for system, expected in [
        (None, INSTRUCTIONS["code"]),
        ("Be brief.", f"Be brief.\n\n{INSTRUCTIONS['code']}"),
        (
            [{"type": "text", "text": "Be brief."}],
            [{"type": "text", "text": "Be brief."}, {"type": "text", "text": INSTRUCTIONS["code"]}],
        ),
    ]:
        doc = {"model": "claude", "messages": [{"role": "user", "content": "go"}]}
        if system is not None:
            doc["system"] = system
        body = body_of(doc)
        applied = apply_constraints(body, ["code"], style="anthropic", supports_json_format=True)
        assert json.loads(body.encode())["system"] == expected
        assert applied.header() == "code=instruction"


# --- through the sidecar, measured in tokens generated -----------------------------------------------


async def test_json_mode_on_a_supporting_provider_gets_json_back(sidecar, fake):
    api = sdk(sidecar, **{"X-Sidecar-Mode": "fast", "X-Sidecar-Output": "json"})
    raw = await api.chat.completions.with_raw_response.create(model="m", messages=user())
    assert raw.headers["X-Sidecar-Output-Applied"] == "json=response_format"
    assert json.loads(raw.parse().choices[0].message.content)["code"]
    assert json.loads(received(fake, "groq")[-1].body)["response_format"] == {"type": "json_object"}


async def test_json_on_codestral_is_an_instruction(sidecar, fake):
    api = sdk(sidecar, **{"X-Sidecar-Mode": "build", "X-Sidecar-Output": "json"})
    raw = await api.chat.completions.with_raw_response.create(model="m", messages=user())
    assert raw.headers["X-Sidecar-Provider"] == "codestral"
    assert raw.headers["X-Sidecar-Output-Applied"] == "json=instruction"
    sent = json.loads(received(fake, "codestral")[-1].body)
    assert "response_format" not in sent and sent["messages"][0]["content"] == INSTRUCTIONS["json"]
    assert json.loads(raw.parse().choices[0].message.content)


async def test_code_constraint_cuts_generated_tokens(sidecar, fake):
    plain = await sdk(sidecar, **{"X-Sidecar-Mode": "fast"}).chat.completions.create(
        model="m", messages=user()
    )
    constrained = await sdk(
        sidecar, **{"X-Sidecar-Mode": "fast", "X-Sidecar-Output": "code"}
    ).chat.completions.create(model="m", messages=user())
    assert plain.choices[0].message.content == VERBOSE_REPLY
    assert constrained.choices[0].message.content == CODE_REPLY
    assert constrained.usage.completion_tokens < 0.5 * plain.usage.completion_tokens


async def test_output_header_without_mode_adds_an_instruction_upstream(sidecar, fake):
    raw = await sdk(sidecar, **{"X-Sidecar-Output": "no-prose"}).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=user()
    )
    assert raw.headers["X-Sidecar-Output-Applied"] == "no-prose=instruction"
    sent = json.loads(received(fake, "")[-1].body)
    assert sent["model"] == "gpt-4o" and sent["messages"][0]["content"] == INSTRUCTIONS["no-prose"]
    assert raw.parse().choices[0].message.content == CODE_REPLY


async def test_unknown_output_value_is_400(sidecar, fake):
    with pytest.raises(openai.BadRequestError) as info:
        await sdk(sidecar, **{"X-Sidecar-Mode": "fast", "X-Sidecar-Output": "yaml"}).chat.completions.create(
            model="m", messages=user()
        )
    assert "json, code, no-prose" in info.value.body["message"]
    assert len(fake.received) == 0


async def test_output_header_on_anthropic_messages_appends_to_system(sidecar, fake):
    body = {"model": "claude", "max_tokens": 100, "system": "Be brief.", "messages": user()}
    resp = await sidecar.post("/v1/messages", json=body, headers={"X-Sidecar-Output": "code"})
    assert resp.status == 200
    assert resp.headers["X-Sidecar-Output-Applied"] == "code=instruction"
    sent = json.loads(received(fake, "")[-1].body)
    assert sent["system"] == f"Be brief.\n\n{INSTRUCTIONS['code']}"
    assert (await resp.json())["content"][0]["text"] == CODE_REPLY
