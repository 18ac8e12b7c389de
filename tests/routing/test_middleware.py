"""Execution modes: routing to the configured provider and model, pass-through, DOUBLE-CHECK, keys."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import aiohttp
import openai
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

from sidecar.app import build_app
from sidecar.config import Config, load_config
from sidecar.proxy.forward import forward_of, read_body
from sidecar.routing.middleware import install_routing
from sidecar.testing.fake_upstream import VERBOSE_REPLY, FakeUpstream, Profile, routing_reply

pytestmark = pytest.mark.timeout(30)

PROVIDERS = {"deepseek": 5, "groq": 10, "gemini": 10, "codestral": 5}
KEYS = {name: f"sk-{name}-secret-0123456789" for name in PROVIDERS}


def key_env(name: str) -> str:
    return f"SIDECAR_TEST_{name.upper()}_KEY"


def write_config(
    tmp_path: Path,
    fake_url: str,
    *,
    limits: dict[str, int] | None = None,
    urls: dict[str, str] | None = None,
    routing: str = "",
) -> Config:
    """Point every provider at its profile on the fake (`<fake>/p/<name>/v1`) and load the config."""
    lines = [f'[upstream]\nurl = "{fake_url}"\n']
    for name, limit in {**PROVIDERS, **(limits or {})}.items():
        url = (urls or {}).get(name, f"{fake_url}/p/{name}/v1")
        lines.append(
            f'[providers.{name}]\nbase_url = "{url}"\napi_key_env = "{key_env(name)}"\n'
            f"max_concurrent = {limit}\n"
            + ("supports_json_response_format = false\n" if name == "codestral" else "")
        )
    lines.append(f"[routing]\n{routing}\n")
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines))
    return load_config(cli_path=str(path), env={})


@pytest.fixture
def provider_keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, key in KEYS.items():
        monkeypatch.setenv(key_env(name), key)
    return KEYS


@pytest.fixture
async def fake() -> FakeUpstream:
    server = FakeUpstream(profiles={name: Profile() for name in PROVIDERS}, reply=routing_reply)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def sidecar(aiohttp_client, fake: FakeUpstream, tmp_path: Path, provider_keys):
    return await aiohttp_client(build_app(write_config(tmp_path, fake.url), installers=[install_routing]))


_OPEN: list[openai.AsyncOpenAI] = []


def sdk(client, **headers: str) -> openai.AsyncOpenAI:
    """The real OpenAI SDK pointed at the sidecar; no SDK retries, so every error is seen."""
    out = openai.AsyncOpenAI(
        api_key="sk-agent-own-key",
        base_url=str(client.make_url("/v1")),
        max_retries=0,
        default_headers=headers,
        timeout=30,
    )
    _OPEN.append(out)
    return out


@pytest.fixture(autouse=True)
async def close_sdk_clients():
    yield
    while _OPEN:
        await _OPEN.pop().close()


def received(fake: FakeUpstream, profile: str) -> list:
    return [r for r in fake.received if r.profile == profile]


def user(text: str = "write parse_port") -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


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


# --- DOUBLE-CHECK ---------------------------------------------------------------------------------


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


async def test_routing_health_section(sidecar, fake):
    await sdk(sidecar, **{"X-Sidecar-Mode": "fast"}).chat.completions.create(model="m", messages=user())
    health = await (await sidecar.get("/sidecar/health")).json()
    assert health["routing"]["routed"] == {"fast": 1}
    assert health["routing"]["providers"]["groq"]["requests"] == 1
    assert health["routing"]["providers"]["groq"]["max_concurrent"] == 10


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
