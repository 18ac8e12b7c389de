"""Execution modes: routing to the configured provider and model, pass-through, keys, the full chain."""

from __future__ import annotations

import json
import logging

import openai
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

from sidecar.app import build_app
from sidecar.proxy.forward import forward_of, read_body
from sidecar.routing.middleware import install_routing
from tests.routing.support import KEYS, PROVIDERS, key_env, received, sdk, user, write_config

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("mode", "provider", "model"),
    [
        ("fast", "groq", "llama-3.3-70b-versatile"),
        ("FAST", "groq", "llama-3.3-70b-versatile"),
        ("build", "codestral", "codestral-latest"),  # a small request
        ("double-check", "deepseek", "deepseek-chat"),
    ],
)
async def test_mode_header_routes_to_configured_provider_and_model(sidecar, fake, mode, provider, model):
    raw = await sdk(sidecar, **{"X-Sidecar-Mode": mode}).chat.completions.with_raw_response.create(
        model="whatever-the-agent-says", messages=user()
    )
    reply = raw.parse()
    assert raw.headers["X-Sidecar-Provider"] == provider
    assert raw.headers["X-Sidecar-Model"] == model
    assert raw.headers["X-Sidecar-Attempts"] == "1"
    assert raw.headers["X-Sidecar-Mode"] == mode.lower()
    got = received(fake, provider)[0]
    assert got.path_qs == f"/p/{provider}/v1/chat/completions"
    assert json.loads(got.body)["model"] == model
    headers = dict(got.headers)
    assert headers["Authorization"] == f"Bearer {KEYS[provider]}"  # the provider's key, never the agent's
    assert not any(k.lower().startswith("x-sidecar") for k in headers)
    assert reply.model == model
    assert received(fake, "") == []  # nothing went to the configured upstream


async def test_model_alias_routes_and_header_wins(sidecar, fake):
    client = sdk(sidecar)
    raw = await client.chat.completions.with_raw_response.create(model="sidecar/fast", messages=user())
    assert raw.headers["X-Sidecar-Provider"] == "groq"
    raw = await sdk(sidecar, **{"X-Sidecar-Mode": "double-check"}).chat.completions.with_raw_response.create(
        model="sidecar/fast", messages=user()
    )
    assert raw.headers["X-Sidecar-Provider"] == "deepseek"


async def test_build_mode_picks_small_executor_only_for_small_requests(sidecar, fake):
    client = sdk(sidecar, **{"X-Sidecar-Mode": "build"})
    big = "explain this module\n" + "x = compute(x)\n" * 600  # ~2,300 tokens > small_request_max_tokens
    raw = await client.chat.completions.with_raw_response.create(model="m", messages=user(big))
    assert raw.headers["X-Sidecar-Provider"] == "deepseek"
    assert raw.headers["X-Sidecar-Model"] == "deepseek-chat"
    raw = await client.chat.completions.with_raw_response.create(model="m", messages=user(), max_tokens=8000)
    assert raw.headers["X-Sidecar-Provider"] == "deepseek"  # asks for a large output: not small
    raw = await client.chat.completions.with_raw_response.create(model="m", messages=user(), max_tokens=500)
    assert raw.headers["X-Sidecar-Provider"] == "codestral"
    tool_heavy = [
        *user(),
        {
            "role": "assistant",
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c", "content": "line of output\n" * 600},
    ]
    raw = await client.chat.completions.with_raw_response.create(model="m", messages=tool_heavy)
    assert raw.headers["X-Sidecar-Provider"] == "deepseek"  # a big tool output makes the request big


@pytest.mark.parametrize("how", ["header", "alias"])
async def test_unknown_mode_is_400_listing_valid_modes(sidecar, fake, how):
    headers = {"X-Sidecar-Mode": "turbo"} if how == "header" else {}
    model = "sidecar/turbo" if how == "alias" else "m"
    with pytest.raises(openai.BadRequestError) as info:
        await sdk(sidecar, **headers).chat.completions.create(model=model, messages=user())
    assert info.value.status_code == 400
    message = info.value.body["message"]
    assert "'turbo'" in message and "build, double-check, fast" in message
    assert len(fake.received) == 0


async def test_without_mode_the_request_goes_upstream_byte_identical(sidecar, fake):
    # Odd spacing, number spellings and unknown fields: any re-serialisation would show.
    body = (
        b'{ "model" : "gpt-4o",\n "messages":[{"role":"user","content":"please \\u00e9 sidecar\\/x"}],'
        b' "temperature": 0.70, "x_unknown": {"n": 1e3} }'
    )
    headers = {"Authorization": "Bearer sk-agent-own-key", "Content-Type": "application/json", "X-Trace": "a"}
    resp = await sidecar.post("/v1/chat/completions", data=body, headers=headers)
    assert resp.status == 200
    assert "X-Sidecar-Provider" not in resp.headers
    got = fake.received[-1]
    assert got.profile == "" and got.body == body
    assert ("Authorization", "Bearer sk-agent-own-key") in got.headers


async def test_alias_text_elsewhere_in_body_is_not_a_mode(sidecar, fake):
    body = b'{"model":"gpt-4o","messages":[{"role":"user","content":"see sidecar/fast docs"}]}'
    resp = await sidecar.post("/v1/chat/completions", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 200
    assert fake.received[-1].profile == "" and fake.received[-1].body == body


async def test_routed_body_keeps_untouched_fields_byte_for_byte(sidecar, fake):
    body = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.70,"x":{"n":1e3}}'
    headers = {"Content-Type": "application/json", "X-Sidecar-Mode": "fast"}
    resp = await sidecar.post("/v1/chat/completions", data=body, headers=headers)
    assert resp.status == 200
    sent = received(fake, "groq")[-1].body
    assert b'"temperature":0.70' in sent and b'"x":{"n":1e3}' in sent
    assert b'"model":"llama-3.3-70b-versatile"' in sent


async def test_mode_on_anthropic_path_is_400(sidecar, fake):
    body = b'{"model":"claude","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}'
    resp = await sidecar.post("/v1/messages", data=body, headers={"X-Sidecar-Mode": "fast"})
    assert resp.status == 400
    assert "OpenAI chat completions only" in (await resp.json())["error"]["message"]


async def test_missing_key_is_a_clear_error_on_first_routed_request(
    aiohttp_client, fake, tmp_path, monkeypatch, caplog
):
    for name in PROVIDERS:
        monkeypatch.delenv(key_env(name), raising=False)
    monkeypatch.setenv(key_env("groq"), KEYS["groq"])
    caplog.set_level(logging.DEBUG)
    client = await aiohttp_client(build_app(write_config(tmp_path, fake.url), installers=[install_routing]))
    ok = await sdk(client, **{"X-Sidecar-Mode": "fast"}).chat.completions.create(model="m", messages=user())
    assert ok.choices[0].message.content
    with pytest.raises(openai.InternalServerError) as info:
        checked = sdk(client, **{"X-Sidecar-Mode": "double-check"})
        await checked.chat.completions.create(model="m", messages=user())
    assert info.value.status_code == 500
    assert key_env("deepseek") in info.value.body["message"]
    assert info.value.body["code"] == "provider_key_missing"
    assert not received(fake, "deepseek")
    assert all(KEYS["groq"] not in record.getMessage() for record in caplog.records)


async def test_outer_middleware_body_is_the_one_routed(aiohttp_client, fake, tmp_path, provider_keys):
    """The pruning middleware sits outside routing: the pruned body in Forward.body is what is routed."""

    def install_rewriter(app: web.Application) -> None:
        @web.middleware
        async def rewrite(request: web.Request, handler: Handler) -> web.StreamResponse:
            body = await read_body(request, 1 << 20)
            forward_of(request).body = body.replace(b"LONG TOOL OUTPUT", b"[pruned]")
            return await handler(request)

        app.middlewares.append(rewrite)

    config = write_config(tmp_path, fake.url)
    client = await aiohttp_client(build_app(config, installers=[install_rewriter, install_routing]))
    await sdk(client, **{"X-Sidecar-Mode": "fast"}).chat.completions.create(
        model="m", messages=user("LONG TOOL OUTPUT")
    )
    assert b"[pruned]" in received(fake, "groq")[-1].body


async def test_behind_the_pruning_middleware(aiohttp_client, fake, tmp_path, provider_keys):
    """Full chain, pruning outside routing: the provider gets the pruned body, the agent both reports."""
    from sidecar.pruning.lifecycle import install_pruner
    from sidecar.pruning.middleware import install_pruning

    config = write_config(tmp_path, fake.url)
    app = build_app(config, installers=[install_pruner, install_pruning, install_routing])
    client = await aiohttp_client(app)
    log_lines = "\n".join(f"2024-05-01 12:00:{i % 60:02d} INFO worker {i} heartbeat ok" for i in range(400))
    messages = [
        {"role": "user", "content": "why did the worker crash?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "sh", "arguments": "{}"}}],
        },
        {
            "role": "tool",
            "tool_call_id": "c1",
            "content": log_lines + "\nERROR worker 7 crashed: out of memory",
        },
    ]
    raw = await sdk(client, **{"X-Sidecar-Mode": "fast"}).chat.completions.with_raw_response.create(
        model="m", messages=messages
    )
    assert raw.headers["X-Sidecar-Provider"] == "groq"
    assert int(raw.headers["X-Sidecar-Tokens-Saved"]) > 0
    sent = json.loads(received(fake, "groq")[-1].body)
    assert len(sent["messages"][2]["content"]) < len(messages[2]["content"])
    assert sent["model"] == "llama-3.3-70b-versatile"


class Recorder:
    """An exchange observer (the telemetry contract) that records the calls it gets."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def upstream_started(self, method: str, url: str) -> None:
        self.calls.append(f"started {url.rsplit('/p/', 1)[-1]}")

    def response_started(self, status, headers) -> None:
        self.calls.append(f"response {status}")

    def chunk(self, data: bytes) -> None:
        if not self.calls[-1] == "chunk":
            self.calls.append("chunk")

    def finished(self, error: str | None) -> None:
        self.calls.append(f"finished {error}")


@pytest.mark.parametrize(
    ("mode", "stream"), [("fast", False), ("double-check", False), ("double-check", True)]
)
async def test_exchange_observers_see_one_complete_exchange(
    aiohttp_client, fake, tmp_path, provider_keys, mode, stream
):
    recorders: list[Recorder] = []

    def install_recorder(app: web.Application) -> None:
        @web.middleware
        async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
            recorders.append(Recorder())
            forward_of(request).observers.append(recorders[-1])
            return await handler(request)

        app.middlewares.append(record)

    config = write_config(tmp_path, fake.url)
    client = await aiohttp_client(build_app(config, installers=[install_recorder, install_routing]))
    resp = await client.post(
        "/v1/chat/completions",
        json={"model": "m", "messages": user(), "stream": stream},
        headers={"X-Sidecar-Mode": mode},
    )
    await resp.read()
    provider = "groq" if mode == "fast" else "deepseek"
    assert recorders[0].calls == [
        f"started {provider}/v1/chat/completions",
        "response 200",
        "chunk",
        "finished None",
    ]
