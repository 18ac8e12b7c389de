"""The pruning engine: pure, deterministic CPU work over one text (no I/O, no event loop).

    kinds      what a text is (code, logs, docs, json, search, diff, listing), from its hint and content
    chunking   lines -> chunks by source type (definitions, log records, sections); type guessing
    terms      goal terms and the lines that match them (words, numbers, versions; a failure question)
    selection  per-line scores + budget -> which lines to keep (whole units, few markers)
    fit        line by line to the exact budget: trim what is over, top up what is left
    orient     what orients a reader: enclosing definitions, a log's errors, a listing's parents

Per kind: ``logs`` (test runs, failures, JSON lines), ``json_kind`` and ``layout`` (JSON, laid out when on
one line, after a response head or curl's trace), ``search`` and ``diagnostics`` (grep results; checkers'
findings grouped by file), ``diffs``, ``listing``; within code, ``yaml_kind`` (YAML's keys and items),
``describe`` (kubectl describe's trouble lines), ``runs`` (long homogeneous runs), ``comments``,
``imports``, ``idioms`` (the idioms of a kind of change: a port, a newer Python, a security fix).

Backends (sidecar.pruning.backends) call it; the heuristic backend is nothing but this engine.
"""

from __future__ import annotations

# Texts at least this long run the engine on a worker thread: their 4-150 ms of pure Python would
# otherwise stall every other request on the event loop (64 agents' 100,000-character outputs, pruned
# back to back in one loop turn, held /sidecar/healthz for 250 ms), while on a thread the loop still
# gets the GIL at every switch interval (5 ms). Shorter texts are not worth the hop (~0.1 ms).
THREAD_MIN_CHARS = 32 * 1024
