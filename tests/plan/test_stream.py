"""Streaming plan reading: the incremental parser, steps as they close, the fallback, following a file."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sidecar.plan.model import Plan, PlanError, Step, parse_plan
from sidecar.plan.stream import StreamFormatError, StreamParser, follow_file, read_streaming
from tests.plan.test_model import EXAMPLE, plan_doc, step


def test_stream_parser_yields_each_step_when_its_object_closes() -> None:
    doc = plan_doc(
        step(1, description='tricky "}]{" \\ text ✓'), step(2, context={"files": ["a"], "x": [{"y": "]"}]})
    )
    data = json.dumps(doc, ensure_ascii=False).encode()
    end_of_first = data.index(b'"step_2"')
    parser = StreamParser()
    items = parser.feed(data[:end_of_first])
    steps = [i for i in items if i.key == "steps"]
    assert [s.value for s in steps] == [doc["steps"][0]]  # type: ignore[index]
    rest = parser.feed(data[end_of_first:])
    assert [i.value for i in rest if i.key == "steps"] == [doc["steps"][1]]  # type: ignore[index]
    assert parser.done


def test_stream_parser_byte_by_byte_including_split_utf8() -> None:
    doc = plan_doc(step(1, description="héllo ✓ 日本"), step(2))
    doc = {"metadata": {"n": 1.5e3, "ok": True, "none": None}, **doc}
    data = json.dumps(doc, ensure_ascii=False, indent=2).encode()
    parser = StreamParser()
    items = [item for b in data for item in parser.feed(bytes([b]))]
    assert parser.done
    assert {i.key: i.value for i in items if i.key != "steps"} == {
        k: v for k, v in doc.items() if k != "steps"
    }
    assert [i.value for i in items if i.key == "steps"] == doc["steps"]


@pytest.mark.parametrize(
    "data",
    [
        b"[1, 2]",
        b'{"steps": 3}',
        b'{"steps": [1] "x": 2}',
        b'{"a": tru }',
        b'{"a": 1} x',
        b'{"steps": [{"a": 1}}]',
    ],
)
def test_stream_parser_rejects_what_it_cannot_read(data: bytes) -> None:
    parser = StreamParser()
    with pytest.raises(StreamFormatError):
        parser.feed(data)


async def chunks_of(data: bytes, size: int, delay: float = 0.0) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        if delay:
            await asyncio.sleep(delay)
        yield data[i : i + size]


async def collect(source: AsyncIterator[bytes], fallbacks: list[str] | None = None) -> list[Step | Plan]:
    sink = fallbacks.append if fallbacks is not None else None
    return [item async for item in read_streaming(source, on_fallback=sink)]


async def test_read_streaming_yields_steps_then_the_plan() -> None:
    data = EXAMPLE.read_bytes()
    items = await collect(chunks_of(data, 7))
    assert isinstance(items[-1], Plan)
    assert [s.id for s in items[:-1] if isinstance(s, Step)] == [s.id for s in parse_plan(data).steps]


async def test_read_streaming_reports_a_bad_step_at_once() -> None:
    doc = plan_doc(step(1), step(2, complexity=7), step(3))
    with pytest.raises(PlanError, match=r"\$\.steps\[1\]\.complexity"):
        await collect(chunks_of(json.dumps(doc).encode(), 16))


async def test_read_streaming_rejects_unknown_dependencies_and_cycles_at_the_end() -> None:
    doc = plan_doc(
        step(1, dependencies=["step_2"]), step(2, dependencies=["step_1"]), step(3, dependencies=["step_8"])
    )
    with pytest.raises(PlanError) as info:
        await collect(chunks_of(json.dumps(doc).encode(), 64))
    assert any("cycle" in e for e in info.value.errors)
    assert any("unknown step 'step_8'" in e for e in info.value.errors)


async def test_read_streaming_falls_back_to_whole_reading_and_says_so() -> None:
    # A repeated "steps" key cannot be streamed (which one wins?); JSON semantics: the last one.
    data = (
        b'{"task_id": "t", "description": "d", "steps": null, "steps": ['
        + json.dumps(step(1)).encode()
        + b"]}"
    )
    fallbacks: list[str] = []
    items = await collect(chunks_of(data, 5), fallbacks)
    assert fallbacks and "steps" in fallbacks[0]
    assert [s.id for s in items if isinstance(s, Step)] == ["step_1"]
    assert isinstance(items[-1], Plan)


async def test_read_streaming_malformed_plan_falls_back_then_fails() -> None:
    fallbacks: list[str] = []
    with pytest.raises(PlanError, match="invalid JSON"):
        await collect(chunks_of(b'{"task_id": "t", "steps": [{"id": }]}', 4), fallbacks)
    assert fallbacks


async def test_read_streaming_truncated_plan_is_an_error() -> None:
    data = json.dumps(plan_doc(step(1), step(2))).encode()
    fallbacks: list[str] = []
    with pytest.raises(PlanError, match="invalid JSON"):
        await collect(chunks_of(data[:-10], 50), fallbacks)
    assert fallbacks == ["the plan ended before its top-level object closed"]


async def test_follow_file_streams_a_plan_still_being_written(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    data = json.dumps(plan_doc(step(1), step(2), step(3)), indent=2).encode()
    last_write: list[float] = []

    async def writer() -> None:
        with path.open("wb") as fh:
            for i in range(0, len(data), 40):
                fh.write(data[i : i + 40])
                fh.flush()
                last_write.append(time.monotonic())
                await asyncio.sleep(0.03)

    seen: list[tuple[str, float]] = []
    task = asyncio.get_running_loop().create_task(writer())  # noqa: TID251
    async for item in read_streaming(follow_file(path, poll_s=0.005, idle_timeout_s=5)):
        seen.append((item.id if isinstance(item, Step) else "plan", time.monotonic()))
    await task
    assert [s for s, _ in seen] == ["step_1", "step_2", "step_3", "plan"]
    assert seen[0][1] < last_write[-1]  # the first step was known before the last byte was written


async def test_follow_file_gives_up_when_the_file_never_appears(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="plan file not found"):
        async for _ in follow_file(tmp_path / "missing.json", poll_s=0.01, idle_timeout_s=0.05):
            pass
