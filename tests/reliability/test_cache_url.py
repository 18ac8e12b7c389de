"""SIDECAR_CACHE_URL mistakes stop start-up: one line, exit 2, never a piece of the password (row 8)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sidecar.config import load_config, redis_url_problem
from sidecar.errors import ConfigError

pytestmark = pytest.mark.timeout(120)

SECRET = "Pa55word"
BAD_URLS = [
    f"redis://u:{SECRET}#2@127.0.0.1:6390/0",
    f"redis://u:{SECRET}/2@127.0.0.1:6390/0",
    f"redis://u:{SECRET}?2@127.0.0.1:6390/0",
    f"redis://:{SECRET}@[::1/0",
    "redis://[::1",
    f"redis://u:{SECRET}@127.0.0.1:99999/0",
    f"redis://u:{SECRET}@127.0.0.1:6379/zero",
    f"redis://u:{SECRET}@127.0.0.1:6379/0?ssl_cert_reqs=bogus",
    f"rediss://u:{SECRET}@127.0.0.1:6379/0?ssl_cert_reqs=bogus",
    f"redis://u:{SECRET}@127.0.0.1:6379/0?socket_timeout=abc",
    f"redis://u:{SECRET}@127.0.0.1:6379/0?socket_timeout=-1",
    f"redis://u:{SECRET}@127.0.0.1:6379/0?{SECRET}=1",
    f"redis://u:{SECRET}@127.0.0.1:6379/0?health_check_interval={SECRET}",
    "unix://",
]
GOOD_URLS = [
    "redis://127.0.0.1:6379/0",
    "redis://u:p%23ss%2Fw%3Fd%40@127.0.0.1:6379/0",
    "REDIS://localhost",
    "redis://[::1]:6379/2",
    "rediss://h:6380/0?ssl_cert_reqs=none&ssl_check_hostname=false",
    "redis://h/0?socket_timeout=0.1&health_check_interval=5",
    "unix:///run/redis.sock?db=1",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_cache_url_is_a_config_error_without_the_secret(url: str):
    with pytest.raises(ConfigError) as caught:
        load_config(env={"SIDECAR_CACHE_URL": url})
    message = str(caught.value)
    assert message.startswith("SIDECAR_CACHE_URL: ")
    assert "\n" not in message
    for piece in (SECRET, SECRET[:4], "bogus", "abc", "zero"):
        assert piece not in message, message


@pytest.mark.parametrize("url", GOOD_URLS)
def test_good_cache_urls_pass(url: str):
    assert redis_url_problem(url) is None
    assert load_config(env={"SIDECAR_CACHE_URL": url}).cache.url == url


@pytest.mark.slow
@pytest.mark.parametrize("url", BAD_URLS[:5] + BAD_URLS[7:9])
def test_serve_refuses_a_bad_cache_url(url: str, tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "sidecar", "serve", "--port", "0"],
        env={"SIDECAR_CACHE_URL": url, "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sidecar: config error: SIDECAR_CACHE_URL: "), proc.stderr
    assert SECRET[:4] not in proc.stderr and "Traceback" not in proc.stderr
