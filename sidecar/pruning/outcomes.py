"""What a prune call returns, and what it adds to the totals the health report sums.

    build_outcome(text, request, decision)  kept lines verbatim, a marker per pruned run, annotations, stats
    unpruned_outcome(text, prune_id, ...)   the text kept whole, with the warning that says why
    Totals.count(outcome, hit)              calls, hits, tokens before and saved, DeepInfra runs, fallbacks

A rendering whose markers would cost more tokens than the lines they replace is dropped for the original
text (unless lines are annotated: numbered lines cost more by design). Token counts are
:func:`sidecar.tokens.estimate_tokens`, the same estimate the rest of the sidecar reports.
"""

from __future__ import annotations

from sidecar.pruning.render import render
from sidecar.pruning.types import Annotation, Decision, PruneOutcome, PruneRequest, PruneStats, SourceType
from sidecar.tokens import estimate_tokens


def build_outcome(
    text: str, request: PruneRequest, decision: Decision, *, price_usd_per_mtok: float
) -> PruneOutcome:
    """Render a backend's decision: kept lines and markers, one annotation per pruned run, the stats.

    The backend chose among the lines of ``request.text``: ``text`` itself, or its re-layout (a
    one-line JSON document laid out by ``engine.layout``, never with annotated lines); a re-layout that
    prunes nothing gives way to ``text`` as it was. ``price_usd_per_mtok`` prices the reranker's input
    tokens (``deepinfra.price_usd_per_million_tokens``).
    """
    lines = request.text.split("\n")
    keep = decision.keep
    options = request.options
    before = estimate_tokens(text)
    rendered = render(
        lines,
        keep,
        request.prune_id,
        annotate_lines=options.annotate_lines,
        include_markers=options.include_markers,
    )
    pruned_text, blocks = rendered.text, rendered.blocks
    laid_for_nothing = not blocks and request.text != text
    if laid_for_nothing or blocks and not options.annotate_lines and estimate_tokens(pruned_text) >= before:
        # Laid out for nothing, or markers cost more than the lines they replace: the original.
        lines = text.split("\n")
        keep, pruned_text, blocks = [True] * len(lines), text, []
    kept = sum(keep)
    after = estimate_tokens(pruned_text)
    annotations = [
        Annotation(
            kind="pruned_block",
            original_start_line=b.start_line,
            original_end_line=b.end_line,
            pruned_line_count=b.count,
            reason=f"low relevance to the goal ({decision.backend})",
            marker=b.marker,
        )
        for b in blocks
    ]
    pruned = len(lines) - kept
    stats = PruneStats(
        backend=decision.backend,
        original_lines=len(lines),
        kept_lines=kept,
        pruned_lines=pruned,
        pruned_ratio=round(pruned / len(lines), 4) if lines else 0.0,
        tokens_est_before=before,
        tokens_est_after=after,
        tokens_saved_est=max(0, before - after),
        elapsed_ms=round(decision.elapsed_ms, 3),
        latency_ms=0.0,
        used_fallback=decision.used_fallback,
        cost_estimated_usd=decision.reranker_input_tokens * price_usd_per_mtok / 1_000_000,
        source_type=request.source_type,
        deepinfra_selected=decision.deepinfra_selected,
    )
    return PruneOutcome(
        prune_id=request.prune_id,
        pruned_text=pruned_text,
        annotations=annotations,
        warnings=list(decision.warnings),
        stats=stats,
    )


def unpruned_outcome(
    text: str, prune_id: str, declared: SourceType | None, warning: str, *, backend: str
) -> PruneOutcome:
    """Return the outcome of a text kept whole (pruning failed or was shed), ``warning`` saying why."""
    tokens = estimate_tokens(text)
    n = len(text.split("\n"))
    stats = PruneStats(
        backend=backend,
        original_lines=n,
        kept_lines=n,
        pruned_lines=0,
        pruned_ratio=0.0,
        tokens_est_before=tokens,
        tokens_est_after=tokens,
        tokens_saved_est=0,
        elapsed_ms=0.0,
        latency_ms=0.0,
        used_fallback=True,
        cost_estimated_usd=0.0,
        source_type=declared or "code",
    )
    return PruneOutcome(prune_id=prune_id, pruned_text=text, annotations=[], warnings=[warning], stats=stats)


class Totals:
    """The pruning aggregates since start-up that ``/sidecar/health`` reports (see Pruner.health)."""

    __slots__ = ("calls", "deepinfra", "fallbacks", "cost", "before", "saved", "hits", "misses", "shed")

    def __init__(self) -> None:
        self.calls = self.deepinfra = self.fallbacks = self.before = self.saved = self.hits = self.misses = 0
        self.shed = 0
        self.cost = 0.0

    def count(self, outcome: PruneOutcome, hit: bool) -> None:
        """Add one prune call: a hit counts its tokens but no backend run, cost or fallback."""
        s = outcome.stats
        self.calls += 1
        self.before += s.tokens_est_before
        self.saved += s.tokens_saved_est
        if hit:
            self.hits += 1
            return
        self.misses += 1
        self.cost += s.cost_estimated_usd
        if s.deepinfra_selected:
            self.deepinfra += 1
            self.fallbacks += int(s.used_fallback)
