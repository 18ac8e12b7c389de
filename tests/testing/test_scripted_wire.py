"""The scripted model's wire formats: signatures and sealed reasoning that catch any altered byte, the
prompt cache's longest-prefix rule, and the event sequences of both streamed protocols."""

from __future__ import annotations

import json

import pytest

from sidecar.testing.scripted_wire import (
    PrefixCache,
    Signer,
    ToolCall,
    Turn,
    anthropic_events,
    anthropic_message,
    responses_events,
    responses_items,
    responses_object,
    sse,
)
from sidecar.tokens import estimate_tokens

THINKING = "Step 1 of 3: read the file first."


def parse(events: list[bytes]) -> list[tuple[str, dict]]:
    out = []
    for raw in events:
        head, data = raw.decode().removesuffix("\n\n").split("\n")
        out.append((head.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


def test_a_signature_holds_for_its_text_only():
    signer = Signer(b"k" * 32)
    signature = signer.sign(THINKING)
    assert signer.valid(THINKING, signature)
    assert not signer.valid(THINKING + " ", signature)
    assert not Signer(b"j" * 32).valid(THINKING, signature)  # another provider's key
    assert Signer().key != Signer().key  # random by default


def test_a_sealed_blob_opens_only_intact():
    signer = Signer()
    blob = signer.seal(THINKING)
    assert THINKING not in blob and signer.opened(blob)
    assert not signer.opened(blob[:-4] + "AAA=")
    assert not signer.opened("not base64 at all!")
    assert not Signer().opened(blob)


def test_prefix_cache_reports_the_longest_stored_prefix():
    cache = PrefixCache()
    items = [b"system " * 40, b"user one", b"tool output " * 30]
    sizes = [estimate_tokens(i.decode()) for i in items]
    assert cache.account("t", items, None) == (sum(sizes), 0)  # first time: nothing cached
    longer = [*items, b"user two"]
    total, cached = cache.account("t", longer, None)
    assert (total, cached) == (sum(sizes) + estimate_tokens("user two"), sum(sizes))
    assert cache.account("other scope", items, None)[1] == 0  # another key, another cache
    changed = [items[0], b"user ONE", items[2]]
    assert cache.account("t", changed, None)[1] == sizes[0]  # a changed item ends the match


def test_breakpoints_limit_what_is_stored_and_looked_up():
    cache = PrefixCache()
    items = [b"system " * 40, b"user one", b"tool output " * 30]
    cache.account("t", items, [1])  # Anthropic: stored at the cache_control breakpoint only
    assert cache.account("t", items, [1])[1] == estimate_tokens(items[0].decode())
    assert cache.account("t", items, [])[1] == 0  # no breakpoint: no lookup


def test_prefix_cache_is_bounded():
    cache = PrefixCache(max_entries=3)
    for n in range(10):
        cache.account("t", [f"item {n}".encode(), b"x"], None)
    assert len(cache.seen) == 3


def test_sse_names_the_event_on_its_own_line():
    assert sse({"type": "ping"}, "ping") == b'event: ping\ndata: {"type":"ping"}\n\n'


def test_anthropic_stream_of_a_tool_call_rebuilds_the_message():
    signer = Signer()
    turn = Turn(thinking=THINKING, call=ToolCall(name="Read", arguments={"file_path": "/repo/a.py"}))
    got = parse(anthropic_events(turn, model="claude-x", usage_in=500, cached=300, signer=signer))
    kinds = [kind for kind, _ in got]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert all(data["type"] == kind for kind, data in got)
    start = got[0][1]["message"]
    assert start["usage"]["input_tokens"] == 200 and start["usage"]["cache_read_input_tokens"] == 300
    deltas = [data["delta"] for kind, data in got if kind == "content_block_delta"]
    thinking = "".join(d["thinking"] for d in deltas if d["type"] == "thinking_delta")
    [signature] = [d["signature"] for d in deltas if d["type"] == "signature_delta"]
    arguments = "".join(d["partial_json"] for d in deltas if d["type"] == "input_json_delta")
    assert thinking == THINKING and signer.valid(thinking, signature)
    assert json.loads(arguments) == {"file_path": "/repo/a.py"}
    assert got[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_anthropic_message_of_a_final_answer():
    message = anthropic_message(
        Turn(thinking=THINKING, text="Done."), model="m", usage_in=10, cached=0, signer=Signer()
    )
    assert [b["type"] for b in message["content"]] == ["thinking", "text"]
    assert message["stop_reason"] == "end_turn" and message["content"][1]["text"] == "Done."


CALL = ToolCall(name="exec_command", arguments={"cmd": "ls"})
CUSTOM = ToolCall(name="exec", text_input="const r = 1;")


@pytest.mark.parametrize(
    ("turn", "kind", "deltas"),
    [
        (Turn(thinking=THINKING, call=CALL), "function_call", "response.function_call_arguments.delta"),
        (Turn(thinking=THINKING, call=CUSTOM), "custom_tool_call", "response.custom_tool_call_input.delta"),
        (Turn(thinking=THINKING, text="Done."), "message", "response.output_text.delta"),
    ],
)
def test_responses_stream_items_in_order_with_sequence_numbers(turn: Turn, kind: str, deltas: str):
    signer = Signer()
    items = responses_items(turn, signer, encrypted=True)
    assert [i["type"] for i in items] == ["reasoning", kind]
    assert signer.opened(items[0]["encrypted_content"])
    done = responses_object(turn, items, model="gpt-x", usage_in=100, cached=400, response_id="resp_1")
    assert done["usage"]["input_tokens_details"]["cached_tokens"] == 100  # never more than the input
    got = parse(responses_events(done))
    assert [data["sequence_number"] for _, data in got] == list(range(len(got)))
    completed = {"type": "response.completed", "sequence_number": len(got) - 1, "response": done}
    assert got[0][0] == "response.created" and got[-1] == ("response.completed", completed)
    assert [data["item"] for kind_, data in got if kind_ == "response.output_item.done"] == items
    assert any(kind_ == deltas for kind_, _ in got)


def test_reasoning_is_sealed_only_when_asked():
    items = responses_items(Turn(thinking=THINKING, text="ok"), Signer(), encrypted=False)
    assert "encrypted_content" not in items[0]
