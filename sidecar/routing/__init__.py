"""Routing: execution modes, per-provider limits, prompt stripping, output constraints, DOUBLE-CHECK.

    X-Sidecar-Mode / sidecar/<mode> ─▶ middleware ─▶ router.destination(provider:model)
                                                     └▶ limiter (FIFO slots, Retry-After) ─▶ provider
                                                         └▶ doublecheck (audit by a second provider)
    no mode ─▶ middleware ─▶ X-Sidecar-Strip / X-Sidecar-Output applied, if asked ─▶ the configured upstream

Opt-in only: a request that asks for nothing goes through untouched, its body not even decoded.
"""

from sidecar.routing.middleware import install_routing

__all__ = ["install_routing"]
