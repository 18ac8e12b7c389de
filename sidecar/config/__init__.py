"""Configuration: frozen typed structs, loaded once from config.toml and the environment.

    schema   the sections (ServerConfig ... RoutingConfig, Config), their bounds and built-in defaults
    loader   load_config: the file (--config, $SIDECAR_CONFIG, ./config.toml), env over it, validation
    checks   what the types cannot say: Redis URLs, mode names; values shown without their secrets

Precedence, highest first: environment variables, the config file, built-in defaults. An invalid value
raises :class:`~sidecar.errors.ConfigError` naming the key or the variable. Import from here: the
submodules are the package's own layout.
"""

from __future__ import annotations

from sidecar.config.checks import REDIS_SCHEMES, is_redis_url, normalize_mode, redis_url_problem, shown_value
from sidecar.config.loader import ENV_OVERRIDES, TomlTable, TomlValue, find_config_file, load_config
from sidecar.config.schema import (
    BackendName,
    CacheConfig,
    Config,
    DashboardConfig,
    DeepInfraConfig,
    HttpUrl,
    McpConfig,
    MiB,
    ModeConfig,
    ModelPrice,
    NonNegFloat,
    NonNegInt,
    Port,
    PositiveFloat,
    PositiveInt,
    PricingConfig,
    ProviderConfig,
    PruningConfig,
    Ratio,
    RecoverConfig,
    RoutingConfig,
    ServerConfig,
    SourceType,
    UpstreamConfig,
    default_prices,
)

__all__ = [
    "ENV_OVERRIDES",
    "REDIS_SCHEMES",
    "BackendName",
    "CacheConfig",
    "Config",
    "DashboardConfig",
    "DeepInfraConfig",
    "HttpUrl",
    "McpConfig",
    "MiB",
    "ModeConfig",
    "ModelPrice",
    "NonNegFloat",
    "NonNegInt",
    "Port",
    "PositiveFloat",
    "PositiveInt",
    "PricingConfig",
    "ProviderConfig",
    "PruningConfig",
    "Ratio",
    "RecoverConfig",
    "RoutingConfig",
    "ServerConfig",
    "SourceType",
    "TomlTable",
    "TomlValue",
    "UpstreamConfig",
    "default_prices",
    "find_config_file",
    "is_redis_url",
    "load_config",
    "normalize_mode",
    "redis_url_problem",
    "shown_value",
]
