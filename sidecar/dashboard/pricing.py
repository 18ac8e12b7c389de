"""What the tokens the sidecar kept out of requests would have cost: per-model input prices from config.

    PriceTable(config.pricing).estimate(model, tokens_saved, cache_hit) -> Estimate(raw_usd, cache_aware_usd)

A request's model is matched against ``[pricing.models]`` by prefix, longest key first, after lower-casing
and dropping a router's ``provider/`` prefix (OpenRouter style) and a cloud's ``vendor.`` prefix
(Bedrock's ``anthropic.claude-...``): ``claude-sonnet-4-5-20250929`` is priced as ``claude-sonnet-4``.
A model that matches nothing is priced at ``pricing.default_input_usd_per_mtok`` when set, else not at
all (its tokens are counted as unpriced, never as $0 saved).

Two estimates, since the provider's prompt cache changes what a saved token was worth:

- **raw**: every saved token at the model's input price (what a caller without prompt caching saves);
- **cache-aware**: a segment the pruner had already pruned (a cache hit: the same tool output sent again
  on a later turn, which the provider most likely serves from its prompt cache) at input price ×
  the cached-read multiplier (0.1 on Anthropic and recent OpenAI models); a first sighting at full price.

The truth lies between the two: a provider cache that expired (Anthropic's lasts 5 minutes by default)
bills a repeat at full price, and Anthropic bills cache writes at 1.25× (not counted here).
"""

from __future__ import annotations

from typing import NamedTuple

from sidecar.config import PricingConfig

_MAX_MEMO = 1024  # distinct model names remembered (a client chooses them: bounded)


class Price(NamedTuple):
    """The price a model's input tokens are billed at."""

    key: str  # the [pricing.models] key that matched, or "default"
    input_usd_per_mtok: float
    cached_read_multiplier: float


class Estimate(NamedTuple):
    """The money one segment's saved tokens were worth, both ways (USD)."""

    raw_usd: float
    cache_aware_usd: float


class PriceTable:
    """Model prices from ``[pricing]``, matched by longest prefix and remembered per model name."""

    def __init__(self, config: PricingConfig) -> None:
        self._config = config
        self._keys = sorted(config.models, key=len, reverse=True)
        self._memo: dict[str, Price | None] = {}

    def price(self, model: str | None) -> Price | None:
        """Return the price of ``model``'s input tokens, or None when it is not priced."""
        if not model:
            return self._default()
        if model in self._memo:
            return self._memo[model]
        price = self._lookup(model)
        if len(self._memo) < _MAX_MEMO:
            self._memo[model] = price
        return price

    def estimate(self, model: str | None, tokens_saved: int, cache_hit: bool) -> Estimate | None:
        """Return what ``tokens_saved`` tokens of ``model`` cost, raw and cache-aware; None if unpriced."""
        price = self.price(model)
        if price is None:
            return None
        raw = tokens_saved * price.input_usd_per_mtok / 1_000_000
        return Estimate(raw, raw * price.cached_read_multiplier if cache_hit else raw)

    def _lookup(self, model: str) -> Price | None:
        name = model.strip().lower().rsplit("/", 1)[-1]
        # Then without a vendor prefix: "us.anthropic.claude-sonnet-4-20250514-v1:0" -> "claude-sonnet-4..."
        tails = [name[i + 1 :] for i, c in enumerate(name) if c == "."]
        for candidate in (name, *tails):
            for key in self._keys:
                if candidate.startswith(key):
                    entry = self._config.models[key]
                    multiplier = entry.cached_read_multiplier
                    if multiplier is None:
                        multiplier = self._config.cached_read_multiplier
                    return Price(key, entry.input_usd_per_mtok, multiplier)
        return self._default()

    def _default(self) -> Price | None:
        default = self._config.default_input_usd_per_mtok
        if default is None:
            return None
        return Price("default", default, self._config.cached_read_multiplier)
