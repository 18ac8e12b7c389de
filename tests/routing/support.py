"""What the routing tests share (the chat tests' routed requests too): four providers on one fake,
their keys, the config pointing at them, and the real OpenAI SDK aimed at the sidecar.

The fixtures live here, not in conftest.py, so that tests outside tests/routing can import them.
"""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from sidecar.app import build_app
from sidecar.config import Config, load_config
from sidecar.routing.middleware import install_routing
from sidecar.testing.fake_upstream import FakeUpstream, Profile, routing_reply

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
