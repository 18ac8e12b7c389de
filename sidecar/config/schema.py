"""The configuration's shape: frozen typed sections, their bounds and built-in defaults.

Every section is a frozen, keyword-only msgspec struct that refuses unknown keys, so a typo in
config.toml is an error naming the key rather than a setting silently ignored. The defaults here are
the ones ``config.toml`` at the repository root spells out; :mod:`sidecar.config.loader` fills them in.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

MiB = 1024 * 1024

BackendName = Literal["heuristic", "deepinfra"]
# json, search and diff: structural kinds; listing: a row per line (find, ls -l, dpkg -l, a CSV file).
SourceType = Literal["code", "logs", "docs", "json", "search", "diff", "listing"]

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
NonNegInt = Annotated[int, msgspec.Meta(ge=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
NonNegFloat = Annotated[float, msgspec.Meta(ge=0)]
Ratio = Annotated[float, msgspec.Meta(ge=0, le=1)]
HttpUrl = Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s/]+")]


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every config section: frozen, keyword-only, unknown keys are errors."""


class ServerConfig(_Section, frozen=True):
    host: str = "127.0.0.1"
    port: Port = 8787
    max_body_bytes: PositiveInt = 32 * MiB
    shutdown_timeout_s: NonNegFloat = 25.0
    drain_delay_s: NonNegFloat = 0.0
    header_timeout_s: PositiveFloat = 10.0  # a new connection's request head must be complete by then
    body_timeout_s: PositiveFloat = 60.0  # a request body must have arrived by then (else 408)
    keepalive_timeout_s: PositiveFloat = 75.0  # an idle kept-alive connection is closed after this


class UpstreamConfig(_Section, frozen=True):
    url: HttpUrl = "https://api.openai.com"
    connect_timeout_s: PositiveFloat = 10.0
    read_timeout_s: PositiveFloat = 300.0
    max_connections: PositiveInt = 512
    max_connections_per_host: NonNegInt = 0
    pool_timeout_s: PositiveFloat = 10.0  # longest wait for a pooled connection once all are busy: then 503
    keepalive_timeout_s: PositiveFloat = 30.0


class PruningConfig(_Section, frozen=True):
    enabled: bool = True
    backend: BackendName = "heuristic"
    min_chars_to_prune: NonNegInt = 2000
    deadline_ms: PositiveInt = 1500
    prune_user_text: bool = False
    keep_ratio: Ratio | None = None
    max_prune_ratio: Ratio = 0.9
    min_keep_lines: NonNegInt = 8
    timeout_ms: PositiveInt = 1500
    annotate_lines: bool = False
    include_markers: bool = True
    default_source_type: SourceType | None = None


class DeepInfraConfig(_Section, frozen=True):
    endpoint_url: HttpUrl = "https://api.deepinfra.com/v1/inference/Qwen/Qwen3-Reranker-0.6B"
    api_key_env: str = "DEEPINFRA_API_KEY"
    timeout_ms: PositiveInt = 800
    max_docs: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 256
    breaker_failures: PositiveInt = 3
    breaker_cooldown_s: NonNegFloat = 30.0
    price_usd_per_million_tokens: NonNegFloat = 0.01


class CacheConfig(_Section, frozen=True):
    url: str | None = None
    ttl_s: PositiveFloat = 3600.0
    max_entries: PositiveInt = 10_000
    max_bytes: PositiveInt = 128 * MiB


class RecoverConfig(_Section, frozen=True):
    ttl_s: PositiveFloat = 600.0
    max_bytes: PositiveInt = 256 * MiB


class McpConfig(_Section, frozen=True):
    enabled: bool = True
    token_env: str = "SIDECAR_MCP_TOKEN"
    allowed_origins: list[str] = msgspec.field(default_factory=list)


class DashboardConfig(_Section, frozen=True):
    enabled: bool = True
    recent_segments: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    history_minutes: Annotated[int, msgspec.Meta(ge=1, le=10080)] = 1440
    show_text: bool = False  # tool output can be secret: the page shows metadata only unless this is true
    max_text_chars: PositiveInt = 20_000


class ModelPrice(_Section, frozen=True):
    input_usd_per_mtok: NonNegFloat
    cached_read_multiplier: Ratio | None = None  # None: pricing.cached_read_multiplier


class PricingConfig(_Section, frozen=True):
    cached_read_multiplier: Ratio = 0.1
    default_input_usd_per_mtok: NonNegFloat | None = None  # models not listed; None: not priced
    models: dict[str, ModelPrice] = msgspec.field(default_factory=lambda: default_prices())


class ProviderConfig(_Section, frozen=True):
    base_url: HttpUrl
    api_key_env: str
    max_concurrent: PositiveInt = 5
    supports_json_response_format: bool = True


class ModeConfig(_Section, frozen=True):
    executor: str
    small_executor: str | None = None
    auditor: str | None = None


class RoutingConfig(_Section, frozen=True):
    queue_timeout_s: PositiveFloat = 30.0
    max_attempts: PositiveInt = 3
    max_retry_after_s: NonNegFloat = 30.0
    small_request_max_tokens: NonNegInt = 1500
    strip_prompts: bool = False


def default_providers() -> dict[str, ProviderConfig]:
    """Return the built-in providers (``[providers.*]``); a file's own providers are added to them."""
    return {
        "deepseek": ProviderConfig(
            base_url="https://api.deepseek.com/v1", api_key_env="DEEPSEEK_API_KEY", max_concurrent=5
        ),
        "groq": ProviderConfig(
            base_url="https://api.groq.com/openai/v1", api_key_env="GROQ_API_KEY", max_concurrent=10
        ),
        "gemini": ProviderConfig(
            base_url="https://generativelanguage.googleapis.com/v1beta/openai",
            api_key_env="GEMINI_API_KEY",
            max_concurrent=10,
        ),
        "codestral": ProviderConfig(
            base_url="https://codestral.mistral.ai/v1",
            api_key_env="CODESTRAL_API_KEY",
            max_concurrent=5,
            supports_json_response_format=False,
        ),
    }


# Input list prices in USD per million tokens, and the cached-read price as a share of it, as the providers
# published them (checked 2026-12). Estimates to edit: keys match a request's model by prefix, longest first.
_PRICES: dict[str, tuple[float, float | None]] = {
    "claude-fable-5-1": (10.0, 0.025),
    "claude-fable-5": (10.0, None),
    "claude-opus-5-5": (4.0, None),
    "claude-opus-5": (5.0, None),
    "claude-opus-4-8": (5.0, None),
    "claude-opus-4-7": (5.0, None),
    "claude-opus-4-6": (5.0, None),
    "claude-opus-4-5": (5.0, None),
    "claude-opus-4": (15.0, None),
    "claude-sonnet-5-5": (2.0, 0.05),
    "claude-sonnet-5": (2.0, None),
    "claude-sonnet-4": (3.0, None),
    "claude-3-7-sonnet": (3.0, None),
    "claude-haiku-5-5": (0.10, None),
    "claude-haiku-4-5": (1.0, None),
    "claude-3-5-haiku": (0.80, None),
    "gpt-5.5": (5.0, None),
    "gpt-5.4": (2.50, None),
    "gpt-5.4-mini": (0.75, None),
    "gpt-5.4-nano": (0.20, None),
    "gpt-5.2": (1.75, None),
    "gpt-5": (1.25, None),
    "gpt-5-mini": (0.25, None),
    "gpt-5-nano": (0.05, None),
    "gpt-4.1": (2.0, 0.25),
    "gpt-4.1-mini": (0.40, 0.25),
    "gpt-4o": (2.50, 0.5),
    "gpt-4o-mini": (0.15, 0.5),
    "o3": (2.0, 0.25),
    "o4-mini": (1.10, 0.25),
    "deepseek-chat": (0.28, None),
    "deepseek-reasoner": (0.28, None),
    "gemini-2.5-pro": (1.25, None),
    "gemini-2.5-flash": (0.30, None),
    "gemini-2.0-flash": (0.10, 0.25),
    "llama-3.3-70b-versatile": (0.59, 1.0),
    "codestral": (0.30, 1.0),
}


def default_prices() -> dict[str, ModelPrice]:
    """Return the built-in model price table (``[pricing.models]``)."""
    return {
        name: ModelPrice(input_usd_per_mtok=price, cached_read_multiplier=cached)
        for name, (price, cached) in _PRICES.items()
    }


def default_modes() -> dict[str, ModeConfig]:
    """Return the built-in execution modes (``[modes.*]``); a file's own modes are added to them."""
    return {
        "fast": ModeConfig(executor="groq:llama-3.3-70b-versatile"),
        "build": ModeConfig(executor="deepseek:deepseek-chat", small_executor="codestral:codestral-latest"),
        "double-check": ModeConfig(executor="deepseek:deepseek-chat", auditor="gemini:gemini-2.0-flash"),
    }


class Config(_Section, frozen=True):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    upstream: UpstreamConfig = msgspec.field(default_factory=UpstreamConfig)
    pruning: PruningConfig = msgspec.field(default_factory=PruningConfig)
    deepinfra: DeepInfraConfig = msgspec.field(default_factory=DeepInfraConfig)
    cache: CacheConfig = msgspec.field(default_factory=CacheConfig)
    recover: RecoverConfig = msgspec.field(default_factory=RecoverConfig)
    mcp: McpConfig = msgspec.field(default_factory=McpConfig)
    dashboard: DashboardConfig = msgspec.field(default_factory=DashboardConfig)
    pricing: PricingConfig = msgspec.field(default_factory=PricingConfig)
    routing: RoutingConfig = msgspec.field(default_factory=RoutingConfig)
    providers: dict[str, ProviderConfig] = msgspec.field(default_factory=default_providers)
    modes: dict[str, ModeConfig] = msgspec.field(default_factory=default_modes)
