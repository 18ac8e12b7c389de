"""Checks of config values the struct types cannot express, and how a bad value is shown.

A Redis URL is checked as redis-py will read it (scheme, host and port, database path, query options),
so a bad ``cache.url`` fails at start-up rather than at the first connection. Mode names are
canonical (lower case, ``-``) and every mode names a known provider. Error messages never quote a
secret: a URL's ``user:password@`` is masked and a Redis URL is never echoed at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from sidecar.config.schema import Config
from sidecar.errors import ConfigError

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


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


def check_modes(config: Config, origin: str) -> None:
    """Check mode names are canonical and each role names a known provider as ``provider:model``."""
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
