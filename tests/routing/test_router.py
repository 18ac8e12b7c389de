"""The router: provider destinations with the provider's own key read at call time, and its health section."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.errors import RoutingError
from sidecar.routing.router import Router
from tests.routing.support import KEYS, PROVIDERS, key_env, sdk, user, write_config

pytestmark = pytest.mark.timeout(30)


def router(tmp_path: Path, **urls: str) -> Router:
    return Router(write_config(tmp_path, "http://127.0.0.1:9", urls=urls))


def test_destination_carries_the_provider_key_url_model_and_limiter(tmp_path: Path, provider_keys):
    r = router(tmp_path, groq="http://127.0.0.1:9/p/groq/v1/")
    dest = r.destination("groq:llama-3.3-70b-versatile", json_response=False)
    assert (dest.provider, dest.model) == ("groq", "llama-3.3-70b-versatile")
    assert dest.label == "groq:llama-3.3-70b-versatile"
    assert dest.url == "http://127.0.0.1:9/p/groq/v1/chat/completions"  # one slash, whatever the config
    assert dest.headers["Authorization"] == f"Bearer {KEYS['groq']}"
    assert dest.headers["Content-Type"] == "application/json"
    assert "Accept-Encoding" not in dest.headers  # a relayed answer may stay compressed
    assert dest.limiter is r.limiters["groq"] and dest.limiter.max_concurrent == PROVIDERS["groq"]
    assert dest.supports_json_format is True


def test_an_answer_the_sidecar_reads_is_asked_uncompressed(tmp_path: Path, provider_keys):
    dest = router(tmp_path).destination("codestral:codestral-latest", json_response=True)
    assert dest.headers["Accept-Encoding"] == "identity"
    assert dest.supports_json_format is False  # as the config says for codestral


def test_the_key_is_read_at_call_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    r = router(tmp_path)
    monkeypatch.setenv(key_env("gemini"), "  sk-rotated  ")
    assert r.destination("gemini:m", json_response=False).headers["Authorization"] == "Bearer sk-rotated"


@pytest.mark.parametrize("value", [None, "", "   "], ids=["unset", "empty", "blank"])
def test_a_missing_key_is_a_500_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider_keys, value: str | None
):
    if value is None:
        monkeypatch.delenv(key_env("deepseek"))
    else:
        monkeypatch.setenv(key_env("deepseek"), value)
    with pytest.raises(RoutingError) as info:
        router(tmp_path).destination("deepseek:deepseek-chat", json_response=False)
    assert info.value.status == 500
    message = str(info.value)
    assert key_env("deepseek") in message and "'deepseek'" in message
    assert not any(key in message for key in KEYS.values())  # the other providers' keys stay out too


def test_health_reports_counters_and_every_provider(tmp_path: Path):
    r = router(tmp_path)
    r.count(r.routed, "fast")
    r.count(r.routed, "fast")
    r.count(r.audits, "pass")
    r.strip_tokens_saved = 7
    health = r.health()
    assert health.routed == {"fast": 2} and health.audits == {"pass": 1} and health.rejected == {}
    assert health.strip_tokens_saved == 7 and health.transforms_failed == {}
    assert set(health.providers) == set(PROVIDERS)
    assert health.providers["deepseek"].max_concurrent == PROVIDERS["deepseek"]
    r.count(r.routed, "build")
    assert health.routed == {"fast": 2}  # a snapshot, not a live view


async def test_routing_health_section(sidecar, fake):
    await sdk(sidecar, **{"X-Sidecar-Mode": "fast"}).chat.completions.create(model="m", messages=user())
    health = await (await sidecar.get("/sidecar/health")).json()
    assert health["routing"]["routed"] == {"fast": 1}
    assert health["routing"]["providers"]["groq"]["requests"] == 1
    assert health["routing"]["providers"]["groq"]["max_concurrent"] == 10
