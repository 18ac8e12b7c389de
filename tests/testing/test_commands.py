"""`sidecar fake-upstream`: the options, the provider profiles served under /p/<name>/v1, a clean stop on
SIGTERM, and --script handing over to the scripted model."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from sidecar.cli import main
from sidecar.testing.fake_upstream import CODE_REPLY, PROVIDER_PROFILES

pytestmark = pytest.mark.timeout(30)


def test_help_lists_the_options(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # main() rewrites it
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as info:
        main(["fake-upstream", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--host",
        "--port",
        "--latency-ms",
        "--chunk-ms",
        "--providers",
        "--script FILE",
        "--record",
    ):
        assert option in out, option
    assert ", ".join(PROVIDER_PROFILES) in out


def test_providers_are_served_until_sigterm():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "sidecar", "fake-upstream", "--port", "0", "--providers"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        assert proc.stdout is not None
        try:
            first = proc.stdout.readline()
            found = re.fullmatch(r"fake upstream listening on (http://127\.0\.0\.1:\d+)\n", first)
            assert found, first
            url = found[1]
            lines = [proc.stdout.readline().strip() for _ in PROVIDER_PROFILES]
            assert lines == [f"provider {name}: base_url = {url}/p/{name}/v1" for name in PROVIDER_PROFILES]
            body = {
                "model": "m",
                "messages": [{"role": "system", "content": "code only"}, {"role": "user", "content": "go"}],
            }
            request = urllib.request.Request(
                f"{url}/p/groq/v1/chat/completions",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as resp:
                answer = json.loads(resp.read())
            assert answer["choices"][0]["message"]["content"] == CODE_REPLY  # the routing reply rules
        finally:
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_a_bad_script_exits_2_naming_the_file(tmp_path: Path):
    script = tmp_path / "plan.json"
    script.write_text('{"scenes": []}')
    proc = subprocess.run(
        [sys.executable, "-m", "sidecar", "fake-upstream", "--port", "0", "--script", str(script)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "plan.json" in proc.stdout + proc.stderr
