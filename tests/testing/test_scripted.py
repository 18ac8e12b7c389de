"""The scripted fake model, through the real ``anthropic`` and ``openai`` SDKs, as the agents use it."""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import anthropic
import openai
import pytest

from sidecar.testing.scripted import SIDE_REPLY, ScriptedUpstream
from sidecar.testing.scripted_steps import load_script

KEY = "sk-test"
STEPS = [
    {"read": "/repo/app.py"},
    {"grep": "retry", "path": "src"},
    {"run": "make test"},
    {"answer": "Done."},
]
SCRIPT = {
    "scenarios": [{"match": "[task-1]", "steps": STEPS}, {"match": "[task-2]", "steps": [{"answer": "B"}]}]
}
CLAUDE_TOOLS = [
    {"name": "Read", "description": "Read a file", "input_schema": {"type": "object"}},
    {"name": "Bash", "description": "Run a command", "input_schema": {"type": "object"}},
]
EXEC_COMMAND = {"type": "function", "name": "exec_command", "parameters": {"type": "object"}}
CODE_MODE = {"type": "namespace", "name": "functions", "tools": [{"type": "custom", "name": "exec"}]}


@pytest.fixture
async def fake(tmp_path: Path) -> AsyncIterator[ScriptedUpstream]:
    upstream = ScriptedUpstream(load_script(_write(tmp_path / "s.json", SCRIPT)), record_dir=tmp_path / "rec")
    await upstream.start()
    yield upstream
    await upstream.stop()


def _write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc))
    return path


async def test_claude_style_turns_with_signed_thinking_and_prompt_cache(fake: ScriptedUpstream) -> None:
    client = anthropic.AsyncAnthropic(base_url=fake.url, api_key=KEY, max_retries=0)
    system = [{"type": "text", "text": "S" * 4000, "cache_control": {"type": "ephemeral"}}]
    messages: list[dict] = [{"role": "user", "content": [{"type": "text", "text": "[task-1] fix it"}]}]
    calls = []
    for turn in range(4):
        async with client.messages.stream(
            model="claude-x", max_tokens=100, system=system, tools=CLAUDE_TOOLS, messages=messages
        ) as stream:
            final = await stream.get_final_message()
        thinking, action = final.content
        assert (
            thinking.type == "thinking"
            and thinking.signature
            and f"Step {turn + 1} of 4" in thinking.thinking
        )
        if turn == 3:
            assert action.type == "text" and action.text == "Done." and final.stop_reason == "end_turn"
            break
        assert action.type == "tool_use" and final.stop_reason == "tool_use"
        calls.append((action.name, action.input))
        if turn:
            assert final.usage.cache_read_input_tokens > 1000  # the system prompt, cached at its breakpoint
        messages.append(
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in final.content]}
        )
        result = {"type": "tool_result", "tool_use_id": action.id, "content": "output " * 500}
        messages.append({"role": "user", "content": [result]})
    assert calls == [
        ("Read", {"file_path": "/repo/app.py"}),
        ("Bash", {"command": "grep -rn -- retry src", "description": "Search the code"}),
        ("Bash", {"command": "make test", "description": "Run the command"}),
    ]
    # A thinking block altered on the way back is refused, as the provider refuses it.
    messages[1]["content"][0]["thinking"] += " (edited)"
    with pytest.raises(anthropic.BadRequestError, match="signature"):
        await client.messages.create(model="claude-x", max_tokens=100, tools=CLAUDE_TOOLS, messages=messages)
    assert fake.refused == 1
    # count_tokens, and the non-streamed form with Claude Code's ?beta=true query.
    count = await client.messages.count_tokens(model="claude-x", messages=messages[:1], system=system)
    assert count.input_tokens > 1000
    await client.close()
    body = {"model": "claude-x", "max_tokens": 10, "messages": messages[:1], "tools": CLAUDE_TOOLS}
    async with aiohttp.ClientSession() as http:
        async with http.post(fake.url + "/v1/messages?beta=true", json=body) as resp:
            assert resp.status == 200 and (await resp.json())["content"][1]["type"] == "tool_use"
    assert fake.received[-1].path_qs == "/v1/messages?beta=true"


@pytest.mark.parametrize("style", ["exec_command", "code_mode"])
async def test_codex_style_turns_with_sealed_reasoning(fake: ScriptedUpstream, style: str) -> None:
    client = openai.AsyncOpenAI(base_url=fake.url + "/v1", api_key=KEY, max_retries=0)
    items: list[dict] = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "[task-1] x"}]}
    ]
    tools = [EXEC_COMMAND] if style == "exec_command" else []
    if style == "code_mode":  # Codex's "responses lite": the tools come as an input item
        items.insert(0, {"type": "additional_tools", "role": "developer", "tools": [CODE_MODE]})
    seen = []
    for turn in range(4):
        events = []
        stream = await client.responses.create(
            model="gpt-x", input=items, tools=tools, stream=True, include=["reasoning.encrypted_content"],
            prompt_cache_key="thread-1", store=False,
        )  # fmt: skip
        async for event in stream:
            events.append(event.type)
        done = [e for e in events if e == "response.output_item.done"]
        assert events[0] == "response.created" and events[-1] == "response.completed" and len(done) == 2
        response = event.response
        reasoning, item = response.output
        assert reasoning.type == "reasoning" and reasoning.encrypted_content
        if turn == 3:
            assert item.type == "message" and response.output_text == "Done."
            break
        if turn:
            assert response.usage.input_tokens_details.cached_tokens > 0
        seen.append(item.arguments if item.type == "function_call" else item.input)
        items += [reasoning.model_dump(exclude_none=True), item.model_dump(exclude_none=True)]
        kind = "function_call_output" if item.type == "function_call" else "custom_tool_call_output"
        items.append({"type": kind, "call_id": item.call_id, "output": "out " * 100})
    if style == "exec_command":
        assert [json.loads(a)["cmd"] for a in seen] == [
            "cat /repo/app.py",
            "grep -rn -- retry src",
            "make test",
        ]
    else:
        assert all(s.startswith("const r = await tools.exec_command(") for s in seen)
        assert '"cmd":"make test"' in seen[2]
    items[-3]["encrypted_content"] = items[-3]["encrypted_content"][:-4] + "AAA="
    with pytest.raises(openai.BadRequestError, match="encrypted content"):
        await client.responses.create(model="gpt-x", input=items, tools=tools)
    await client.close()


async def test_previous_response_id_chains_and_side_requests(fake: ScriptedUpstream) -> None:
    client = openai.AsyncOpenAI(base_url=fake.url + "/v1", api_key=KEY, max_retries=0)
    first = await client.responses.create(model="gpt-x", input="[task-1] go", tools=[EXEC_COMMAND])
    call = first.output[1]
    assert call.type == "function_call" and json.loads(call.arguments)["cmd"] == "cat /repo/app.py"
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "file text"}
    second = await client.responses.create(
        model="gpt-x", previous_response_id=first.id, input=[output], tools=[EXEC_COMMAND]
    )
    assert json.loads(second.output[1].arguments)["cmd"].startswith("grep -rn")  # step 2: the chain counted
    with pytest.raises(openai.BadRequestError, match="not found"):
        await client.responses.create(model="gpt-x", previous_response_id="resp_nope", input=[output])
    # No scenario, or none of the script's tools: a short text (a title or summary request).
    other = await client.responses.create(model="gpt-x", input="summarize", tools=[EXEC_COMMAND])
    assert other.output_text == SIDE_REPLY
    bare = await client.responses.create(model="gpt-x", input="[task-1] go")
    assert bare.output_text == SIDE_REPLY
    assert (await client.responses.create(model="gpt-x", input="[task-2] go")).output_text == "B"
    await client.close()


async def test_probe_record_dir_and_unknown_paths(fake: ScriptedUpstream, tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.head(fake.url + "/") as resp:
            assert resp.status == 200  # Claude Code's reachability probe
        async with http.post(fake.url + "/v1/embeddings", json={}) as resp:
            assert resp.status == 404
        async with http.post(fake.url + "/v1/responses", data=b"{not json") as resp:
            assert resp.status == 400
    index = [json.loads(line) for line in (tmp_path / "rec" / "index.jsonl").read_text().splitlines()]
    assert [r["path_qs"] for r in index] == ["/v1/responses"]
    assert (tmp_path / "rec" / "00000.body").read_bytes() == b"{not json"


@pytest.mark.parametrize(
    "doc",
    [
        {"scenarios": [{"steps": [{"read": "a", "run": "b"}]}]},
        {"scenarios": [{"steps": [{}]}]},
        {"scenarios": [{"steps": [{"answer": "x", "extra": 1}]}]},
        {"scenes": []},
    ],
)
def test_bad_scripts_are_refused(tmp_path: Path, doc: object, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "bad.json", doc)
    with pytest.raises(ValueError, match="bad.json"):
        load_script(path)
    from sidecar.testing import scripted

    args = argparse.Namespace(script=str(path), record=None, host="127.0.0.1", port=0)
    assert scripted.run(args) == 2
    assert "bad.json" in capsys.readouterr().err
