"""Pruning: tool output cut down to what the agent's goal needs, recoverable by prune id.

    middleware  chat request -> chat.segments (tool outputs + goals) -> Pruner.prune each, under one
                deadline -> chat.segments.rewrite (only those strings change) -> Forward.body
    service     Pruner.prune(text, goal) -> stores.cache -> manager -> backends -> render -> stores.recover
    manager     the configured backend (heuristic | deepinfra), fallback to the heuristic in the same call
    engine      chunking, goal terms, line selection (pure CPU, deterministic)
    backends    base (the contract), heuristic (the engine), deepinfra (a reranker scores the chunks)
    stores      result cache, single flight, recover store; in process or shared through Redis
    render      kept lines verbatim, one marker line per pruned run
    outcomes    a decision as the caller's outcome (text, annotations, stats), a text kept whole, totals
    types, ids, spans, lifecycle (the PRUNER app key, install_pruner), cli (`sidecar prune`)

Never a point of failure: Pruner.prune never raises for a pruning failure (worst case, the text is kept
whole) and the middleware forwards the request byte-identical when anything goes wrong. Importing this
package does not import aiohttp (the CLI stays quick): the app-facing parts are pruning.lifecycle and
pruning.middleware.
"""

from sidecar.pruning.service import Pruner
from sidecar.pruning.types import LineRange, PruneOptions, PruneOutcome, PruneStats, RecoverResult

__all__ = ["LineRange", "PruneOptions", "PruneOutcome", "PruneStats", "Pruner", "RecoverResult"]
