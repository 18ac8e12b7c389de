"""Loading the configuration once: the config file, the environment over it, validation.

Precedence, highest first: environment variables, the config file, built-in defaults.
The file is the first found of ``--config``, ``$SIDECAR_CONFIG``, ``./config.toml``.
An invalid value raises :class:`ConfigError` naming the key or the variable.
"""

from __future__ import annotations

import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path

import msgspec

from sidecar.config.checks import check_modes, redis_url_problem, shown_value
from sidecar.config.schema import (
    Config,
    ModeConfig,
    ModelPrice,
    ProviderConfig,
    default_modes,
    default_prices,
    default_providers,
)
from sidecar.errors import ConfigError
from sidecar.jsontypes import error_path

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
        defaults = default_providers() if section == "providers" else default_modes()
        for name, default in defaults.items():
            table.setdefault(name, msgspec.to_builtins(default))
        _check_entries(table, entry_type, section, origin)

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
    check_modes(config, origin)
    url = config.cache.url
    problem = None if url is None else redis_url_problem(url)
    if problem is not None:
        # Never echo the value: a cache URL may carry a password.
        where = "SIDECAR_CACHE_URL" if "cache.url" in from_env else f"{origin}: cache.url"
        raise ConfigError(f"{where}: {problem}")
    return config


def _check_entries(table: TomlTable, entry_type: type[object], section: str, origin: str) -> None:
    """Convert each entry of a table of named entries, naming `section.name` in the error."""
    for name, entry in table.items():
        try:
            msgspec.convert(entry, entry_type)
        except msgspec.ValidationError as exc:
            err = error_path(exc, f"{section}.{name}")
            raise ConfigError(f"{origin}: {err}") from exc


def _check_prices(data: TomlTable, origin: str) -> None:
    """Merge ``[pricing.models]`` over the built-in table and check each entry (naming its model)."""
    pricing = data.get("pricing")
    if not isinstance(pricing, dict):
        return
    models = pricing.get("models")
    if not isinstance(models, dict):
        return
    _check_entries(models, ModelPrice, "pricing.models", origin)
    # A file that prices one model keeps the built-in prices of the others.
    merged: dict[str, TomlValue] = {k: msgspec.to_builtins(v) for k, v in default_prices().items()}
    merged.update({name.lower(): entry for name, entry in models.items()})
    pricing["models"] = merged


def _choices(dotted: str) -> str:
    section, key = dotted.split(".", 1)
    hint = typing.get_type_hints(type(getattr(Config(), section)))[key]
    return ", ".join(str(arg) for arg in typing.get_args(hint))
