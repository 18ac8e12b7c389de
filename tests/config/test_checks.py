"""Config checks: Redis URLs, mode names and targets, values shown without their secrets."""

from __future__ import annotations

import pytest

from sidecar.config import is_redis_url, load_config, normalize_mode, shown_value
from sidecar.errors import ConfigError


def test_a_mode_name_requests_could_never_match_is_an_error(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[modes.Turbo]\nexecutor = "groq:llama-3.3-70b-versatile"\n')
    with pytest.raises(ConfigError, match=r"modes\.Turbo: mode names are lower-case, '-' \(modes\.turbo\)"):
        load_config(str(path), env={})


def test_is_redis_url() -> None:
    assert is_redis_url("redis://h:6379/0") and is_redis_url("rediss://h") and is_redis_url("unix:///s.sock")
    assert not is_redis_url(None) and not is_redis_url("") and not is_redis_url("memcached://h")


def test_a_bad_upstream_url_is_shown_without_its_password():
    with pytest.raises(ConfigError) as err:
        load_config(env={"SIDECAR_UPSTREAM_URL": "ftp://user:hunter2@example.com/v1"})
    assert "hunter2" not in str(err.value) and "ftp://***@example.com/v1" in str(err.value)


def test_shown_value_masks_the_credentials_of_a_url() -> None:
    assert shown_value("https://user:hunter2@example.com/v1") == "https://***@example.com/v1"
    assert shown_value("redis://:pw@h:6379/0 and http://a@b") == "redis://***@h:6379/0 and http://***@b"
    assert shown_value("no url here") == "no url here"


def test_normalize_mode() -> None:
    assert normalize_mode(" Double_Check ") == "double-check"
    assert normalize_mode("FAST") == "fast"
