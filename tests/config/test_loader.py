"""Config loading: file discovery, env precedence, one-line errors naming the key or variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.config import load_config
from sidecar.errors import ConfigError


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cli = tmp_path / "cli.toml"
    cli.write_text("[server]\nport = 1001\n")
    env_file = tmp_path / "env.toml"
    env_file.write_text("[server]\nport = 1002\n")
    (tmp_path / "config.toml").write_text("[server]\nport = 1003\n")
    monkeypatch.chdir(tmp_path)
    assert load_config(str(cli), env={"SIDECAR_CONFIG": str(env_file)}).server.port == 1001
    assert load_config(None, env={"SIDECAR_CONFIG": str(env_file)}).server.port == 1002
    assert load_config(None, env={}).server.port == 1003


def test_env_wins_over_file(tmp_path: Path):
    path = tmp_path / "c.toml"
    path.write_text('[pruning]\nbackend = "heuristic"\nmin_chars_to_prune = 10\n')
    config = load_config(
        str(path),
        env={
            "KIMI_PRUNING_BACKEND": "deepinfra",
            "SIDECAR_MIN_CHARS_TO_PRUNE": "500",
            "DEEPINFRA_TIMEOUT_MS": "1200",
            "DEEPINFRA_MAX_DOCS": "64",
            "DEEPINFRA_ENDPOINT_URL": "http://127.0.0.1:1/rerank",
            "SIDECAR_UPSTREAM_URL": "http://127.0.0.1:2",
            "SIDECAR_CACHE_URL": "redis://127.0.0.1:6379/0",
        },
    )
    assert config.pruning.backend == "deepinfra"
    assert config.pruning.min_chars_to_prune == 500
    assert config.deepinfra.timeout_ms == 1200
    assert config.deepinfra.max_docs == 64
    assert config.deepinfra.endpoint_url == "http://127.0.0.1:1/rerank"
    assert config.upstream.url == "http://127.0.0.1:2"
    assert config.cache.url == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"KIMI_PRUNING_BACKEND": "gpu"}, "KIMI_PRUNING_BACKEND"),
        ({"DEEPINFRA_TIMEOUT_MS": "fast"}, "DEEPINFRA_TIMEOUT_MS"),
        ({"DEEPINFRA_TIMEOUT_MS": "0"}, "DEEPINFRA_TIMEOUT_MS"),
        ({"DEEPINFRA_MAX_DOCS": "5000"}, "DEEPINFRA_MAX_DOCS"),
        ({"SIDECAR_UPSTREAM_URL": "ftp://x"}, "SIDECAR_UPSTREAM_URL"),
        ({"SIDECAR_MIN_CHARS_TO_PRUNE": "-1"}, "SIDECAR_MIN_CHARS_TO_PRUNE"),
        ({"SIDECAR_CACHE_URL": "http://user:hunter2@cache:6379"}, "SIDECAR_CACHE_URL"),
    ],
)
def test_bad_env_value_names_the_variable(env: dict[str, str], named: str):
    with pytest.raises(ConfigError) as info:
        load_config(env=env)
    message = str(info.value)
    assert message.startswith(named + ":")
    assert "\n" not in message
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ("[server]\nport = 70000\n", "server.port"),
        ("[server]\nport = 'x'\n", "server.port"),
        ("[pruning]\nmax_prune_ratio = 1.5\n", "pruning.max_prune_ratio"),
        ("[pruning]\nbogus = 1\n", "bogus"),
        ("[providers.x]\nbase_url = 'http://h'\n", "providers.x"),
        ("[modes.fast]\nexecutor = 'nowhere:model'\n", "modes.fast.executor"),
        ("[modes.fast]\nexecutor = 'no-colon'\n", "modes.fast.executor"),
        ("server = [", "invalid TOML"),
    ],
)
def test_bad_file_value_names_the_key(tmp_path: Path, toml: str, named: str):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_config(str(path), env={})
    assert named in str(info.value)
    assert str(path) in str(info.value)


def test_missing_config_file_is_an_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="--config: config file not found"):
        load_config(str(tmp_path / "nope.toml"), env={})
    with pytest.raises(ConfigError, match="SIDECAR_CONFIG"):
        load_config(None, env={"SIDECAR_CONFIG": str(tmp_path / "nope.toml")})


def test_user_providers_keep_the_default_ones(tmp_path: Path):
    path = tmp_path / "c.toml"
    path.write_text("[providers.local]\nbase_url = 'http://127.0.0.1:1/v1'\napi_key_env = 'LOCAL_KEY'\n")
    config = load_config(str(path), env={})
    assert set(config.providers) == {"local", "deepseek", "groq", "gemini", "codestral"}


def test_pricing_entries_merge_over_the_built_in_table(tmp_path: Path):
    path = tmp_path / "c.toml"
    path.write_text(
        "[pricing]\ndefault_input_usd_per_mtok = 1.5\n[pricing.models]\n"
        '"My-Model" = { input_usd_per_mtok = 0.5, cached_read_multiplier = 0.2 }\n'
        '"gpt-5" = { input_usd_per_mtok = 1.0 }\n'
    )
    config = load_config(str(path), env={})
    assert config.pricing.default_input_usd_per_mtok == 1.5
    assert config.pricing.models["my-model"].cached_read_multiplier == 0.2
    assert config.pricing.models["gpt-5"].input_usd_per_mtok == 1.0
    assert config.pricing.models["claude-sonnet-4"].input_usd_per_mtok == 3.0  # kept


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[pricing.models]\n"gpt-5" = { input_usd_per_mtok = -1 }\n',
            "pricing.models.gpt-5.input_usd_per_mtok",
        ),
        ('[pricing.models]\n"m" = { cached_read_multiplier = 0.1 }\n', "pricing.models.m.input_usd_per_mtok"),
        (
            '[pricing.models]\n"m" = { input_usd_per_mtok = 1, cached_read_multiplier = 2 }\n',
            "pricing.models.m",
        ),
        ("[pricing]\ncached_read_multiplier = 1.5\n", "pricing.cached_read_multiplier"),
        ("[dashboard]\nrecent_segments = 0\n", "dashboard.recent_segments"),
        ('[dashboard]\nshow_text = "yes"\n', "dashboard.show_text"),
    ],
)
def test_bad_pricing_or_dashboard_value_names_the_key(tmp_path: Path, toml: str, message: str):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as err:
        load_config(str(path), env={})
    assert message in str(err.value)
    assert "\n" not in str(err.value)
