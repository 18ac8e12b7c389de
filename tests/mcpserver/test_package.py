"""The MCP package as a whole: its public API, what it may import, and README's client snippets."""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

import sidecar.mcpserver

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "sidecar" / "mcpserver"
HTTP_URL = "http://127.0.0.1:8787/sidecar/mcp"
# Layers above MCP (or beside it): MCP may not import them.
FORBIDDEN = ("sidecar.app", "sidecar.cli", "sidecar.server", "sidecar.routing", "sidecar.telemetry")
FORBIDDEN += ("sidecar.plan", "sidecar.testing", "sidecar.pruning.middleware")


def test_public_api():
    assert set(sidecar.mcpserver.__all__) == {
        "MCP_PATH",
        "McpDispatcher",
        "SessionState",
        "install_mcp",
        "serve_stdio",
    }
    assert sidecar.mcpserver.MCP_PATH == "/sidecar/mcp"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_mcp_imports_nothing_above_it():
    modules = sorted(PACKAGE.glob("*.py"))
    assert {m.stem for m in modules} >= {"jsonrpc", "tools", "dispatcher", "security", "http", "stdio"}
    for module in modules:
        bad = [n for n in imported_modules(module) if n.startswith(FORBIDDEN)]
        assert not bad, f"{module.name} imports {bad}"


def test_importing_mcp_loads_neither_the_pruning_middleware_nor_routing():
    code = (
        "import sys, sidecar.mcpserver, sidecar.mcpserver.stdio;"
        "print(sorted(m for m in sys.modules if m.startswith(('sidecar.pruning.middleware',"
        " 'sidecar.routing', 'sidecar.telemetry', 'sidecar.app'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


# ---- README.md's MCP section snippets ---------------------------------------------------------------


def readme_blocks() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## MCP pruner server", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)


def test_readme_snippets_parse_and_point_at_the_server():
    blocks = readme_blocks()
    assert all(lang in {"json", "yaml", "sh", "console"} for lang, _ in blocks), [lang for lang, _ in blocks]
    servers = [json.loads(body)["mcpServers"]["sidecar-pruner"] for lang, body in blocks if lang == "json"]
    assert any(s.get("type") == "streamableHttp" and s.get("url") == HTTP_URL for s in servers)
    assert any(s.get("command") == "sidecar" and s.get("args") == ["mcp"] for s in servers)
    continue_servers = [
        s for lang, body in blocks if lang == "yaml" for s in yaml.safe_load(body)["mcpServers"]
    ]
    assert any(s.get("type") == "streamable-http" and s.get("url") == HTTP_URL for s in continue_servers)
    assert any(s.get("command") == "sidecar" and s.get("args") == ["mcp"] for s in continue_servers)
    commands = [
        shlex.split(line)
        for lang, body in blocks
        if lang == "sh"
        for line in body.replace("\\\n", " ").splitlines()
        if line.startswith("claude ")
    ]
    assert ["claude", "mcp", "add", "--transport", "http", "sidecar-pruner", HTTP_URL] in commands
    assert any(c[:3] == ["claude", "mcp", "add"] and c[-3:] == ["--", "sidecar", "mcp"] for c in commands)


def test_readme_code_map_names_every_module():
    section = (ROOT / "README.md").read_text().split("\n## MCP pruner server", 1)[1].split("\n## ", 1)[0]
    for module in PACKAGE.glob("*.py"):
        if module.name != "__init__.py":
            assert f"`sidecar/mcpserver/{module.name}`" in section, module.name
