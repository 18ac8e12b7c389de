"""The recorder: agent names reduced, labels capped, per-minute buckets, totals, no text by default."""

from __future__ import annotations

import pytest

from sidecar.config import DashboardConfig, PricingConfig
from sidecar.dashboard.pricing import PriceTable
from sidecar.dashboard.recorder import MAX_LABEL_VALUES, MAX_SERIES, SavingsRecorder, agent_name, clean_label
from sidecar.pruning.types import RequestRecord, SegmentRecord


@pytest.mark.parametrize(
    ("ua", "title", "name"),
    [
        ("claude-cli/2.1.4 (external, cli)", "", "claude-cli/2.1.4"),
        ("OpenAI/Python 1.99.1", "", "OpenAI/Python"),
        ("Python/3.11 aiohttp/3.14.5", "", "aiohttp/3.14.5"),
        ("codex_cli_rs/0.30.0 (Mac OS 15.6.1; arm64) iTerm.app/3.5.14", "", "codex_cli_rs/0.30.0"),
        ("me@corp.example/1.0", "", "other"),
        ("", "", "unknown"),
        ("OpenAI/JS 4.104.0", "Cline", "Cline"),
        ("x", "<script>alert(1)</script>", "scriptalert1/script"),
    ],
)
def test_agent_name(ua: str, title: str, name: str) -> None:
    assert agent_name(ua, title) == name


def test_clean_label() -> None:
    assert clean_label("read_file") == "read_file"
    assert clean_label("mcp__github__search") == "mcp__github__search"
    assert clean_label("a" * 200) == "a" * 64
    assert clean_label("user@host") == "other"
    assert clean_label("\n\t") == "other"


def segment(
    status: str = "pruned", saved: int = 100, cache_hit: bool = False, tool: str | None = "read_file"
) -> SegmentRecord:
    return SegmentRecord(
        tool_name=tool, kind="tool_output", source_type="code", status=status,  # type: ignore[arg-type]
        tokens_before=1000, tokens_after=1000 - saved, tokens_saved=saved, backend="heuristic",
        used_fallback=False, cache_hit=cache_hit, latency_ms=1.5, original_lines=200, cut=[(10, 150)],
        text="the original tool output", pruned_text="the pruned output",
    )  # fmt: skip


def request(*segments: SegmentRecord, model: str = "gpt-5", ua: str = "claude-cli/2.1.4") -> RequestRecord:
    return RequestRecord(
        path="/v1/chat/completions",
        model=model,
        user_agent=ua,
        title="",
        added_ms=12.0,
        segments=list(segments),
    )


def recorder(**dashboard: object) -> SavingsRecorder:
    return SavingsRecorder(DashboardConfig(**dashboard), PriceTable(PricingConfig()))  # type: ignore[arg-type]


def test_totals_count_only_rewritten_segments() -> None:
    rec = recorder()
    rec.record(request(segment(), segment("unchanged", saved=0), segment("late", saved=0)))
    rec.record(request(segment(cache_hit=True)))
    h = rec.health()
    assert (h.requests, h.segments, h.segments_pruned) == (2, 3, 2)
    assert h.tokens_saved == 200 and h.tokens_saved_on_repeats == 100 and h.tokens_before == 3000
    assert h.usd_saved_raw == pytest.approx(200 * 1.25 / 1e6)
    assert h.usd_saved_cache_aware == pytest.approx(100 * 1.25 / 1e6 + 100 * 0.125 / 1e6)
    assert sum(b.tokens_saved for b in rec.buckets) == 200
    assert [r.status for r in rec.recent] == ["pruned", "unchanged", "late", "pruned"]
    assert all(r.text is None and r.pruned_text is None for r in rec.recent)
    assert rec.added.metric(0) is not None


def test_unpriced_model_tokens_are_counted_apart() -> None:
    rec = recorder()
    rec.record(request(segment(), model="my-local-llama"))
    h = rec.health()
    assert h.tokens_saved_unpriced == 100 and h.usd_saved_raw == 0.0
    assert rec.recent[-1].usd_raw is None


def test_labels_are_capped() -> None:
    rec = recorder()
    for i in range(MAX_LABEL_VALUES + 20):
        rec.record(request(segment(tool=f"tool_{i}")))
    tools = {row.name for row in rec.breakdown("tool")}
    assert len(tools) == MAX_LABEL_VALUES + 1 and "other" in tools
    assert sum(row.tokens_saved for row in rec.breakdown("tool")) == rec.health().tokens_saved


def test_history_and_recent_are_bounded() -> None:
    rec = recorder(recent_segments=3, history_minutes=2)
    for minute in range(5):
        rec._bucket(60.0 * minute)
    assert len(rec.buckets) == 2
    for _ in range(10):
        rec.record(request(segment()))
    assert len(rec.recent) == 3


def test_show_text_keeps_truncated_text() -> None:
    rec = recorder(show_text=True, max_text_chars=5)
    rec.record(request(segment()))
    last = rec.recent[-1]
    assert last.text == "the o" and last.pruned_text == "the p" and last.text_truncated


def test_label_combinations_are_capped() -> None:
    rec = recorder()
    for i in range(MAX_SERIES + 200):
        tool, model = f"tool_{i % MAX_LABEL_VALUES}", f"model-{i // MAX_LABEL_VALUES}"
        rec.record(request(segment(tool=tool), model=model))
    assert len(rec.series) == MAX_SERIES + 1
    assert rec.series[("other",) * 6].segments_pruned == 200
    assert sum(s.tokens_saved for s in rec.series.values()) == rec.health().tokens_saved
