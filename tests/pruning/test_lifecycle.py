"""install_pruner: one Pruner per app, opened with it from its config, reported in /sidecar/health, closed
with it; and the service itself stays importable without aiohttp (the CLI's start-up)."""

from __future__ import annotations

import subprocess
import sys

import msgspec
from aiohttp.test_utils import TestClient, TestServer

from sidecar.app import build_app
from sidecar.pruning.lifecycle import PRUNER, install_pruner
from sidecar.pruning.service import Pruner
from sidecar.pruning.types import LineRange, PruneOptions

TEXT = "\n".join(f"line {i}: value = compute({i})" for i in range(200))


async def test_the_pruner_opens_and_closes_with_the_app(fake_upstream, make_config):
    config = make_config(fake_upstream.url)
    config = msgspec.structs.replace(
        config, pruning=msgspec.structs.replace(config.pruning, min_keep_lines=3)
    )
    app = build_app(config, installers=[install_pruner])
    assert PRUNER not in app  # nothing is opened before start-up
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        pruner = app[PRUNER]
        assert isinstance(pruner, Pruner) and pruner.health().backend == "heuristic"
        assert pruner.default_options().min_keep_lines == 3  # built from the app's config
        outcome = await pruner.prune(TEXT, "line 42", options=PruneOptions(keep_ratio=0.2))
        assert outcome.stats.pruned_lines > 0
        health = await (await client.get("/sidecar/health")).json()
        assert health["pruning"]["calls_total"] == 1 and health["pruning"]["recover_store_entries"] == 1
        got = await pruner.recover(outcome.prune_id, [LineRange(start_line=1, end_line=1)])
        assert got.raw_text == "line 0: value = compute(0)"
    finally:
        await client.close()
    assert pruner.recover_store.stats() == (0, 0)  # closed: the originals are gone with the app


async def test_each_app_gets_its_own_pruner(fake_upstream, make_config):
    apps = [build_app(make_config(fake_upstream.url), installers=[install_pruner]) for _ in range(2)]
    clients = [TestClient(TestServer(app)) for app in apps]
    for client in clients:
        await client.start_server()
    try:
        assert apps[0][PRUNER] is not apps[1][PRUNER]
    finally:
        for client in clients:
            await client.close()


def test_the_service_imports_without_aiohttp():
    code = "import sys, sidecar.pruning.service\nprint('aiohttp' in sys.modules)\n"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert proc.stdout.strip() == "False"
