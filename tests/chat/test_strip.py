"""Prompt stripping: courtesy, repeats, ANSI and progress noise go; fenced code stays byte-identical."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from sidecar.app import build_app
from sidecar.chat.body import ChatBody
from sidecar.chat.strip import Stripper, split_fenced, strip_body, strip_prompt
from sidecar.routing.middleware import install_routing
from sidecar.testing.fake_upstream import FakeUpstream
from sidecar.tokens import estimate_tokens
from tests.routing.support import close_sdk_clients, fake, provider_keys, received, sdk, write_config

__all__ = [
    "close_sdk_clients",
    "fake",
    "provider_keys",
]  # the routing tests' fixtures (tests/routing/support.py)

pytestmark = pytest.mark.timeout(30)


def bundled() -> list[dict]:
    text = resources.files("sidecar").joinpath("data/verbose_prompts.json").read_text(encoding="utf-8")
    return json.loads(text)["prompts"]


def fenced_blocks(text: str) -> list[str]:
    return [segment for is_code, segment in split_fenced(text) if is_code]


def test_bundled_prompts_save_at_least_15_percent_with_code_byte_identical():
    prompts = bundled()
    assert len(prompts) >= 8 and {p["lang"] for p in prompts} == {"en", "fr"}
    before = after = 0
    for prompt in prompts:
        body = ChatBody.parse(json.dumps({"model": "m", "messages": prompt["messages"]}).encode())
        result = strip_body(body)
        stripped = json.loads(body.encode())["messages"]
        for old, new in zip(prompt["messages"], stripped, strict=True):
            blocks = fenced_blocks(old["content"])
            assert fenced_blocks(new["content"]) == blocks, prompt[
                "id"
            ]  # same blocks, same bytes, same order
        assert result.tokens_saved > 0.10 * result.tokens_before, prompt["id"]
        before += result.tokens_before
        after += result.tokens_after
    assert before == sum(estimate_tokens(m["content"]) for p in prompts for m in p["messages"])
    assert (before - after) / before >= 0.15


def test_bundled_prompts_have_every_kind_of_noise():
    text = "\n".join(m["content"] for p in bundled() for m in p["messages"])
    assert "\x1b[" in text and "\r" in text and "```" in text
    assert "please" in text.lower() and "s'il vous plaît" in text.lower()


@pytest.mark.parametrize(
    ("verbose", "expected"),
    [
        ("Hi there! Could you please write a parser for ports?", "Write a parser for ports."),
        ("I would really appreciate it if you could add type hints. Thanks in advance!", "Add type hints."),
        (
            "Please note that the API is frozen. Thank you so much for your help!",
            "Note that the API is frozen.",
        ),
        ("Bonjour à tous,\nPourriez-vous s'il vous plaît corriger la fonction ?", "Corriger la fonction."),
        (
            "Merci de ne pas modifier l'API publique. Merci d'avance pour votre aide !",
            "Ne pas modifier l'API publique.",
        ),
        ("Auriez-vous l'amabilité d'écrire des tests ?\nCordialement", "Écrire des tests."),
        ("Relis ce code, stp ? Merci beaucoup !", "Relis ce code?"),
    ],
)
def test_courtesy_removed_in_english_and_french(verbose, expected):
    assert strip_prompt(verbose) == expected


def test_repeated_instructions_dropped_across_messages():
    stripper = Stripper()
    system = strip_prompt("Always use type hints. Keep the public API unchanged.", stripper)
    user = strip_prompt("Fix the bug. Always use type hints.\nKeep the public API unchanged.", stripper)
    assert system == "Always use type hints. Keep the public API unchanged."
    assert user == "Fix the bug."


def test_ansi_redraws_and_progress_runs_collapse_to_the_last_state():
    bars = "\r".join(f"download: {p:3d}%|{'█' * (p // 10):10}| {p}/100" for p in (0, 50, 100))
    pip = "\n".join(f"   {'━' * (8 * i)} {i}.0/5.0 MB 30.1 MB/s eta 0:00:0{5 - i}" for i in range(1, 6))
    text = f"\x1b[31mERROR\x1b[0m failed\n{bars}\n{pip}\nDone."
    assert strip_prompt(text) == (
        "ERROR failed\ndownload: 100%|██████████| 100/100\n━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ "
        "5.0/5.0 MB 30.1 MB/s eta 0:00:00\nDone."
    )


def test_whitespace_collapses_outside_code():
    assert strip_prompt("Fix   this.   \n\n\n\n\nThen   that.\t\t") == "Fix this.\n\nThen that."


def test_code_inside_fences_and_inline_code_is_untouched():
    code = "```python\n# please   keep\ndef f():\n\n\n\n    return 1   \n```\n"
    tilde = "~~~\n\x1b[31mred\x1b[0m please\n~~~\n"
    text = f"Please fix `please_do(  x )`.\n\n{code}\nThanks!\n{tilde}"
    out = strip_prompt(text)
    assert code in out and tilde.rstrip("\n") in out
    assert "`please_do(  x )`" in out
    assert not out.startswith("Please")


def test_unclosed_fence_protects_the_rest():
    text = "Please look:\n```\nplease   keep\x1b[0m"
    assert strip_prompt(text).endswith("```\nplease   keep\x1b[0m")


def test_only_prompt_roles_are_stripped():
    doc = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "Please fix it.   Thanks!"},
            {"role": "assistant", "content": "Sure!   I hope this helps."},
            {"role": "tool", "tool_call_id": "1", "content": "please   wait"},
            {"role": "user", "content": [{"type": "text", "text": "Please go on."}, {"type": "image_url"}]},
        ],
    }
    body = ChatBody.parse(json.dumps(doc).encode())
    strip_body(body)
    out = json.loads(body.encode())["messages"]
    assert out[0]["content"] == "Fix it."
    assert out[1] == doc["messages"][1] and out[2] == doc["messages"][2]
    assert out[3]["content"] == [{"type": "text", "text": "Go on."}, {"type": "image_url"}]


def test_anthropic_system_is_stripped():
    body = ChatBody.parse(b'{"system": "Please be brief.   Thanks!", "messages": []}')
    strip_body(body)
    assert json.loads(body.encode())["system"] == "Be brief."


# --- through the sidecar ----------------------------------------------------------------------------


async def test_strip_header_on_routed_request_reports_tokens_saved(
    aiohttp_client, fake: FakeUpstream, tmp_path, provider_keys
):
    client = await aiohttp_client(build_app(write_config(tmp_path, fake.url), installers=[install_routing]))
    prompt = bundled()[0]
    raw = await sdk(
        client, **{"X-Sidecar-Mode": "fast", "X-Sidecar-Strip": "on"}
    ).chat.completions.with_raw_response.create(model="m", messages=prompt["messages"])
    saved = int(raw.headers["X-Sidecar-Strip-Saved"])
    sent = json.loads(received(fake, "groq")[-1].body)["messages"]
    before = sum(estimate_tokens(m["content"]) for m in prompt["messages"])
    after = sum(estimate_tokens(m["content"]) for m in sent)
    assert saved == before - after and saved > 0.15 * before
    assert fenced_blocks(sent[1]["content"]) == fenced_blocks(prompt["messages"][1]["content"])


async def test_config_strip_prompts_applies_to_routed_requests_and_header_off_wins(
    aiohttp_client, fake: FakeUpstream, tmp_path, provider_keys
):
    config = write_config(tmp_path, fake.url, routing="strip_prompts = true")
    client = await aiohttp_client(build_app(config, installers=[install_routing]))
    messages = [{"role": "user", "content": "Please fix it.   Thanks!"}]
    await sdk(client, **{"X-Sidecar-Mode": "fast"}).chat.completions.create(model="m", messages=messages)
    assert json.loads(received(fake, "groq")[-1].body)["messages"][0]["content"] == "Fix it."
    api = sdk(client, **{"X-Sidecar-Mode": "fast", "X-Sidecar-Strip": "off"})
    await api.chat.completions.create(model="m", messages=messages)
    assert json.loads(received(fake, "groq")[-1].body)["messages"][0]["content"] == messages[0]["content"]
    # Without a mode, the config does not reach the pass-through path: it stays untouched.
    await sdk(client).chat.completions.create(model="m", messages=messages)
    assert json.loads(received(fake, "")[-1].body)["messages"][0]["content"] == messages[0]["content"]


async def test_strip_header_applies_without_a_mode(
    aiohttp_client, fake: FakeUpstream, tmp_path, provider_keys
):
    client = await aiohttp_client(build_app(write_config(tmp_path, fake.url), installers=[install_routing]))
    raw = await sdk(client, **{"X-Sidecar-Strip": "on"}).chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "Please fix it.   Thanks!"}]
    )
    assert int(raw.headers["X-Sidecar-Strip-Saved"]) > 0
    assert json.loads(received(fake, "")[-1].body)["messages"][0]["content"] == "Fix it."


async def test_invalid_strip_value_is_400(aiohttp_client, fake: FakeUpstream, tmp_path, provider_keys):
    client = await aiohttp_client(build_app(write_config(tmp_path, fake.url), installers=[install_routing]))
    resp = await client.post(
        "/v1/chat/completions", json={"model": "m", "messages": []}, headers={"X-Sidecar-Strip": "maybe"}
    )
    assert resp.status == 400
    assert "X-Sidecar-Strip" in (await resp.json())["error"]["message"]


async def test_a_failing_strip_never_fails_the_request(
    aiohttp_client, fake: FakeUpstream, tmp_path, provider_keys, monkeypatch
):
    def broken(body):
        body.set("messages", [])  # half-done work must be undone
        raise RuntimeError("bug")

    monkeypatch.setattr("sidecar.routing.middleware.strip_body", broken)
    client = await aiohttp_client(build_app(write_config(tmp_path, fake.url), installers=[install_routing]))
    messages = [{"role": "user", "content": "Please fix it.   Thanks!"}]
    for headers in ({"X-Sidecar-Mode": "fast", "X-Sidecar-Strip": "on"}, {"X-Sidecar-Strip": "on"}):
        raw = await sdk(client, **headers).chat.completions.with_raw_response.create(
            model="m", messages=messages
        )
        assert raw.parse().choices[0].message.content
        assert "X-Sidecar-Strip-Saved" not in raw.headers
        assert json.loads(fake.received[-1].body)["messages"] == messages
    health = await (await client.get("/sidecar/health")).json()
    assert health["routing"]["transforms_failed"] == {"strip": 2}
