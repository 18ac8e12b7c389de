"""The Pruner facade: end-to-end stats, DeepInfra success and faults, cache, prune ids, recover, health."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgspec
import pytest

from sidecar.config import Config, DeepInfraConfig, PruningConfig
from sidecar.errors import InvalidRange, PruneIdNotFound
from sidecar.pruning.service import Pruner, pruned_source
from sidecar.pruning.types import LineRange, PruneOptions
from sidecar.tasks import spawn
from sidecar.testing.fake_deepinfra import FakeDeepInfra
from sidecar.tokens import estimate_tokens

KEY_ENV = {"DEEPINFRA_API_KEY": "test-key"}
GOAL = "fix the upload retry backoff when the server answers 503"


def code_text(n: int = 40) -> str:
    blocks = [
        f"def handler_{i}(request):\n    value = compute_{i}(request)\n"
        f"    log.debug('handled {i}')\n    return value"
        for i in range(n)
    ]
    blocks.insert(
        n // 2,
        "def upload_with_retry(session, payload):\n"
        "    for attempt in range(5):\n"
        "        response = session.post(payload)\n"
        "        if response.status == 503:\n"
        "            backoff = 2 ** attempt  # retry backoff\n"
        "            time.sleep(backoff)\n"
        "            continue\n"
        "        return response",
    )
    return "\n\n".join(blocks) + "\n"


TEXT = code_text()
OPTS = PruneOptions(keep_ratio=0.3)


def di_config(url: str, **deepinfra: Any) -> Config:
    return Config(
        pruning=PruningConfig(backend="deepinfra"), deepinfra=DeepInfraConfig(endpoint_url=url, **deepinfra)
    )


@pytest.fixture
async def fake():
    server = FakeDeepInfra(api_key="test-key")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def pruner():
    p = Pruner(Config(), env={})
    await p.start()
    yield p
    await p.aclose()


async def test_heuristic_outcome_and_stats(pruner):
    outcome = await pruner.prune(TEXT, GOAL, options=OPTS)
    s = outcome.stats
    lines = TEXT.split("\n")
    assert s.backend == "heuristic" and not s.used_fallback and not s.cache_hit
    assert s.source_type == "code"
    assert s.original_lines == len(lines)
    assert s.kept_lines + s.pruned_lines == s.original_lines
    assert s.pruned_lines > 0
    assert s.pruned_ratio == round(s.pruned_lines / s.original_lines, 4)
    assert s.tokens_est_before == estimate_tokens(TEXT)
    assert s.tokens_est_after == estimate_tokens(outcome.pruned_text)
    assert s.tokens_saved_est == s.tokens_est_before - s.tokens_est_after > 0
    assert s.cost_estimated_usd == 0.0
    assert s.latency_ms >= s.elapsed_ms >= 0
    assert outcome.warnings == []
    # kept lines verbatim, one marker per pruned run, annotations matching the markers
    out_lines = outcome.pruned_text.split("\n")
    markers = [line for line in out_lines if line.startswith("... [")]
    assert markers == [a.marker for a in outcome.annotations]
    assert f"prune_id={outcome.prune_id}" in markers[0]  # the first marker names the id
    assert all(line in lines for line in out_lines if line not in markers)
    assert "            backoff = 2 ** attempt  # retry backoff" in out_lines
    total = 0
    for a in outcome.annotations:
        assert a.kind == "pruned_block"
        assert a.pruned_line_count == a.original_end_line - a.original_start_line + 1
        assert a.marker.strip() in {m.strip() for m in markers}
        total += a.pruned_line_count
    assert total == s.pruned_lines


async def test_result_is_msgspec_json_with_the_design_fields(pruner):
    outcome = await pruner.prune(TEXT, GOAL, options=OPTS)
    data = msgspec.json.decode(msgspec.json.encode(outcome))
    assert set(data) == {"prune_id", "pruned_text", "annotations", "warnings", "stats"}
    assert {
        "backend",
        "original_lines",
        "kept_lines",
        "pruned_lines",
        "pruned_ratio",
        "tokens_est_before",
        "tokens_est_after",
        "tokens_saved_est",
        "elapsed_ms",
        "latency_ms",
        "used_fallback",
        "cost_estimated_usd",
    } <= set(data["stats"])
    assert set(data["annotations"][0]) == {
        "kind",
        "original_start_line",
        "original_end_line",
        "pruned_line_count",
        "reason",
        "marker",
    }


async def test_deepinfra_success_path(fake):
    pruner = Pruner(di_config(fake.url), env=KEY_ENV)
    await pruner.start()
    outcome = await pruner.prune(TEXT, GOAL, options=OPTS)
    health = pruner.health()
    await pruner.aclose()
    s = outcome.stats
    assert s.backend == "deepinfra"
    assert not s.used_fallback
    assert outcome.warnings == []
    assert len(outcome.pruned_text) < len(TEXT)
    assert s.cost_estimated_usd > 0
    assert fake.calls >= 1
    assert "        if response.status == 503:" in outcome.pruned_text.split("\n")
    assert health.calls_total == 1 and health.calls_deepinfra == 1 and health.fallbacks_deepinfra == 0
    assert health.cost_estimated_total_usd == pytest.approx(s.cost_estimated_usd)
    assert health.backend == "deepinfra"


async def test_cost_is_reported_input_tokens_times_price(fake):
    pruner = Pruner(di_config(fake.url, price_usd_per_million_tokens=2.0), env=KEY_ENV)
    outcome = await pruner.prune(TEXT, GOAL, options=OPTS)
    await pruner.aclose()
    # The fake bills estimate_tokens(query) + estimate_tokens(doc) for each document it received.
    assert outcome.stats.cost_estimated_usd > 0
    tokens = outcome.stats.cost_estimated_usd * 1_000_000 / 2.0
    assert tokens == pytest.approx(round(tokens))
    assert tokens > estimate_tokens(TEXT) * 0.5


@pytest.mark.parametrize(
    "fault",
    ["401", "403", "404", "422", "429", "500", "503", "invalid_json", "wrong_shape", "count_mismatch", "nan",
     "drop", "slow:1000"],
)  # fmt: skip
async def test_each_deepinfra_fault_gives_a_pruned_fallback_result(fake, fault):
    fake.fault = fault
    pruner = Pruner(di_config(fake.url, timeout_ms=200), env=KEY_ENV)
    outcome = await pruner.prune(TEXT, GOAL, options=OPTS)
    health = pruner.health()
    await pruner.aclose()
    s = outcome.stats
    assert s.used_fallback
    assert s.backend == "heuristic"
    assert len(outcome.warnings) == 1 and outcome.warnings[0].startswith("deepinfra_failed:")
    assert s.pruned_lines > 0 and len(outcome.pruned_text) < len(TEXT)
    assert s.cost_estimated_usd == 0.0
    assert health.calls_deepinfra == 1 and health.fallbacks_deepinfra == 1


async def test_no_key_falls_back_without_calling(fake, caplog):
    pruner = Pruner(di_config(fake.url), env={})
    with caplog.at_level(logging.WARNING):
        await pruner.start()
    outcome = await pruner.prune(TEXT, GOAL, options=OPTS)
    await pruner.aclose()
    assert fake.calls == 0
    assert outcome.stats.used_fallback and outcome.stats.backend == "heuristic"
    assert outcome.warnings == ["deepinfra_unavailable:no_api_key; used heuristic"]
    assert sum("is not set" in r.getMessage() for r in caplog.records) == 1


async def test_cache_hit_same_id_same_text_and_fast(pruner):
    first = await pruner.prune(TEXT, GOAL, options=OPTS)
    second = await pruner.prune(TEXT, GOAL, options=OPTS)
    assert second.stats.cache_hit and not first.stats.cache_hit
    assert second.prune_id == first.prune_id
    assert second.pruned_text == first.pruned_text
    assert second.annotations == first.annotations
    assert second.stats.elapsed_ms == 0.0
    timings = []
    for _ in range(51):
        started = time.perf_counter()
        await pruner.prune(TEXT, GOAL, options=OPTS)
        timings.append((time.perf_counter() - started) * 1000)
    assert sorted(timings)[25] <= 1.0, "cache hit must stay under 1 ms"
    health = pruner.health()
    assert health.cache_hits == 52 and health.cache_misses == 1 and health.calls_total == 53


async def test_cache_key_covers_goal_options_and_source_type(pruner):
    base = await pruner.prune(TEXT, GOAL, options=OPTS)
    ids = {
        base.prune_id,
        (await pruner.prune(TEXT, GOAL + " now", options=OPTS)).prune_id,
        (await pruner.prune(TEXT, GOAL, options=PruneOptions(keep_ratio=0.5))).prune_id,
        (await pruner.prune(TEXT, GOAL, options=OPTS, source_type="docs")).prune_id,
    }
    assert len(ids) == 4
    assert pruner.health().cache_hits == 0


async def test_concurrent_identical_calls_share_one_backend_call(fake):
    fake.fault = "slow:100"
    pruner = Pruner(di_config(fake.url, timeout_ms=2000, max_docs=1024), env=KEY_ENV)
    outcomes = await asyncio.gather(*(pruner.prune(TEXT, GOAL, options=OPTS) for _ in range(8)))
    health = pruner.health()
    await pruner.aclose()
    assert fake.calls == 1
    assert len({o.pruned_text for o in outcomes}) == 1
    assert sum(not o.stats.cache_hit for o in outcomes) == 1
    assert health.calls_deepinfra == 1 and health.cache_hits == 7


async def test_cancelled_caller_does_not_cancel_shared_call(fake):
    fake.fault = "slow:150"
    pruner = Pruner(di_config(fake.url, timeout_ms=2000), env=KEY_ENV)
    first = spawn(pruner.prune(TEXT, GOAL, options=OPTS))
    second = spawn(pruner.prune(TEXT, GOAL, options=OPTS))
    await asyncio.sleep(0.05)
    first.cancel()
    outcome = await second
    await pruner.aclose()
    assert outcome.stats.backend == "deepinfra" and not outcome.stats.used_fallback
    assert fake.calls == 1


async def test_prune_id_stable_with_shared_secret_and_recomputed_after_expiry():
    env = {"SIDECAR_PRUNE_ID_SECRET": "replica-secret"}
    a, b = Pruner(Config(), env=env), Pruner(Config(), env=env)
    other = Pruner(Config(), env={"SIDECAR_PRUNE_ID_SECRET": "different"})
    out_a = await a.prune(TEXT, GOAL, options=OPTS)
    out_b = await b.prune(TEXT, GOAL, options=OPTS)  # fresh cache: recomputed
    assert out_a.prune_id == out_b.prune_id
    assert out_a.pruned_text == out_b.pruned_text
    assert (await other.prune(TEXT, GOAL, options=OPTS)).prune_id != out_a.prune_id
    for p in (a, b, other):
        await p.aclose()


async def test_process_secret_differs_from_a_configured_one(pruner):
    mine = await pruner.prune(TEXT, GOAL, options=OPTS)
    replica = Pruner(Config(), env={"SIDECAR_PRUNE_ID_SECRET": "x"})
    assert (await replica.prune(TEXT, GOAL, options=OPTS)).prune_id != mine.prune_id


async def test_recover_pruned_block(pruner):
    outcome = await pruner.prune(TEXT, GOAL, options=OPTS, caller="agent-1")
    block = outcome.annotations[0]
    result = await pruner.recover(
        outcome.prune_id,
        [LineRange(start_line=block.original_start_line, end_line=block.original_end_line)],
        caller="agent-1",
    )
    lines = TEXT.split("\n")
    assert result.raw_text == "\n".join(lines[block.original_start_line - 1 : block.original_end_line])
    with pytest.raises(PruneIdNotFound):
        await pruner.recover(outcome.prune_id, [LineRange(start_line=1, end_line=1)], caller="agent-2")
    with pytest.raises(PruneIdNotFound):
        await pruner.recover("a" * 26, [LineRange(start_line=1, end_line=1)], caller="agent-1")
    with pytest.raises(InvalidRange):
        await pruner.recover(
            outcome.prune_id, [LineRange(start_line=1, end_line=len(lines) + 1)], caller="agent-1"
        )
    assert pruner.health().recover_store_entries == 1


async def test_source_type_detected_when_absent(pruner):
    logs = "\n".join(f"2024-05-01 10:00:{i % 60:02d} INFO worker {i} heartbeat ok" for i in range(200))
    logs += "\n2024-05-01 10:05:00 ERROR upload failed with 503\n"
    outcome = await pruner.prune(logs, "why did the upload fail", options=OPTS)
    assert outcome.stats.source_type == "logs"
    assert "2024-05-01 10:05:00 ERROR upload failed with 503" in outcome.pruned_text


async def test_default_options_follow_config():
    config = Config(pruning=PruningConfig(keep_ratio=0.4, min_keep_lines=3, annotate_lines=True))
    options = Pruner(config, env={}).default_options()
    assert options.keep_ratio == 0.4 and options.min_keep_lines == 3 and options.annotate_lines


async def test_pruning_never_longer_than_original(pruner):
    short = "a\nb\nc"
    outcome = await pruner.prune(short, "zzz", options=PruneOptions(keep_ratio=0.1, min_keep_lines=0))
    assert outcome.pruned_text == short
    assert outcome.stats.tokens_saved_est == 0 and outcome.annotations == []


class BrokenHeuristic:
    name = "heuristic"

    async def prune(self, request):
        raise RuntimeError("secret content")

    async def aclose(self):
        pass


async def test_total_failure_keeps_the_whole_text_with_a_warning():
    from sidecar.pruning.manager import PruningBackendManager

    config = Config()
    pruner = Pruner(
        config, env={}, manager=PruningBackendManager(config, env={}, heuristic=BrokenHeuristic())
    )
    outcome = await pruner.prune(TEXT, GOAL, options=OPTS)
    assert outcome.pruned_text == TEXT
    assert outcome.warnings == ["pruning_failed:RuntimeError; text kept whole"]
    assert outcome.stats.tokens_saved_est == 0 and outcome.stats.kept_lines == outcome.stats.original_lines
    # failures are not cached: the next call tries again
    assert not (await pruner.prune(TEXT, GOAL, options=OPTS)).stats.cache_hit


class BrokenCache:
    async def get(self, key):
        raise ConnectionError("redis down")

    async def set(self, key, outcome):
        raise ConnectionError("redis down")

    async def aclose(self):
        pass

    def __len__(self):
        return 0


async def test_cache_failure_never_fails_a_call():
    pruner = Pruner(Config(), env={}, cache=BrokenCache())
    outcome = await pruner.prune(TEXT, GOAL, options=OPTS)
    assert outcome.stats.pruned_lines > 0 and outcome.warnings == []
    await pruner.aclose()


async def test_observers_see_every_call_and_cannot_break_it(pruner):
    seen = []
    pruner.add_observer(lambda outcome: seen.append(outcome.stats.cache_hit))

    def broken(outcome):
        raise ValueError("observer bug")

    pruner.add_observer(broken)
    await pruner.prune(TEXT, GOAL, options=OPTS)
    await pruner.prune(TEXT, GOAL, options=OPTS)
    assert seen == [False, True]


async def test_health_aggregates(pruner):
    await pruner.prune(TEXT, GOAL, options=OPTS)
    await pruner.prune(TEXT, GOAL, options=OPTS)
    h = pruner.health()
    assert h.calls_total == 2 and h.calls_deepinfra == 0 and h.fallbacks_deepinfra == 0
    assert h.cache_hits == 1 and h.cache_misses == 1
    assert h.tokens_before_total == 2 * estimate_tokens(TEXT)
    assert h.tokens_saved_total > 0
    assert h.recover_store_bytes >= len(TEXT)
    assert not h.deepinfra_circuit_open


async def test_structural_kinds_are_detected_and_every_cut_recovers_its_original_lines(pruner):
    from tests.pruning.engine.samples import git_log, pytest_run, releases_json, rg_output

    goal = "Pin example 2.31.0 and fix the failing frequencies test in adapters.py; when did gaps use a heap?"
    for text, kind in ((releases_json(), "json"), (rg_output(), "search"), (git_log(), "diff")):
        outcome = await pruner.prune(text, goal, caller="agent-1")
        assert outcome.stats.source_type == kind
        assert outcome.annotations, kind
        lines = text.split("\n")
        for block in outcome.annotations:
            assert block.marker in outcome.pruned_text.split("\n")
            rng = LineRange(start_line=block.original_start_line, end_line=block.original_end_line)
            result = await pruner.recover(outcome.prune_id, [rng], caller="agent-1")
            assert result.raw_text == "\n".join(lines[rng.start_line - 1 : rng.end_line])
        kept = [line for line in outcome.pruned_text.split("\n") if not line.startswith("... [")]
        assert all(line in lines for line in kept)  # kept lines verbatim
    outcome = await pruner.prune(pytest_run(), goal, source_type="logs")
    assert outcome.stats.source_type == "logs" and outcome.annotations


async def test_malformed_json_goes_the_line_way(pruner):
    from tests.pruning.engine.samples import releases_json

    text = releases_json()[:-200]  # truncated: not JSON any more
    outcome = await pruner.prune(text, "which wheel is 2.31.0?", options=OPTS)
    assert outcome.stats.source_type != "json"
    assert outcome.annotations and not outcome.warnings
    assert outcome.stats.tokens_est_after < outcome.stats.tokens_est_before


async def test_one_line_json_is_pruned_laid_out_and_every_cut_recovers(pruner):
    import json

    from sidecar.pruning.engine.layout import spread_json
    from sidecar.pruning.service import pruned_source
    from tests.pruning.engine.samples import releases_json

    text = json.dumps(json.loads(releases_json()), separators=(",", ":"))  # as curl gets it: one line
    outcome = await pruner.prune(text, "which release was yanked, and why?", caller="agent-1")
    assert outcome.stats.source_type == "json" and outcome.annotations
    assert '"yanked_reason":"broken metadata"' in outcome.pruned_text
    assert len(outcome.pruned_text) < 0.5 * len(text)
    assert outcome.stats.tokens_est_before == estimate_tokens(text)  # savings count against the original
    laid = spread_json(text)
    assert laid is not None
    lines = laid.split("\n")
    assert outcome.stats.original_lines == len(lines)
    kept = [line for line in outcome.pruned_text.split("\n") if not line.startswith("... [")]
    assert all(line in lines for line in kept)  # kept lines verbatim, as laid out
    for block in outcome.annotations:
        rng = LineRange(start_line=block.original_start_line, end_line=block.original_end_line)
        result = await pruner.recover(outcome.prune_id, [rng], caller="agent-1")
        assert result.raw_text == "\n".join(lines[rng.start_line - 1 : rng.end_line])
    # A cache hit (another caller) is recovered by the same laid-out lines, laid out once more if the
    # recover store has lost them (an expired entry, another replica's result).
    again = await pruner.prune(text, "which release was yanked, and why?", caller="agent-2")
    assert again.stats.cache_hit and again.pruned_text == outcome.pruned_text
    whole = await pruner.recover(
        again.prune_id, [LineRange(start_line=1, end_line=len(lines))], caller="agent-2"
    )
    assert whole.raw_text == laid
    assert pruned_source(text, again) == laid and pruned_source(laid, again) == laid


async def test_an_api_answer_after_its_http_head_keeps_the_head_and_prunes_the_body(pruner):
    import json

    from tests.pruning.engine.samples import releases_json

    head = "HTTP/2 200 \r\ncontent-type: application/json\r\nx-github-request-id: 1A2B\r\n\r\n"
    text = head + json.dumps(json.loads(releases_json()), separators=(",", ":"))  # curl -i
    outcome = await pruner.prune(
        text, "which release was yanked, and why?", options=PruneOptions(keep_ratio=0.3)
    )
    assert outcome.stats.source_type == "json" and outcome.annotations
    assert outcome.pruned_text.startswith(head) and '"yanked_reason":"broken metadata"' in outcome.pruned_text
    assert len(outcome.pruned_text) <= 0.3 * len(text)
    lines = pruned_source(text, outcome).split("\n")
    block = outcome.annotations[0]
    rng = LineRange(start_line=block.original_start_line, end_line=block.original_end_line)
    result = await pruner.recover(outcome.prune_id, [rng])
    assert result.raw_text == "\n".join(lines[rng.start_line - 1 : rng.end_line])


async def test_an_api_answer_within_curls_verbose_trace_is_laid_out_and_pruned(pruner):
    import json

    from tests.pruning.engine.samples import releases_json

    trace = "* Connected to api (10.0.0.7) port 443 (#0)\n> GET /pypi HTTP/1.1\n> \n< HTTP/1.1 200 OK\n< \n"
    body = json.dumps(json.loads(releases_json()), separators=(",", ":"))
    note = "* Connection #0 to host api left intact\n"
    text = trace + f"{{ [{len(body)} bytes data]\n" + body[:4096] + note + body[4096:]  # curl -sv 2>&1
    outcome = await pruner.prune(text, "which release was yanked, and why?")
    assert outcome.stats.source_type == "json" and outcome.annotations
    assert outcome.pruned_text.startswith(trace) and outcome.pruned_text.endswith(note)
    assert '"yanked_reason":"broken metadata"' in outcome.pruned_text
    assert len(outcome.pruned_text) <= 0.35 * len(text)


async def test_a_json_lines_log_is_pruned_as_a_log_whatever_its_hint(pruner):
    import json

    records = [
        {"ts": f"2026-12-06T10:00:{k % 60:02d}Z", "level": "info", "msg": "request completed", "status": 200}
        for k in range(400)
    ]
    records[250].update(level="error", msg="database timeout while fetching orders", status=500)
    text = "\n".join(json.dumps(r) for r in records)  # kubectl logs of a JSON-logging service
    for hint in (None, "code"):  # no hint (an MCP tool), a .json file read
        outcome = await pruner.prune(text, "why do orders time out?", source_type=hint)
        assert outcome.stats.source_type == "logs"
        assert json.dumps(records[250]) in outcome.pruned_text
        assert len(outcome.pruned_text) < 0.2 * len(text)


async def test_one_line_json_with_nothing_to_prune_comes_back_as_it_was(pruner):
    import json

    text = json.dumps([{"id": i, "state": "open"} for i in range(200)])
    outcome = await pruner.prune(text, "the open ones", options=PruneOptions(keep_ratio=1.0))
    assert outcome.pruned_text == text and not outcome.annotations
    assert outcome.stats.original_lines == 1
    # A numbered read (Claude Code's Read of a .json file) is never laid out: its numbers are the file's.
    numbered = await pruner.prune(
        text, "the open ones", options=PruneOptions(keep_ratio=0.3, annotate_lines=True)
    )
    assert numbered.stats.original_lines == 1 and numbered.pruned_text == "1\t" + text
    # Nor a file read by its extension (``cat data.json``: declared code): an edit goes by its lines.
    read = await pruner.prune(text, "the open ones", source_type="code", options=PruneOptions(keep_ratio=0.3))
    assert read.stats.original_lines == 1 and read.pruned_text == text
