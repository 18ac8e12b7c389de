"""Model prices: longest-prefix match, vendor prefixes, default price, raw and cache-aware estimates."""

from __future__ import annotations

import math

import pytest

from sidecar.config import ModelPrice, PricingConfig
from sidecar.dashboard.pricing import PriceTable


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4"),
        ("claude-sonnet-5-5", "claude-sonnet-5-5"),
        ("claude-sonnet-5", "claude-sonnet-5"),
        ("claude-opus-4-1-20250805", "claude-opus-4"),
        ("claude-opus-4-6", "claude-opus-4-6"),
        ("anthropic/claude-haiku-4-5", "claude-haiku-4-5"),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
        ("GPT-5.4-mini-2026-03-01", "gpt-5.4-mini"),
        ("gpt-5-codex", "gpt-5"),
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("openai/gpt-4o", "gpt-4o"),
        ("deepseek-chat", "deepseek-chat"),
    ],
)
def test_default_table_matches_real_model_names(model: str, key: str) -> None:
    price = PriceTable(PricingConfig()).price(model)
    assert price is not None and price.key == key


def test_unknown_model_is_unpriced_unless_a_default_is_set() -> None:
    assert PriceTable(PricingConfig()).estimate("my-local-llama", 1000, cache_hit=False) is None
    assert PriceTable(PricingConfig()).price(None) is None
    table = PriceTable(PricingConfig(default_input_usd_per_mtok=2.0, cached_read_multiplier=0.25))
    estimate = table.estimate("my-local-llama", 1_000_000, cache_hit=True)
    assert estimate is not None and estimate.raw_usd == 2.0 and estimate.cache_aware_usd == 0.5


def test_raw_and_cache_aware_estimates() -> None:
    table = PriceTable(PricingConfig(models={"m": ModelPrice(input_usd_per_mtok=3.0)}))
    first = table.estimate("m-1", 500_000, cache_hit=False)
    repeat = table.estimate("m-1", 500_000, cache_hit=True)
    assert first is not None and repeat is not None
    assert first.raw_usd == first.cache_aware_usd == 1.5  # a first sighting is billed in full either way
    assert repeat.raw_usd == 1.5 and math.isclose(repeat.cache_aware_usd, 0.15)  # then as a cached read
    own = PriceTable(
        PricingConfig(models={"m": ModelPrice(input_usd_per_mtok=2.0, cached_read_multiplier=0.5)})
    )
    assert own.estimate("m", 1_000_000, cache_hit=True) == (2.0, 1.0)


def test_memo_is_bounded() -> None:
    table = PriceTable(PricingConfig())
    for i in range(3000):
        table.price(f"made-up-{i}")
    assert len(table._memo) <= 1024
