"""The pruner as an MCP server: tools prune_text, recover_text and health, over Streamable HTTP and stdio.

    HTTP  POST /sidecar/mcp ─▶ security (Origin, token) ─▶ http (sessions, JSON or SSE) ─┐
    stdio sidecar mcp: one JSON-RPC message per line ─▶ stdio (concurrent answers) ──────┤
                                                                                          ▼
        jsonrpc (decode the envelope, typed params, error replies)
          ─▶ dispatcher (McpDispatcher: initialize, ping, tools/list, tools/call; SessionState)
          ─▶ tools (argument/output structs and their schemas) ─▶ Pruner (sidecar.pruning.service)

Modules, one concept each:
    jsonrpc     the JSON-RPC 2.0 envelope: decode, RpcError, decode_params, error replies
    tools       the three tools: PruneTextArgs, PruneTextResult..., json_schema, Tool, pruner_tools
    dispatcher  McpDispatcher and SessionState: the method table, version negotiation, tool errors
    security    the Origin check, the token policy, the refusal of MCP on a non-loopback bind
    http        McpHttp and install_mcp: Streamable HTTP at /sidecar/mcp, sessions, /sidecar/health
    stdio       serve_stdio and the ``sidecar mcp`` command (configure, run)

The package sits above ``sidecar.pruning`` (it serves the app's Pruner) and below ``sidecar.app``;
the caller identity that scopes prune ids is ``sidecar.proxy.identity.caller_identity``, the same
hash as the pruning middleware's, so an id pruned through the proxy recovers over MCP for the same key.
"""

from __future__ import annotations

from sidecar.mcpserver.dispatcher import McpDispatcher, SessionState
from sidecar.mcpserver.http import MCP_PATH, install_mcp
from sidecar.mcpserver.stdio import serve_stdio

__all__ = ["MCP_PATH", "McpDispatcher", "SessionState", "install_mcp", "serve_stdio"]
