"""The dashboard: a page at /sidecar/ and Prometheus text at /sidecar/metrics, on what pruning saved.

pruning middleware --PRUNE_RECORDER hook--> recorder   bounded history: totals, per-minute buckets,
                                                       breakdowns by path/agent/tool/kind/model/backend,
                                                       recent segments (metadata; text only on request)
pricing   model prices from [pricing] -> money saved, raw and cache-aware
access    who may read it: the MCP policy (loopback open, else the token; Origin and Host checks)
metrics   /sidecar/health's figures and the recorder's, as Prometheus text (prometheus_client)
page      the self-contained HTML (static/: html, css, js inlined; CSP by hash)
routes    the handlers and install_dashboard
"""

from sidecar.dashboard.routes import install_dashboard

__all__ = ["install_dashboard"]
