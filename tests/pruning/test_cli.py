"""`sidecar prune`: output format, --json, stdin, errors, backends, lazy start-up."""

from __future__ import annotations

import argparse
import io
import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

import pytest

from sidecar.pruning.cli import configure, run
from sidecar.tokens import estimate_tokens

GOAL = "fix the upload retry backoff when the server answers 503"


def code_text(n: int = 60) -> str:
    blocks = [
        f"def handler_{i}(request):\n    value = compute_{i}(request)\n    return value" for i in range(n)
    ]
    blocks.insert(
        n // 2,
        "def upload_with_retry(session, payload):\n"
        "    for attempt in range(5):\n"
        "        response = session.post(payload)\n"
        "        if response.status == 503:\n"
        "            time.sleep(2 ** attempt)  # retry backoff\n"
        "            continue\n"
        "        return response",
    )
    return "\n\n".join(blocks) + "\n"


def _pipe(proc: subprocess.Popen[str]) -> IO[str]:
    assert proc.stdout is not None
    return proc.stdout


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "upload.py"
    path.write_text(code_text())
    return path


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sidecar prune")
    configure(parser)
    return parser.parse_args(list(argv))


def test_prints_kept_lines_verbatim_and_markers(source, capsysbinary):
    assert run(parse("--goal", GOAL, "--keep-ratio", "0.3", str(source))) == 0
    out = capsysbinary.readouterr().out.decode()
    original = source.read_text().split("\n")
    markers = [
        line
        for line in out.split("\n")
        if re.fullmatch(r"\.\.\. \[.* pruned(; recover_text prune_id=\w+)?\]", line)
    ]
    assert markers and "recover_text prune_id=" in markers[0]
    assert all(line in original for line in out.split("\n") if line not in markers)
    assert "        if response.status == 503:" in out.split("\n")
    assert not any(line.startswith("1\t") for line in out.split("\n"))
    kept_share = estimate_tokens(out) / estimate_tokens(source.read_text())
    assert kept_share <= 0.3 + 0.05


def test_json_prints_the_full_result(source, capsysbinary, tmp_path):
    goal_file = tmp_path / "goal.txt"
    goal_file.write_text(GOAL + "\n")
    assert run(parse("--goal-file", str(goal_file), "--keep-ratio", "0.5", "--json", str(source))) == 0
    data = json.loads(capsysbinary.readouterr().out)
    assert set(data) == {"prune_id", "pruned_text", "annotations", "warnings", "stats"}
    assert data["stats"]["backend"] == "heuristic" and data["stats"]["used_fallback"] is False
    assert data["stats"]["tokens_saved_est"] > 0
    assert data["annotations"] and data["annotations"][0]["kind"] == "pruned_block"
    assert data["prune_id"] in data["pruned_text"]


def test_reads_stdin_and_preserves_non_utf8_bytes(monkeypatch, capsysbinary):
    raw = b"caf\xe9 = 1\n" + code_text().encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    assert run(parse("--goal", "cafe value", "--keep-ratio", "0.9", "-")) == 0
    out = capsysbinary.readouterr().out
    assert out.startswith(b"caf\xe9 = 1\n")


def test_json_with_non_utf8_bytes_is_valid_json(monkeypatch, capsysbinary):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x\xff\n" * 50)))
    assert run(parse("--json", "-")) == 0
    json.loads(capsysbinary.readouterr().out)


def test_annotate_lines(source, capsysbinary):
    assert run(parse("--goal", GOAL, "--keep-ratio", "0.3", "--annotate-lines", str(source))) == 0
    out = capsysbinary.readouterr().out.decode()
    assert any(line.startswith("1\t") for line in out.split("\n"))


def test_source_type_option(source, capsysbinary):
    assert run(parse("--goal", GOAL, "--source-type", "docs", "--json", str(source))) == 0
    assert json.loads(capsysbinary.readouterr().out)["stats"]["source_type"] == "docs"


@pytest.mark.parametrize("ratio", ["1.5", "-0.1", "half"])
def test_bad_keep_ratio_is_a_usage_error(ratio):
    with pytest.raises(SystemExit) as info:
        parse("--keep-ratio", ratio, "x")
    assert info.value.code == 2


def test_goal_and_goal_file_are_exclusive():
    with pytest.raises(SystemExit):
        parse("--goal", "a", "--goal-file", "b", "x")


def test_missing_config_file_exits_2_with_one_line(source, capsysbinary):
    assert run(parse("--config", "/nonexistent/config.toml", str(source))) == 2
    err = capsysbinary.readouterr().err.decode()
    assert err.count("\n") == 1 and "config" in err


def test_invalid_env_value_exits_2(source, monkeypatch, capsysbinary):
    monkeypatch.setenv("KIMI_PRUNING_BACKEND", "magic")
    assert run(parse(str(source))) == 2
    assert "KIMI_PRUNING_BACKEND" in capsysbinary.readouterr().err.decode()


def test_missing_input_file_exits_2(tmp_path, capsysbinary):
    assert run(parse(str(tmp_path / "nope.txt"))) == 2
    assert "cannot read" in capsysbinary.readouterr().err.decode()


def test_deepinfra_without_key_falls_back_with_a_warning(source, capsysbinary, caplog):
    assert run(parse("--backend", "deepinfra", "--goal", GOAL, "--json", str(source))) == 0
    captured = capsysbinary.readouterr()
    data = json.loads(captured.out)
    assert data["stats"]["used_fallback"] is True and data["stats"]["backend"] == "heuristic"
    assert data["warnings"] == ["deepinfra_unavailable:no_api_key; used heuristic"]
    assert [r.getMessage() for r in caplog.records] == [
        "pruning backend deepinfra selected but DEEPINFRA_API_KEY is not set: using the heuristic backend"
    ]


@pytest.fixture
def fake_server():
    code = (
        "import argparse, sys\n"
        "from sidecar.testing.fake_deepinfra import configure, run\n"
        "p = argparse.ArgumentParser(); configure(p)\n"
        "sys.exit(run(p.parse_args(sys.argv[1:])))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--port", "0", "--api-key", "cli-key"], stdout=subprocess.PIPE, text=True
    )
    url = _pipe(proc).readline().rsplit(" ", 1)[1].strip()
    yield url
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    _pipe(proc).close()


def test_deepinfra_backend_through_the_fake_server(source, fake_server, monkeypatch, capsysbinary):
    monkeypatch.setenv("DEEPINFRA_ENDPOINT_URL", fake_server)
    monkeypatch.setenv("DEEPINFRA_API_KEY", "cli-key")
    assert (
        run(parse("--backend", "deepinfra", "--goal", GOAL, "--keep-ratio", "0.3", "--json", str(source)))
        == 0
    )
    data = json.loads(capsysbinary.readouterr().out)
    assert data["stats"]["backend"] == "deepinfra" and data["stats"]["used_fallback"] is False
    assert data["stats"]["cost_estimated_usd"] > 0
    assert len(data["pruned_text"]) < len(source.read_text())


def test_heuristic_run_imports_no_network_stack(source):
    code = (
        "import argparse, sys\n"
        "from sidecar.pruning.cli import configure, run\n"
        "p = argparse.ArgumentParser(); configure(p)\n"
        "rc = run(p.parse_args(sys.argv[1:]))\n"
        "heavy = [m for m in ('httpx', 'aiohttp', 'opentelemetry') if m in sys.modules]\n"
        "sys.stderr.write(repr(heavy))\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "--goal", GOAL, str(source)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0
    assert proc.stderr.strip().endswith("[]")
    assert "recover_text prune_id=" in proc.stdout


def test_structural_source_types_are_accepted_and_detected(tmp_path, capsysbinary):
    from tests.pruning.engine.samples import releases_json, rg_output

    search = tmp_path / "rg.txt"
    search.write_text(rg_output())
    assert run(parse("--goal", GOAL, "--source-type", "search", "--json", str(search))) == 0
    assert json.loads(capsysbinary.readouterr().out)["stats"]["source_type"] == "search"
    doc = tmp_path / "releases.json"
    doc.write_text(releases_json())
    assert run(parse("--goal", "which wheel is 2.31.0?", "--source-type", "code", "--json", str(doc))) == 0
    assert json.loads(capsysbinary.readouterr().out)["stats"]["source_type"] == "json"  # the text wins
