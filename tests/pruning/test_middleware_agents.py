"""The pruning middleware on what real agents send: Claude Code's messages and count_tokens, Codex's
Responses.

The bodies are the agents' own (tests/fixtures/agents, recorded by bench/agents.py), sent through the real
sidecar app to the fake upstream: tool outputs are pruned, every other byte arrives as the agent wrote it,
and a tool output is rewritten the same way on the next turn.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import msgspec
import openai
import pytest

from sidecar.app import build_app
from sidecar.config import load_config
from sidecar.pruning.lifecycle import install_pruner
from sidecar.pruning.middleware import install_pruning
from sidecar.testing.fake_upstream import FakeUpstream
from sidecar.testing.scripted import ScriptedUpstream
from sidecar.testing.scripted_steps import load_script
from tests import agent_fixtures as fx

AGENTS = [fx.CLAUDE, fx.CODEX_EXEC, fx.CODEX_CODE]


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    upstream = FakeUpstream()
    await upstream.start()
    yield upstream
    await upstream.stop()


@pytest.fixture
def sidecar(aiohttp_client):
    async def make(url: str, **env: str):
        config = load_config(env={"SIDECAR_UPSTREAM_URL": url, **env})
        return await aiohttp_client(build_app(config, installers=[install_pruner, install_pruning]))

    return make


async def send(client, path: str, body: bytes, **headers: str):
    resp = await client.post(path, data=body, headers={"Content-Type": "application/json", **headers})
    await resp.read()
    return resp


def outputs(body: bytes) -> dict[str, str]:
    """Each tool output's whole text by call id (parts joined)."""
    out: dict[str, str] = {}
    for ref, _, text in fx.tool_outputs(json.loads(body)):
        out[ref] = out.get(ref, "") + text
    return out


def assert_only_tool_outputs_changed(sent: bytes, received: bytes) -> int:
    """Put each original tool-output string back into what the upstream got: the agent's bytes again."""
    changed = 0
    restored = received
    old = {tuple(p): t for _, p, t in fx.tool_outputs(json.loads(sent))}
    for _, path, new in fx.tool_outputs(json.loads(received)):
        if new != old[tuple(path)]:
            original = msgspec.json.encode(old[tuple(path)])
            assert original in sent  # the agent encodes strings as msgspec does: the check is exact
            restored = restored.replace(msgspec.json.encode(new), original, 1)
            changed += 1
    assert restored == sent
    return changed


@pytest.mark.parametrize("agent", AGENTS)
@pytest.mark.parametrize("turn", ["turn-3", "turn-4"])
async def test_real_bodies_are_pruned_in_tool_outputs_only(
    fake: FakeUpstream, sidecar, agent: str, turn: str
):
    client = await sidecar(fake.url)
    body = fx.body(agent, turn)
    resp = await send(client, fx.PATHS[agent], body)
    assert resp.status == 200 and int(resp.headers["X-Sidecar-Tokens-Saved"]) > 0
    received = fake.received[-1]
    assert received.path_qs == fx.PATHS[agent]
    assert assert_only_tool_outputs_changed(body, received.body) >= (1 if turn == "turn-3" else 2)
    before, after = outputs(body), outputs(received.body)
    read = list(after)[0]
    assert len(after[read]) < 0.75 * len(before[read]) and "recover_text prune_id=" in after[read]
    assert all(len(after[ref]) <= len(before[ref]) for ref in before)
    if agent == fx.CODEX_EXEC:  # Codex's status block is kept as it was
        for ref, text in before.items():
            header = text[: text.index("Output:\n") + len("Output:\n")]
            assert header.startswith("Chunk ID: ") and after[ref].startswith(header)
    if agent == fx.CLAUDE:  # the read keeps Claude Code's line numbers, in order, on every kept line
        lines = after[read].split("\n")
        numbers = [int(m.group(1)) for line in lines if (m := re.match(r"(\d+)\t", line))]
        markers = [
            line
            for line in lines
            if re.fullmatch(r"\.\.\. \[.* pruned(; recover_text prune_id=\w+)?\]", line)
        ]
        assert numbers == sorted(numbers) and numbers[0] == 1 and len(numbers) + len(markers) == len(lines)
    doc = json.loads(received.body)
    if agent == fx.CLAUDE:  # what Claude Code sends beside the tool results (untouched, checked above)
        assert doc["thinking"] == {"type": "adaptive"}
        assert "context_management" in doc and "output_config" in doc
        assert any(b.get("cache_control") for b in doc["system"])
        assert any(m["role"] == "system" for m in doc["messages"])  # a system message inside messages
        thinking = [b for m in doc["messages"] if m["role"] == "assistant" for b in m["content"]]
        assert all(b["signature"] for b in thinking if b["type"] == "thinking")
    else:  # never touched: reasoning with its encrypted_content, the additional_tools item
        original = json.loads(body)
        tool_out = ("function_call_output", "custom_tool_call_output")
        kinds = lambda d: [i for i in d["input"] if i.get("type") not in tool_out]  # noqa: E731
        assert kinds(doc) == kinds(original) and any(i.get("encrypted_content") for i in kinds(doc))
        if agent == fx.CODEX_CODE:
            assert doc["input"][0]["type"] == "additional_tools"


@pytest.mark.parametrize("agent", AGENTS)
async def test_earlier_outputs_are_byte_identical_on_the_next_turn(fake: FakeUpstream, sidecar, agent: str):
    """Turn 3 through one sidecar, turn 4 through another (nothing cached): the same rewrite."""
    await send(await sidecar(fake.url), fx.PATHS[agent], fx.body(agent, "turn-3"))
    third = outputs(fake.received[-1].body)
    await send(await sidecar(fake.url), fx.PATHS[agent], fx.body(agent, "turn-4"))
    fourth = outputs(fake.received[-1].body)
    assert set(third) < set(fourth)
    assert all(fourth[ref] == text for ref, text in third.items())
    assert any("recover_text" in text for text in third.values())


async def test_count_tokens_gets_the_messages_rewrite(fake: FakeUpstream, sidecar):
    client = await sidecar(fake.url)
    # What Claude Code really sends: the file alone, as the only user message. That is the task, which
    # is never pruned (in /v1/messages either): the count is the file's, as Claude Code's Read limit needs.
    probe = fx.body(fx.CLAUDE, "count-tokens-0", task="task-08")
    assert len(probe) > 40_000 and set(json.loads(probe)) == {"model", "messages", "tools"}
    resp = await send(client, "/v1/messages/count_tokens?beta=true", probe)
    assert resp.status == 200 and fake.received[-1].body == probe
    assert resp.headers["X-Sidecar-Tokens-Saved"] == "0"
    # A whole conversation counted (an SDK's messages.count_tokens): byte for byte the messages rewrite.
    conversation = fx.body(fx.CLAUDE, "turn-4", task="task-08")
    await send(client, "/v1/messages?beta=true", conversation)
    as_messages = fake.received[-1].body
    resp = await send(await sidecar(fake.url), "/v1/messages/count_tokens?beta=true", conversation)
    assert fake.received[-1].path_qs == "/v1/messages/count_tokens?beta=true"
    assert fake.received[-1].body == as_messages != conversation
    assert int(resp.headers["X-Sidecar-Tokens-Saved"]) > 0


CODE = "\n".join(f"def handler_{i}(request):\n    return respond(request, {i})" for i in range(150))


async def test_openai_sdk_responses_streaming_through_the_sidecar(sidecar, tmp_path):
    script = tmp_path / "s.json"
    script.write_text(json.dumps({"scenarios": [{"steps": [{"run": "make"}, {"answer": "Fixed."}]}]}))
    upstream = ScriptedUpstream(load_script(script))
    await upstream.start()
    try:
        client = await sidecar(upstream.url)
        sdk = openai.AsyncOpenAI(base_url=str(client.make_url("/v1")), api_key="sk-test", max_retries=0)
        items = [
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Fix handler_70"}],
            },
            {
                "type": "function_call",
                "call_id": "c1",
                "name": "exec_command",
                "arguments": '{"cmd": "cat a.py"}',
            },
            {"type": "function_call_output", "call_id": "c1", "output": CODE},
        ]
        tools = [{"type": "function", "name": "exec_command", "parameters": {"type": "object"}}]
        async with sdk.responses.with_streaming_response.create(
            model="gpt-x", input=items, tools=tools, stream=True
        ) as response:
            assert int(response.headers["X-Sidecar-Tokens-Saved"]) > 0
            events = [e async for e in await response.parse()]
        assert [e.type for e in events][:2] == ["response.created", "response.in_progress"]
        assert events[-1].type == "response.completed" and events[-1].response.output_text == "Fixed."
        sent = json.loads(upstream.received[-1].body)["input"][2]["output"]
        assert "def handler_70(request):" in sent and "recover_text" in sent and len(sent) < len(CODE) / 2
        plain = await sdk.responses.create(model="gpt-x", input=items, tools=tools)  # not streamed
        assert plain.output_text == "Fixed." and plain.usage.input_tokens > 0
        await sdk.close()
    finally:
        await upstream.stop()


def responses_body(**extra: object) -> bytes:
    items = [
        {"type": "message", "role": "user", "content": "Fix handler_7"},
        {"type": "function_call_output", "call_id": "c1", "output": CODE},
    ]
    return json.dumps({"model": "m", "input": items, **extra}).encode()


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "m", "input": 42, "pad": "' + b"x" * 3000 + b'"}',
        json.dumps({"input": ["not an item", {"type": "function_call_output", "output": CODE}]}).encode(),
        json.dumps(
            {
                "input": [
                    {"type": "function_call_output", "output": [{"type": "input_text", "text": 1}]},
                    {"type": "function_call_output", "output": CODE},
                ]
            }
        ).encode(),  # fmt: skip
        b'{"model": "m", "input": [' + b" " * 3000,
    ],
    ids=["input-type", "item-type", "part-text-type", "truncated"],
)
async def test_responses_fail_open(fake: FakeUpstream, sidecar, body: bytes):
    client = await sidecar(fake.url)
    resp = await send(client, "/v1/responses", body)
    assert resp.status == 200 and fake.received[-1].body == body
    assert resp.headers["X-Sidecar-Tokens-Saved"] == "0"
    health = await (await client.get("/sidecar/health")).json()
    assert health["middleware"]["requests_failed_open"] == {"not_a_chat_body": 1}


async def test_responses_opt_out_and_a_bug_fail_open(fake: FakeUpstream, sidecar, monkeypatch):
    client = await sidecar(fake.url)
    body = responses_body()
    await send(client, "/v1/responses", body, **{"X-Sidecar-Prune": "off"})
    assert fake.received[-1].body == body
    await send(client, "/v1/responses", body)
    assert "recover_text" in json.loads(fake.received[-1].body)["input"][1]["output"]
    import sidecar.pruning.middleware as mw

    def broken(*args: object, **kwargs: object) -> object:
        raise KeyError("bug")

    monkeypatch.setattr(mw, "parse_responses", broken)
    resp = await send(client, "/v1/responses", responses_body(temperature=0.5))
    assert fake.received[-1].body == responses_body(temperature=0.5) and resp.status == 200
    health = await (await client.get("/sidecar/health")).json()
    assert health["middleware"]["requests_failed_open"] == {"KeyError": 1}
