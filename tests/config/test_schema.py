"""Config schema: the built-in defaults, and the shipped config.toml spelling out exactly those."""

from __future__ import annotations

from pathlib import Path

from sidecar.config import Config, load_config

REPO = Path(__file__).resolve().parents[2]


def test_shipped_config_toml_holds_the_defaults():
    assert load_config(str(REPO / "config.toml"), env={}) == Config()


def test_defaults_without_any_file():
    config = load_config(env={})
    assert config.server.port == 8787
    assert config.pruning.backend == "heuristic"
    assert config.modes["build"].small_executor == "codestral:codestral-latest"
