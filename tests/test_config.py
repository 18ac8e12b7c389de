"""Config: defaults, file discovery, env precedence, one-line errors naming the key or variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sidecar.config import Config, load_config
from sidecar.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_shipped_config_toml_holds_the_defaults():
    assert load_config(str(REPO / "config.toml"), env={}) == Config()


def test_defaults_without_any_file():
    config = load_config(env={})
    assert config.server.port == 8787
    assert config.pruning.backend == "heuristic"
    assert config.modes["build"].small_executor == "codestral:codestral-latest"


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


def test_serve_exits_2_with_one_line(tmp_path: Path):
    env = {"PATH": "/usr/bin:/bin", "KIMI_PRUNING_BACKEND": "nope"}
    proc = subprocess.run(
        [sys.executable, "-m", "sidecar", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=30,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "KIMI_PRUNING_BACKEND" in lines[0]


def test_a_mode_name_requests_could_never_match_is_an_error(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[modes.Turbo]\nexecutor = "groq:llama-3.3-70b-versatile"\n')
    with pytest.raises(ConfigError, match=r"modes\.Turbo: mode names are lower-case, '-' \(modes\.turbo\)"):
        load_config(str(path), env={})
