"""sidecar: a reverse proxy for coding agents that prunes bulky tool output."""

__version__ = "0.1.0"
