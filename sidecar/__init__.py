"""sidecar: a reverse proxy for coding agents that prunes bulky tool output before it is billed.

    agent ──HTTP──▶ app (stats ▸ telemetry ▸ pruning ▸ routing middlewares) ──▶ proxy ──▶ upstream LLM
                     │                         │                   │
                     │                    pruning.service     routing.router ──▶ providers (modes)
                     └─ /sidecar/: health, readiness, mcpserver (MCP tools), ...

Packages, bottom layer first (a module imports only from its own layer or below; `lint-imports`):
kernel modules here (config, errors, keys, stats, tokens, tasks, jsontypes, resilience) → chat (pure
functions over request bodies) → proxy (the transparent relay, the chat-path table) → pruning (the
service, engine, backends, stores, middleware) → routing | mcpserver | telemetry | plan → app → server →
testing (the fakes and the demo) → cli. README's "Code map" lists every module.
"""

__version__ = "0.1.0"
