"""Configuration: frozen typed structs, loaded once from config.toml and the environment.

Precedence, highest first: environment variables, the config file, built-in defaults.
The file is the first found of ``--config``, ``$SIDECAR_CONFIG``, ``./config.toml``.
An invalid value raises :class:`ConfigError` naming the key or the variable.
"""

from __future__ import annotations

import os
import re
import tomllib
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlsplit

import msgspec

from sidecar.errors import ConfigError
from sidecar.jsontypes import error_path

MiB = 1024 * 1024
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

BackendName = Literal["heuristic", "deepinfra"]
SourceType = Literal["code", "logs", "docs", "json", "search", "diff"]  # the last three: structural kinds

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


def _default_providers() -> dict[str, ProviderConfig]:
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


def _default_modes() -> dict[str, ModeConfig]:
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
    providers: dict[str, ProviderConfig] = msgspec.field(default_factory=_default_providers)
    modes: dict[str, ModeConfig] = msgspec.field(default_factory=_default_modes)


# Environment variable -> dotted config key. Env wins over the file.
ENV_OVERRIDES: dict[str, str] = {
    "KIMI_PRUNING_BACKEND": "pruning.backend",
    "DEEPINFRA_TIMEOUT_MS": "deepinfra.timeout_ms",
    "DEEPINFRA_MAX_DOCS": "deepinfra.max_docs",
    "DEEPINFRA_ENDPOINT_URL": "deepinfra.endpoint_url",
    "SIDECAR_UPSTREAM_URL": "upstream.url",
    "SIDECAR_MIN_CHARS_TO_PRUNE": "pruning.min_chars_to_prune",
    "SIDECAR_CACHE_URL": "cache.url",
}
_INT_KEYS = {"deepinfra.timeout_ms", "deepinfra.max_docs", "pruning.min_chars_to_prune"}

TomlValue = str | int | float | bool | None | list["TomlValue"] | dict[str, "TomlValue"]
TomlTable = dict[str, TomlValue]


def is_redis_url(url: str | None) -> bool:
    """Tell whether ``url`` selects the shared Redis store (scheme case-insensitive, as URLs are)."""
    return bool(url) and str(url).lower().startswith(REDIS_SCHEMES)


def _number(kind: Callable[[str], float], low: float, strict: bool = False) -> Callable[[str], bool]:
    def ok(value: str) -> bool:
        try:
            number = kind(value)
        except ValueError:
            return False
        return number > low if strict else number >= low

    return ok


def _one_of(*choices: str) -> Callable[[str], bool]:
    return lambda value: value.lower() in choices


_BOOL = _one_of("0", "1", "true", "false", "yes", "no", "on", "off", "t", "f", "y", "n")
# The query options redis-py reads from a URL, with their checks (a wrong one would only fail later, at
# the first connection, or crash it). ssl_* ones are for rediss:// only.
_REDIS_OPTIONS: dict[str, tuple[str, Callable[[str], bool]]] = {
    "db": ("a database number", _number(int, 0)),
    "socket_timeout": ("seconds > 0", _number(float, 0, strict=True)),
    "socket_connect_timeout": ("seconds > 0", _number(float, 0, strict=True)),
    "socket_read_size": ("bytes > 0", _number(int, 0, strict=True)),
    "socket_keepalive": ("true or false", _BOOL),
    "retry_on_timeout": ("true or false", _BOOL),
    "max_connections": ("an integer > 0", _number(int, 0, strict=True)),
    "health_check_interval": ("whole seconds >= 0", _number(int, 0)),
    "timeout": ("seconds > 0", _number(float, 0, strict=True)),
    "protocol": ("2 or 3", _one_of("2", "3")),
    "client_name": ("a name", lambda value: bool(value)),
    "ssl_cert_reqs": ("none, optional or required", _one_of("none", "optional", "required")),
    "ssl_check_hostname": ("true or false", _BOOL),
    "ssl_ca_certs": ("a file path", lambda value: bool(value)),
    "ssl_ca_path": ("a directory path", lambda value: bool(value)),
    "ssl_certfile": ("a file path", lambda value: bool(value)),
    "ssl_keyfile": ("a file path", lambda value: bool(value)),
}
_PERCENT_HINT = "a '#', '/', '?' or '@' in the password must be percent-encoded (%23, %2F, %3F, %40)"


def redis_url_problem(url: str) -> str | None:
    """Return what is wrong with a Redis URL (None: usable), never quoting it: it may hold a password."""
    scheme = url.partition("://")[0].lower()
    if not is_redis_url(url):
        return "expected a redis://, rediss:// or unix:// URL"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check (it raises ValueError)
    except ValueError:
        return f"not a valid URL: check the host and port (an IPv6 host is written [::1]; {_PERCENT_HINT})"
    if parts.fragment or url.endswith("#"):
        return f"not a valid URL: {_PERCENT_HINT}"
    if scheme == "unix":
        if not parts.path:
            return "unix:// needs the socket's path, e.g. unix:///run/redis/redis.sock"
    elif parts.path.strip("/") and not parts.path.strip("/").isdigit():
        return f"the path must be a database number, e.g. redis://host:6379/0 ({_PERCENT_HINT})"
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        option = _REDIS_OPTIONS.get(name)
        if option is None:
            return f"unknown query option (known: {', '.join(_REDIS_OPTIONS)})"
        if name.startswith("ssl_") and scheme != "rediss":
            return f"?{name} needs a rediss:// (TLS) URL"
        expected, valid = option
        if not valid(value):
            return f"?{name}: expected {expected}"
    return None


def shown_value(raw: str) -> str:
    """Return a value as an error message may show it: any ``user:password@`` of a URL masked."""
    return re.sub(r"(?<=://)[^/@\s]*@", "***@", raw)


def normalize_mode(name: str) -> str:
    """Return a mode's canonical name: ``FAST``, ``Double_Check`` -> ``fast``, ``double-check``."""
    return name.strip().lower().replace("_", "-")


def find_config_file(cli_path: str | None, env: Mapping[str, str]) -> Path | None:
    """Return the config file to read: --config, then $SIDECAR_CONFIG, then ./config.toml."""
    for candidate, origin in ((cli_path, "--config"), (env.get("SIDECAR_CONFIG"), "SIDECAR_CONFIG")):
        if candidate:
            path = Path(candidate)
            if not path.is_file():
                raise ConfigError(f"{origin}: config file not found: {path}")
            return path
    local = Path("config.toml")
    return local if local.is_file() else None


def _read_toml(path: Path) -> TomlTable:
    try:
        with path.open("rb") as fh:
            data: TomlTable = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    return data


def _set_dotted(data: TomlTable, dotted: str, value: TomlValue) -> None:
    section, key = dotted.split(".", 1)
    table = data.setdefault(section, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{section}: expected a table")
    table[key] = value


def _env_value(name: str, dotted: str, raw: str) -> TomlValue:
    if dotted == "cache.url" and raw.strip() == "":
        return None
    if dotted in _INT_KEYS:
        try:
            return int(raw.strip())
        except ValueError:
            raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
    return raw.strip()


def load_config(cli_path: str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load the configuration, raising ConfigError with one line naming the bad key or variable."""
    env = os.environ if env is None else env
    path = find_config_file(cli_path, env)
    data: TomlTable = _read_toml(path) if path else {}
    origin = str(path) if path else "defaults"

    from_env: dict[str, str] = {}
    for name, dotted in ENV_OVERRIDES.items():
        raw = env.get(name)
        if raw is None:
            continue
        _set_dotted(data, dotted, _env_value(name, dotted, raw))
        from_env[dotted] = name

    # A file that names its own providers or modes still gets the defaults it did not redefine, and since
    # msgspec's error paths do not name dict keys, each entry is checked on its own first.
    for section, entry_type in (("providers", ProviderConfig), ("modes", ModeConfig)):
        table = data.get(section)
        if not isinstance(table, dict):
            continue
        defaults = _default_providers() if section == "providers" else _default_modes()
        for name, default in defaults.items():
            table.setdefault(name, msgspec.to_builtins(default))
        for name, entry in table.items():
            try:
                msgspec.convert(entry, entry_type)
            except msgspec.ValidationError as exc:
                err = error_path(exc, f"{section}.{name}")
                raise ConfigError(f"{origin}: {err}") from exc

    _check_prices(data, origin)

    try:
        config = msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        err = error_path(exc)
        key, reason = err.path, err.reason
        if key in from_env:
            name = from_env[key]
            if reason.startswith("Invalid enum value"):
                reason = f"expected one of {_choices(key)}"
            raise ConfigError(f"{name}: {reason} (got {shown_value(env[name])!r})") from exc
        where = f"{origin}: {key}" if key else origin
        raise ConfigError(f"{where}: {reason}") from exc
    _check_modes(config, origin)
    url = config.cache.url
    problem = None if url is None else redis_url_problem(url)
    if problem is not None:
        # Never echo the value: a cache URL may carry a password.
        where = "SIDECAR_CACHE_URL" if "cache.url" in from_env else f"{origin}: cache.url"
        raise ConfigError(f"{where}: {problem}")
    return config


def _check_prices(data: TomlTable, origin: str) -> None:
    """Merge ``[pricing.models]`` over the built-in table and check each entry (naming its model)."""
    pricing = data.get("pricing")
    if not isinstance(pricing, dict):
        return
    models = pricing.get("models")
    if not isinstance(models, dict):
        return
    for name, entry in models.items():
        try:
            msgspec.convert(entry, ModelPrice)
        except msgspec.ValidationError as exc:
            err = error_path(exc, f"pricing.models.{name}")
            raise ConfigError(f"{origin}: {err}") from exc
    # A file that prices one model keeps the built-in prices of the others.
    merged: dict[str, TomlValue] = {k: msgspec.to_builtins(v) for k, v in default_prices().items()}
    merged.update({name.lower(): entry for name, entry in models.items()})
    pricing["models"] = merged


def _choices(dotted: str) -> str:
    section, key = dotted.split(".", 1)
    hint = typing.get_type_hints(type(getattr(Config(), section)))[key]
    return ", ".join(str(arg) for arg in typing.get_args(hint))


def _check_modes(config: Config, origin: str) -> None:
    for mode_name, mode in config.modes.items():
        if normalize_mode(mode_name) != mode_name:
            # Requests name modes case-insensitively (X-Sidecar-Mode: Turbo): a key they can never match
            # is a mistake to report, not to keep silently.
            fixed = normalize_mode(mode_name)
            raise ConfigError(f"{origin}: modes.{mode_name}: mode names are lower-case, '-' (modes.{fixed})")
        for role in ("executor", "small_executor", "auditor"):
            target: str | None = getattr(mode, role)
            if target is None:
                continue
            provider, sep, model = target.partition(":")
            if not sep or not model:
                raise ConfigError(
                    f"{origin}: modes.{mode_name}.{role}: expected 'provider:model', got {target!r}"
                )
            if provider not in config.providers:
                raise ConfigError(f"{origin}: modes.{mode_name}.{role}: unknown provider {provider!r}")
