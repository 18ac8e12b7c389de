"""The transparent proxy: one request in, the same request upstream, the answer streamed back.

paths       endpoint(method, path): the one table of LLM API paths (pruning, routing, telemetry read it)
forward     read_body once (413 past the limit, 408 past the body timeout) -> Forward (what middlewares
            changed) -> open_upstream -> relay chunk by chunk (ExchangeObserver for telemetry, StreamEditor
            for the audit)
upstream    new_session, open_upstream: the pooled client, its bounded pool wait (503) and timeouts
identity    caller_identity: a non-reversible id of the API key (prune ids recover per caller)
responses   error_response: the sidecar's own errors in the OpenAI error shape
"""

from sidecar.proxy.forward import Forward, forward, forward_of, read_body, relay
from sidecar.proxy.identity import caller_identity
from sidecar.proxy.paths import Endpoint, endpoint
from sidecar.proxy.responses import error_response

__all__ = [
    "Endpoint",
    "Forward",
    "caller_identity",
    "endpoint",
    "error_response",
    "forward",
    "forward_of",
    "read_body",
    "relay",
]
