"""The pruning middleware through real servers: the sidecar app, the fake upstream, the real SDKs."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import time
from collections.abc import AsyncIterator, Callable

import anthropic
import msgspec
import openai
import pytest
from aiohttp import web

from sidecar.app import build_app
from sidecar.config import Config, load_config
from sidecar.keys import CONFIG
from sidecar.proxy.identity import caller_identity
from sidecar.pruning.lifecycle import PRUNER, install_pruner
from sidecar.pruning.manager import PruningBackendManager
from sidecar.pruning.middleware import PRUNE_RECORDER, install_pruning
from sidecar.pruning.service import Pruner
from sidecar.pruning.types import LineRange, PruneOutcome, PruneRequest, RequestRecord, Selection
from sidecar.testing.fake_upstream import FakeUpstream

KEY = "sk-test-123"


def module_text(seed: str, n: int = 60) -> str:
    """A Python module of ``n`` functions; only ``parse_retry_{seed}`` concerns the task."""
    out = [f'"""Module {seed}."""', "", "import os", "import re", ""]
    for i in range(n):
        name = f"parse_retry_{seed}" if i == n // 2 else f"helper_{seed}_{i}"
        out += [
            f"def {name}(value, limit={i}):",
            f"    total = compute_{i}(value) + {i}",
            "    if total > limit:",
            f"        return format_output_{i}(total)",
            f"    return sanitize_{i}(value, total)",
            "",
        ]
    return "\n".join(out)


TOOL_A, TOOL_B, TOOL_C = module_text("alpha"), module_text("beta"), module_text("gamma")
TASK = "Fix parse_retry_alpha so that it honours the limit"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in list(os.environ):
        if name.startswith(("KIMI_", "DEEPINFRA_", "SIDECAR_", "OTEL_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray ./config.toml


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    upstream = FakeUpstream()
    await upstream.start()
    yield upstream
    await upstream.stop()


def make_config(fake: FakeUpstream, env: dict[str, str] | None = None, **pruning: object) -> Config:
    config = load_config(env={"SIDECAR_UPSTREAM_URL": fake.url, **(env or {})})
    if pruning:
        config = msgspec.structs.replace(config, pruning=msgspec.structs.replace(config.pruning, **pruning))
    return config


def pruner_installer(factory: Callable[[Config], Pruner]) -> Callable[[web.Application], None]:
    """Install a Pruner built by ``factory`` (the hook for slow, failing or hanging parts)."""

    def install(app: web.Application) -> None:
        async def ctx(app: web.Application) -> AsyncIterator[None]:
            pruner = factory(app[CONFIG])
            await pruner.start()
            app[PRUNER] = pruner
            yield
            await pruner.aclose()

        app.cleanup_ctx.append(ctx)

    return install


@pytest.fixture
def sidecar(aiohttp_client):
    async def make(config: Config, pruner: Callable[[Config], Pruner] | None = None):
        install = install_pruner if pruner is None else pruner_installer(pruner)
        return await aiohttp_client(build_app(config, installers=[install, install_pruning]))

    return make


def openai_messages(n_tools: int = 3) -> list[dict]:
    tools = [TOOL_A, TOOL_B, TOOL_C][:n_tools]
    calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": "read_file", "arguments": "{}"}}
        for i in range(len(tools))
    ]
    return [
        {"role": "system", "content": "You are a careful coding agent."},
        {"role": "user", "content": TASK},
        {"role": "assistant", "content": None, "tool_calls": calls},
        *({"role": "tool", "tool_call_id": f"call_{i}", "content": t} for i, t in enumerate(tools)),
    ]


def chat_body(messages: list[dict], **extra: object) -> bytes:
    return json.dumps({"model": "gpt-test", "messages": messages, **extra}, ensure_ascii=False).encode()


async def post(client, body: bytes, path: str = "/v1/chat/completions", **headers: str):
    resp = await client.post(path, data=body, headers={"Content-Type": "application/json", **headers})
    return resp, await resp.read()


def tool_texts(body: bytes) -> list[str]:
    doc = json.loads(body)
    return [m["content"] for m in doc["messages"] if m.get("role") == "tool"]


# --- the happy paths, with the real SDKs ------------------------------------------------------------


async def test_openai_sdk_prunes_tool_output(fake: FakeUpstream, sidecar) -> None:
    client = await sidecar(make_config(fake))
    sdk = openai.AsyncOpenAI(base_url=str(client.make_url("/v1")), api_key=KEY, max_retries=0)
    raw = await sdk.chat.completions.with_raw_response.create(model="gpt-test", messages=openai_messages())
    completion = raw.parse()
    assert completion.choices[0].message.content
    sent = fake.received[-1].body
    texts = tool_texts(sent)
    assert all(len(t) < len(o) for t, o in zip(texts, (TOOL_A, TOOL_B, TOOL_C), strict=True))
    assert "def parse_retry_alpha(value" in texts[0]
    assert "recover_text prune_id=" in texts[0]
    assert int(raw.headers["X-Sidecar-Tokens-Saved"]) > 0
    assert raw.headers["X-Sidecar-Backend"] == "heuristic"
    assert raw.headers["X-Sidecar-Fallback"] == "false"
    # The upstream billed what it received: fewer tokens than the unpruned conversation.
    direct = openai.AsyncOpenAI(base_url=fake.url + "/v1", api_key=KEY, max_retries=0)
    unpruned = await direct.chat.completions.create(model="gpt-test", messages=openai_messages())
    assert completion.usage.prompt_tokens < unpruned.usage.prompt_tokens * 0.8
    # Everything but the tool texts is as the SDK sent it.
    doc, original = json.loads(sent), json.loads(fake.received[-1].body)
    for m in doc["messages"] + original["messages"]:
        if m.get("role") == "tool":
            m["content"] = ""
    assert doc == original
    await sdk.close()
    await direct.close()


async def test_one_line_json_tool_output_is_pruned_laid_out_and_recoverable(
    fake: FakeUpstream, sidecar
) -> None:
    from sidecar.pruning.engine.layout import spread_json
    from tests.pruning.engine.samples import releases_json

    doc = json.loads(releases_json())
    answer = json.dumps(doc, separators=(",", ":"))  # ``curl -s https://pypi.org/pypi/NAME/json``
    call = {"id": "call_0", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "Which release of example was yanked, and why?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_0", "content": answer},
    ]
    client = await sidecar(make_config(fake))
    resp, _ = await post(client, chat_body(messages), Authorization=f"Bearer {KEY}")
    assert resp.status == 200
    (sent,) = tool_texts(fake.received[-1].body)
    assert len(sent) < len(answer) / 2 and '"yanked_reason":"broken metadata"' in sent
    prune_id = re.search(r"prune_id=(\w+)", sent).group(1)  # type: ignore[union-attr]
    pruner: Pruner = client.server.app[PRUNER]
    caller = caller_identity({"Authorization": f"Bearer {KEY}"})
    lines = len(spread_json(answer).split("\n"))  # type: ignore[union-attr]
    whole = await pruner.recover(prune_id, [LineRange(start_line=1, end_line=lines)], caller=caller)
    assert json.loads(whole.raw_text) == doc  # the laid-out document: the same value


async def test_openai_sdk_streaming(fake: FakeUpstream, sidecar) -> None:
    client = await sidecar(make_config(fake))
    sdk = openai.AsyncOpenAI(base_url=str(client.make_url("/v1")), api_key=KEY, max_retries=0)
    async with sdk.chat.completions.with_streaming_response.create(
        model="gpt-test", messages=openai_messages(), stream=True, stream_options={"include_usage": True}
    ) as response:
        assert int(response.headers["X-Sidecar-Tokens-Saved"]) > 0
        pieces = [c.choices[0].delta.content async for c in await response.parse() if c.choices]
    assert "".join(p for p in pieces if p).startswith("Here is the change")
    assert json.loads(fake.received[-1].body)["stream"] is True
    assert "recover_text" in tool_texts(fake.received[-1].body)[0]
    await sdk.close()


def anthropic_messages() -> list[dict]:
    return [
        {"role": "user", "content": [{"type": "text", "text": TASK}]},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "tu_1", "name": "Read", "input": {"file_path": "alpha.py"}},
                {"type": "tool_use", "id": "tu_2", "name": "Read", "input": {"file_path": "beta.py"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "tu_1", "content": TOOL_A},
                {
                    "type": "tool_result",
                    "tool_use_id": "tu_2",
                    "content": [
                        {"type": "text", "text": TOOL_B},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "QQ=="},
                        },
                    ],
                    "cache_control": {"type": "ephemeral"},
                },
            ],
        },
    ]


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_sdk(fake: FakeUpstream, sidecar, stream: bool) -> None:
    client = await sidecar(make_config(fake))
    sdk = anthropic.AsyncAnthropic(base_url=str(client.make_url("")), api_key=KEY, max_retries=0)
    system = [{"type": "text", "text": "S" * 5000, "cache_control": {"type": "ephemeral"}}]
    tools = [{"name": "Read", "description": "D" * 5000, "input_schema": {"type": "object"}}]
    kwargs = dict(
        model="claude-test", max_tokens=100, system=system, tools=tools, messages=anthropic_messages()
    )
    if stream:
        async with sdk.messages.stream(**kwargs) as s:
            text = "".join([t async for t in s.text_stream])
            final = await s.get_final_message()
        assert text.startswith("Here is the change")
        assert final.usage.input_tokens > 0
    else:
        raw = await sdk.messages.with_raw_response.create(**kwargs)
        assert int(raw.headers["X-Sidecar-Tokens-Saved"]) > 0
        assert (await raw.parse()).content[0].text.startswith("Here is the change")
    doc = json.loads(fake.received[-1].body)
    blocks = doc["messages"][2]["content"]
    assert "recover_text" in blocks[0]["content"] and "def parse_retry_alpha(" in blocks[0]["content"]
    assert "recover_text" in blocks[1]["content"][0]["text"]
    # Never touched: images, cache_control, system, tool definitions.
    assert blocks[1]["content"][1]["source"]["data"] == "QQ=="
    assert blocks[1]["cache_control"] == {"type": "ephemeral"}
    assert doc["system"] == system and doc["tools"] == tools
    await sdk.close()


# --- stable rewrites --------------------------------------------------------------------------------


async def test_prefix_is_byte_identical_on_later_turns(fake: FakeUpstream, sidecar) -> None:
    """Turn 1, then the same conversation with two more turns, the second on a fresh sidecar (empty cache)."""
    msgs = [json.dumps(m, ensure_ascii=False).encode() for m in openai_messages()]
    call = {
        "id": "call_9",
        "type": "function",
        "function": {"name": "bash", "arguments": '{"command": "pytest"}'},
    }
    more = [
        {"role": "assistant", "content": "I will edit it.", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_9", "content": TOOL_C.replace("def ", "FAILED def ")},
        {"role": "user", "content": "Now add a test for it"},
    ]
    extra = [json.dumps(m, ensure_ascii=False).encode() for m in more]

    def body(parts: list[bytes]) -> bytes:
        return b'{"model":"gpt-test","temperature":0.2,"messages":[' + b",".join(parts) + b"]}"

    config = make_config(fake)
    first = await sidecar(config)
    resp, _ = await post(first, body(msgs))
    assert resp.status == 200
    up1 = fake.received[-1].body
    second = await sidecar(config)  # another app, another Pruner: nothing cached
    resp, _ = await post(second, body(msgs + extra))
    assert resp.status == 200
    up2 = fake.received[-1].body
    prefix = up1[: -len(b"]}")]
    assert "recover_text" in tool_texts(up1)[0]
    assert up2.startswith(prefix)
    assert len(tool_texts(up2)[-1]) < len(more[1]["content"])  # the new turn's output is pruned too


async def test_anthropic_prefix_is_byte_identical_on_later_turns(fake: FakeUpstream, sidecar) -> None:
    msgs = [
        json.dumps(m).encode() for m in anthropic_messages()
    ]  # ASCII-escaped, spaced: not msgspec's style
    use = {"type": "tool_use", "id": "tu_9", "name": "Bash", "input": {"command": "pytest"}}
    more = [
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "tu_9", "content": TOOL_C.replace("def ", "FAILED déf ")},
            {"type": "text", "text": "Now add a test for it"},
        ]},
    ]  # fmt: skip
    extra = [json.dumps(m).encode() for m in more]

    def body(parts: list[bytes]) -> bytes:
        return b'{"model": "claude-test", "max_tokens": 100, "messages": [' + b", ".join(parts) + b"]}"

    path = "/v1/messages"
    config = make_config(fake)
    await post(await sidecar(config), body(msgs), path=path)
    up1 = fake.received[-1].body
    await post(await sidecar(config), body(msgs + extra), path=path)
    up2 = fake.received[-1].body
    assert b"recover_text" in up1 and up2.startswith(up1[: -len(b"]}")])
    assert json.loads(up2)["messages"][-1]["content"][0]["content"].count("recover_text") >= 1


async def test_user_text_pruned_only_when_configured(fake: FakeUpstream, sidecar) -> None:
    msgs = [*openai_messages(0), {"role": "user", "content": "Here is the module:\n" + TOOL_A}]
    body = chat_body(msgs)
    await post(await sidecar(make_config(fake)), body)
    assert fake.received[-1].body == body
    await post(await sidecar(make_config(fake, prune_user_text=True)), body)
    sent = json.loads(fake.received[-1].body)["messages"]
    assert "recover_text" in sent[-1]["content"] and sent[1]["content"] == TASK


# --- reporting and opt-outs -------------------------------------------------------------------------


async def test_opt_out_header_and_disabled_config(fake: FakeUpstream, sidecar) -> None:
    body = chat_body(openai_messages())
    client = await sidecar(make_config(fake))
    resp, _ = await post(client, body, **{"X-Sidecar-Prune": "off"})
    assert resp.status == 200 and fake.received[-1].body == body
    assert resp.headers["X-Sidecar-Tokens-Saved"] == "0"
    assert resp.headers["X-Sidecar-Backend"] == "heuristic"
    assert resp.headers["X-Sidecar-Fallback"] == "false"
    assert not any(k.lower().startswith("x-sidecar") for k, _ in fake.received[-1].headers)
    disabled = await sidecar(make_config(fake, enabled=False))
    resp, _ = await post(disabled, body)
    assert resp.status == 200 and fake.received[-1].body == body


async def test_goal_header_is_used_and_stripped(fake: FakeUpstream, sidecar) -> None:
    client = await sidecar(make_config(fake))
    body = chat_body(openai_messages(1))
    await post(client, body)
    by_task = tool_texts(fake.received[-1].body)[0]
    await post(client, body, **{"X-Sidecar-Goal": "helper_alpha_50 helper_alpha_51"})
    by_header = tool_texts(fake.received[-1].body)[0]
    assert "def helper_alpha_50(" in by_header and "def helper_alpha_50(" not in by_task
    assert not any(k.lower().startswith("x-sidecar") for k, _ in fake.received[-1].headers)


async def test_min_chars_from_env_and_other_paths_untouched(fake: FakeUpstream, sidecar) -> None:
    client = await sidecar(make_config(fake, env={"SIDECAR_MIN_CHARS_TO_PRUNE": str(len(TOOL_A) + 1)}))
    body = chat_body(openai_messages())
    resp, _ = await post(client, body)
    assert fake.received[-1].body == body and resp.headers["X-Sidecar-Tokens-Saved"] == "0"
    resp, _ = await post(client, body, path="/v1/embeddings")
    assert fake.received[-1].body == body and "X-Sidecar-Tokens-Saved" not in resp.headers


async def test_health_counts_and_recover_by_caller(fake: FakeUpstream, sidecar) -> None:
    client = await sidecar(make_config(fake))
    await post(client, chat_body(openai_messages()), Authorization=f"Bearer {KEY}")
    await post(client, chat_body(openai_messages(0)))
    health = await (await client.get("/sidecar/health")).json()
    section = health["middleware"]
    assert section["requests_seen"] == 2 and section["requests_pruned"] == 1
    assert section["segments_seen"] == 3 and section["segments_pruned"] == 3
    assert section["requests_skipped"] == {"small_body": 1}  # shorter than min_chars_to_prune as a whole
    assert health["proxy"]["pruned_requests"] == 1
    assert health["proxy"]["tokens_saved_total"] == section["tokens_saved_total"] > 0
    text = tool_texts(fake.received[-2].body)[0]
    prune_id = re.search(r"prune_id=([a-z0-9]+)", text).group(1)
    pruner = client.server.app[PRUNER]
    caller = caller_identity({"x-api-key": KEY})
    assert caller is not None and KEY not in caller
    got = await pruner.recover(prune_id, [LineRange(start_line=1, end_line=3)], caller=caller)
    assert got.raw_text == "\n".join(TOOL_A.split("\n")[:3])
    with pytest.raises(Exception, match="prune_id"):
        await pruner.recover(
            prune_id, [LineRange(start_line=1, end_line=3)], caller=caller_identity({"x-api-key": "other"})
        )


# --- deadline and concurrency -----------------------------------------------------------------------


class SlowBackend:
    """A heuristic-shaped backend that keeps everything but the first line after ``delay`` seconds."""

    name = "heuristic"

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0

    async def prune(self, request: PruneRequest) -> Selection:
        self.calls += 1
        await asyncio.sleep(self.delay)
        keep = [True] * len(request.text.split("\n"))
        keep[1:40] = [False] * 39
        return Selection(keep=keep, backend=self.name)

    async def aclose(self) -> None:
        return None


def with_backend(backend: object) -> Callable[[Config], Pruner]:
    return lambda config: Pruner(config, manager=PruningBackendManager(config, heuristic=backend))  # type: ignore[arg-type]


async def test_segments_pruned_concurrently(fake: FakeUpstream, sidecar) -> None:
    backend = SlowBackend(0.4)
    client = await sidecar(make_config(fake), with_backend(backend))
    started = time.monotonic()
    resp, _ = await post(client, chat_body(openai_messages()))
    assert time.monotonic() - started < 1.1  # three segments of 0.4 s each, in parallel
    assert resp.status == 200 and backend.calls == 3
    assert all("recover_text" in t for t in tool_texts(fake.received[-1].body))


async def test_deadline_forwards_late_segments_unchanged_then_cache_serves(
    fake: FakeUpstream, sidecar
) -> None:
    backend = SlowBackend(0.5)
    client = await sidecar(make_config(fake, deadline_ms=100), with_backend(backend))
    body = chat_body(openai_messages())
    started = time.monotonic()
    resp, answer = await post(client, body)
    assert time.monotonic() - started < 0.45
    assert resp.status == 200 and fake.received[-1].body == body
    assert resp.headers["X-Sidecar-Tokens-Saved"] == "0"
    await asyncio.sleep(0.7)  # the background prunes finish and fill the cache
    resp, _ = await post(client, body)
    assert all("recover_text" in t for t in tool_texts(fake.received[-1].body))
    assert backend.calls == 3
    health = await (await client.get("/sidecar/health")).json()
    assert health["middleware"]["segments_late"] == 3


# --- fail-open: byte-identical upstream, the upstream's answer back ---------------------------------


class RaisingBackend(SlowBackend):
    async def prune(self, request: PruneRequest) -> Selection:
        raise RuntimeError("boom")


class HangingCache:
    async def get(self, key: bytes) -> PruneOutcome | None:
        await asyncio.sleep(3600)
        return None

    async def set(self, key: bytes, outcome: PruneOutcome) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def __len__(self) -> int:
        return 0


class FailingCache(HangingCache):
    async def get(self, key: bytes) -> PruneOutcome | None:
        raise ConnectionError("cache down")

    async def set(self, key: bytes, outcome: PruneOutcome) -> None:
        raise ConnectionError("cache down")


async def direct_answer(fake: FakeUpstream, body: bytes, path: str = "/v1/chat/completions", **headers: str):
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.post(fake.url + path, data=body, headers=headers) as resp:
            return resp.status, await resp.read()


def strip_ids(answer: bytes) -> object:
    try:
        doc = json.loads(answer)
    except ValueError:
        return answer
    if isinstance(doc, dict):
        doc.pop("id", None)
        doc.pop("created", None)
    return doc


async def assert_fail_open(fake: FakeUpstream, client, body: bytes, **headers: str) -> None:
    resp, answer = await post(client, body, **headers)
    assert fake.received[-1].body == body
    status, expected = await direct_answer(fake, body, **{"Content-Type": "application/json", **headers})
    assert resp.status == status
    assert strip_ids(answer) == strip_ids(expected)
    assert resp.headers["X-Sidecar-Tokens-Saved"] == "0"


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "m", "messages": [',
        b"[1, 2, 3, 4, 5, 6, 7, 8]",
        b'"just a string"',
        b'{"model": "m", "messages": "not a list"}',
        b'{"model": "m", "messages": [{"role": "tool", "content": 42}]}',
        b'{"model": "m", "messages": [{"role": ["tool"], "content": "x"}]}',
        json.dumps({"messages": [{"role": "tool", "content": [{"type": "text", "text": 5}]}]}).encode(),
        b'{"model": "m", "messages": [{"role": "tool", "content": "' + b"\xff" * 3000 + b'"}]}',
        chat_body([{"role": "system", "content": 42}, *openai_messages()]),
    ],
    ids=[
        "malformed",
        "array",
        "string",
        "messages-type",
        "content-type",
        "role-type",
        "part-type",
        "not-utf8",
        "bad-message-beside-prunable-ones",
    ],
)
async def test_fail_open_bad_bodies(fake: FakeUpstream, sidecar, body: bytes) -> None:
    client = await sidecar(make_config(fake, min_chars_to_prune=10))
    await assert_fail_open(fake, client, body)
    health = await (await client.get("/sidecar/health")).json()
    assert sum(health["middleware"]["requests_failed_open"].values()) == 1


async def test_fail_open_compressed_body(fake: FakeUpstream, sidecar) -> None:
    client = await sidecar(make_config(fake))
    plain = chat_body(openai_messages())
    resp, _ = await post(client, gzip.compress(plain), **{"Content-Encoding": "gzip"})
    # The fake inflates what it receives: the gzip bytes went as they were (a pruned, uncompressed
    # body under Content-Encoding: gzip would not inflate at all).
    assert resp.status == 200 and fake.received[-1].body == plain
    assert dict(fake.received[-1].headers)["Content-Encoding"] == "gzip"
    assert resp.headers["X-Sidecar-Tokens-Saved"] == "0"


@pytest.mark.parametrize(
    "factory",
    [
        with_backend(RaisingBackend(0)),
        with_backend(SlowBackend(30)),
        lambda config: Pruner(config, cache=HangingCache()),
    ],
    ids=["backend-raises", "backend-hangs", "cache-hangs"],
)
async def test_fail_open_pruner_failures(fake: FakeUpstream, sidecar, factory) -> None:
    client = await sidecar(make_config(fake, deadline_ms=200), factory)
    body = chat_body(openai_messages())
    started = time.monotonic()
    await assert_fail_open(fake, client, body)
    assert time.monotonic() - started < 2
    for task in asyncio.all_tasks():  # let hanging background prunes go before the loop closes
        if task.get_name() in ("sidecar-prune-worker", "sidecar-singleflight"):
            task.cancel()


async def test_failing_cache_still_prunes_the_same_way(fake: FakeUpstream, sidecar) -> None:
    body = chat_body(openai_messages())
    healthy = await sidecar(make_config(fake))
    await post(healthy, body)
    expected = fake.received[-1].body
    broken = await sidecar(make_config(fake), lambda config: Pruner(config, cache=FailingCache()))
    resp, _ = await post(broken, body)
    assert resp.status == 200 and fake.received[-1].body == expected != body


async def test_body_near_and_over_the_size_limit(fake: FakeUpstream, sidecar) -> None:
    body = chat_body(openai_messages())
    config = make_config(fake)
    config = msgspec.structs.replace(
        config, server=msgspec.structs.replace(config.server, max_body_bytes=len(body))
    )
    client = await sidecar(config)
    resp, _ = await post(client, body)
    assert resp.status == 200 and "recover_text" in tool_texts(fake.received[-1].body)[0]
    count = len(fake.received)
    over = chat_body(openai_messages(), pad="x" * 10)
    resp, answer = await post(client, over)
    assert resp.status == 413 and json.loads(answer)["error"]["code"] == "request_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(over), 4096):
            yield over[i : i + 4096]

    resp = await client.post(
        "/v1/chat/completions", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413
    assert len(fake.received) == count  # nothing over the limit went upstream, not even truncated


async def test_deepinfra_unreachable_falls_back(fake: FakeUpstream, sidecar, monkeypatch) -> None:
    monkeypatch.setenv("DEEPINFRA_API_KEY", "x")
    env = {"KIMI_PRUNING_BACKEND": "deepinfra", "DEEPINFRA_ENDPOINT_URL": "http://127.0.0.1:9/"}
    client = await sidecar(make_config(fake, env=env))
    sdk = openai.AsyncOpenAI(base_url=str(client.make_url("/v1")), api_key=KEY, max_retries=0)
    for n in range(5):  # through the circuit breaker opening too
        msgs = openai_messages()
        msgs[1]["content"] += f" (turn {n})"
        raw = await sdk.chat.completions.with_raw_response.create(model="gpt-test", messages=msgs)
        assert raw.parse().choices[0].message.content
        assert raw.headers["X-Sidecar-Fallback"] == "true"
        assert raw.headers["X-Sidecar-Backend"] == "heuristic"
        assert int(raw.headers["X-Sidecar-Tokens-Saved"]) > 0
    await sdk.close()


async def test_fail_open_on_a_bug_in_the_middleware(fake: FakeUpstream, sidecar, monkeypatch) -> None:
    import sidecar.pruning.middleware as mw

    def broken(*args: object, **kwargs: object) -> bytes:
        raise KeyError("bug")

    monkeypatch.setattr(mw, "rewrite", broken)
    client = await sidecar(make_config(fake))
    await assert_fail_open(fake, client, chat_body(openai_messages()))
    health = await (await client.get("/sidecar/health")).json()
    assert health["middleware"]["requests_failed_open"] == {"KeyError": 1}


# --- the recorder hook (the dashboard) ------------------------------------------------------------------


def recorder_installer(recorder) -> Callable[[web.Application], None]:
    def install(app: web.Application) -> None:
        app[PRUNE_RECORDER] = recorder

    return install


async def test_recorder_gets_one_record_per_request(fake: FakeUpstream, aiohttp_client) -> None:
    records: list[RequestRecord] = []
    app = build_app(
        make_config(fake), installers=[install_pruner, install_pruning, recorder_installer(records.append)]
    )
    client = await aiohttp_client(app)
    body = chat_body(openai_messages())
    resp, _ = await post(client, body, **{"User-Agent": "OpenAI/Python 1.99.1", "X-Title": "Cline"})
    assert len(records) == 1
    rec = records[0]
    assert (rec.path, rec.model, rec.user_agent, rec.title) == (
        "/v1/chat/completions",
        "gpt-test",
        "OpenAI/Python 1.99.1",
        "Cline",
    )
    assert [s.status for s in rec.segments] == ["pruned"] * 3
    assert sum(s.tokens_saved for s in rec.segments) == int(resp.headers["X-Sidecar-Tokens-Saved"])
    assert all(
        s.tool_name == "read_file" and s.cut and s.tokens_after < s.tokens_before for s in rec.segments
    )
    assert [s.text for s in rec.segments] == [TOOL_A, TOOL_B, TOOL_C]
    # A request too small to prune is not recorded; an opted-out one neither.
    await post(client, chat_body([{"role": "user", "content": "hi"}]))
    await post(client, body, **{"X-Sidecar-Prune": "off"})
    assert len(records) == 1


async def test_a_failing_recorder_changes_nothing(fake: FakeUpstream, aiohttp_client, caplog) -> None:
    def broken(record: RequestRecord) -> None:
        raise RuntimeError("dashboard bug")

    body = chat_body(openai_messages())
    plain = await aiohttp_client(build_app(make_config(fake), installers=[install_pruner, install_pruning]))
    resp_plain, answer_plain = await post(plain, body)
    sent_plain = fake.received[-1].body
    client = await aiohttp_client(
        build_app(make_config(fake), installers=[install_pruner, install_pruning, recorder_installer(broken)])
    )
    resp, answer = await post(client, body)
    assert resp.status == resp_plain.status == 200
    assert fake.received[-1].body == sent_plain  # the same pruned bytes upstream
    assert resp.headers["X-Sidecar-Tokens-Saved"] == resp_plain.headers["X-Sidecar-Tokens-Saved"]
    assert json.loads(answer)["choices"] == json.loads(answer_plain)["choices"]
    assert any("prune recorder failed: RuntimeError" in r.getMessage() for r in caplog.records)
    assert "dashboard bug" not in caplog.text
