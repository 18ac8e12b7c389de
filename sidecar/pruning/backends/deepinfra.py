"""The DeepInfra reranker backend: chunks scored by a cloud cross-encoder.

    DeepInfraPruningEngine.prune(request)
      -> chunk_lines (structure-aware chunks, bounded in tokens)
      -> DeepInfraClient.rerank(goal, chunks)  (<= max_docs per call, more batches in parallel)
      -> chunk scores spread to their lines, blended with the heuristic's line scores
      -> select_lines (the same budget-aware selection the heuristic uses)

Timeout: ``deepinfra.timeout_ms`` (``DEEPINFRA_TIMEOUT_MS``), default 800 ms. The reranker sits on
an interactive path (an agent waits for the proxied LLM call), and a small reranker answers a few
hundred short documents in 100-400 ms; past 800 ms the local heuristic (a few ms) is the better
deal, so the manager falls back rather than stall the agent. The same value bounds connect, read,
write and pool waits, and the manager bounds the whole (parallel) call with it again.

Errors are :class:`~sidecar.errors.BackendError` whose ``cause`` is metadata only: ``http_<status>``,
``timeout``, ``connect_error``, ``protocol_error``, ``transport_error``, ``invalid_json``,
``invalid_response``, ``score_count_mismatch``, ``nan_score``, ``score_out_of_range``. Never the
text, the goal, the key or a response body.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Sequence

import httpx
import msgspec
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from sidecar.errors import BackendError
from sidecar.pruning.backends.heuristic import score_lines
from sidecar.pruning.engine import THREAD_MIN_CHARS
from sidecar.pruning.engine.chunking import Chunk, chunk_lines
from sidecar.pruning.engine.selection import select_lines
from sidecar.pruning.types import PruneRequest, Selection
from sidecar.tasks import spawn
from sidecar.tokens import estimate_tokens

# Documents longer than this are cut before sending: chunks are bounded in tokens, but a single
# minified line can be megabytes, and the reranker only needs its start to judge relevance.
MAX_DOC_CHARS = 4096
_NON_FINITE = re.compile(rb"\b(?:NaN|Infinity)\b")
_tracer = trace.get_tracer("sidecar")  # a no-op until sidecar.telemetry.service sets a provider


class InferenceStatus(msgspec.Struct, frozen=True, kw_only=True):
    status: str | None = None
    runtime_ms: float | None = None
    cost: float | None = None
    tokens_input: int | None = None


class RerankResponse(msgspec.Struct, frozen=True, kw_only=True):
    """DeepInfra's reranker answer; unknown fields are ignored, ``scores`` is required."""

    scores: list[float]
    input_tokens: int | None = None
    request_id: str | None = None
    inference_status: InferenceStatus | None = None


class RerankRequest(msgspec.Struct, frozen=True, kw_only=True):
    queries: list[str]
    documents: list[str]


class RerankResult(msgspec.Struct, frozen=True, kw_only=True):
    """Validated scores (finite, 0-1, one per document) and the input tokens billed."""

    scores: list[float]
    input_tokens: int
    request_id: str | None = None


_decoder = msgspec.json.Decoder(RerankResponse)
_encoder = msgspec.json.Encoder()


def parse_rerank_response(content: bytes, document_count: int, sent_tokens_est: int) -> RerankResult:
    """Validate a reranker response body strictly, raising BackendError with a metadata-only cause."""
    try:
        response = _decoder.decode(content)
    except msgspec.ValidationError:
        raise BackendError("invalid_response") from None
    except (msgspec.DecodeError, RecursionError):
        # Python-based servers emit NaN/Infinity literals, which are not JSON.
        raise BackendError("nan_score" if _NON_FINITE.search(content) else "invalid_json") from None
    scores = response.scores
    if len(scores) != document_count:
        raise BackendError("score_count_mismatch")
    for score in scores:
        if not math.isfinite(score):
            raise BackendError("nan_score")
        if score < 0.0 or score > 1.0:
            raise BackendError("score_out_of_range")
    tokens = response.input_tokens
    if tokens is None and response.inference_status is not None:
        tokens = response.inference_status.tokens_input
    if tokens is None or tokens < 0:
        tokens = sent_tokens_est
    return RerankResult(scores=scores, input_tokens=tokens, request_id=response.request_id)


class DeepInfraClient:
    """A thin async client for DeepInfra's reranker inference endpoint."""

    def __init__(
        self,
        *,
        endpoint_url: str,
        api_key: str,
        timeout_ms: int = 800,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self._headers = {"Authorization": f"bearer {api_key}", "Content-Type": "application/json"}
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_ms / 1000.0),
            transport=transport,
            follow_redirects=False,
            # Only a handful of parallel batches per call; keep them warm between calls.
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=8),
        )

    async def rerank(self, query: str, documents: Sequence[str]) -> RerankResult:
        """Score ``documents`` against ``query``; raise BackendError on any failure."""
        # A CLIENT span, child of the prune span. Metadata only: never the key, a body or the URL.
        with _tracer.start_as_current_span(
            "deepinfra.rerank", kind=SpanKind.CLIENT, record_exception=False, set_status_on_exception=False
        ) as span:
            if span.is_recording():
                span.set_attributes(
                    {
                        "http.request.method": "POST",
                        "server.address": httpx.URL(self.endpoint_url).host,
                        "sidecar.deepinfra.documents": len(documents),
                    }
                )
            try:
                result = await self._rerank(query, documents)
            except BaseException as exc:
                cause = exc.cause if isinstance(exc, BackendError) else type(exc).__name__
                span.set_attribute("error.type", cause)
                if cause.startswith("http_") and cause[5:].isdigit():
                    span.set_attribute("http.response.status_code", int(cause[5:]))
                span.set_status(StatusCode.ERROR)
                raise
            span.set_attribute("http.response.status_code", 200)
            span.set_attribute("sidecar.deepinfra.input_tokens", result.input_tokens)
            return result

    async def _rerank(self, query: str, documents: Sequence[str]) -> RerankResult:
        body = _encoder.encode(RerankRequest(queries=[query], documents=list(documents)))
        sent_est = sum(estimate_tokens(doc) for doc in documents) + estimate_tokens(query) * len(documents)
        try:
            response = await self._client.post(self.endpoint_url, content=body, headers=self._headers)
        except httpx.TimeoutException:
            raise BackendError("timeout") from None
        except httpx.ConnectError:
            raise BackendError("connect_error") from None
        except httpx.RemoteProtocolError:
            raise BackendError("protocol_error") from None
        except httpx.TransportError as exc:
            raise BackendError(f"transport_error:{type(exc).__name__}") from None
        if response.status_code != 200:
            raise BackendError(f"http_{response.status_code}")
        return parse_rerank_response(response.content, len(documents), sent_est)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def _batches(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class DeepInfraPruningEngine:
    """Backend "deepinfra": rerank structure-aware chunks against the goal, then select lines.

    Contract (see ``base.Backend``): raises BackendError on any reranker failure; never falls back
    itself (the manager does); never logs content.
    """

    name = "deepinfra"

    def __init__(
        self,
        client: DeepInfraClient,
        *,
        max_docs: int = 256,
        chunk_tokens: int = 256,
        heuristic_weight: float = 0.25,
    ) -> None:
        self._client = client
        self._max_docs = max_docs
        self._chunk_tokens = chunk_tokens
        # The reranker sees chunks; the heuristic's line scores order lines inside a chunk and carry
        # its orientation rules (signatures, error lines). A minority weight keeps the reranker in charge.
        self._heuristic_weight = heuristic_weight

    async def prune(self, request: PruneRequest) -> Selection:
        """Score chunks with the reranker and select lines within the request's budget."""
        lines = request.text.split("\n")
        # CPU steps go to a worker thread on large texts, so the event loop keeps serving meanwhile.
        large = len(request.text) >= THREAD_MIN_CHARS
        if large:
            chunks, documents, sent = await asyncio.to_thread(self._documents, lines, request)
        else:
            chunks, documents, sent = self._documents(lines, request)
        # The heuristic's line scores do not depend on the reranker: compute them while it answers.
        local: asyncio.Task[list[float]] | None = None
        if self._heuristic_weight > 0.0:
            local = spawn(asyncio.to_thread(score_lines, lines, request.goal, request.source_type))
        try:
            results = await self._rerank_all(request.goal, documents) if documents else []
        except BaseException:
            if local is not None:
                local.cancel()
            raise
        chunk_scores = [0.0] * len(chunks)
        scores = [score for result in results for score in result.scores]
        for index, score in zip(sent, scores, strict=True):
            chunk_scores[index] = score
        line_scores = self._line_scores(
            lines, chunks, chunk_scores, await local if local is not None else None
        )
        if large:
            keep = await asyncio.to_thread(select_lines, lines, line_scores, request)
        else:
            keep = select_lines(lines, line_scores, request)
        tokens = sum(result.input_tokens for result in results)
        return Selection(keep=keep, backend=self.name, reranker_input_tokens=tokens)

    def _documents(self, lines: list[str], request: PruneRequest) -> tuple[list[Chunk], list[str], list[int]]:
        chunks = chunk_lines(lines, request.source_type, max_tokens=self._chunk_tokens)
        documents: list[str] = []
        sent: list[int] = []  # chunk index of each document sent
        for index, chunk in enumerate(chunks):
            doc = "\n".join(lines[chunk.start : chunk.end])
            if doc.strip():  # blank runs carry nothing to rank: do not pay for them
                documents.append(doc[:MAX_DOC_CHARS])
                sent.append(index)
        return chunks, documents, sent

    async def _rerank_all(self, goal: str, documents: list[str]) -> list[RerankResult]:
        batches = _batches(documents, self._max_docs)
        if len(batches) == 1:
            return [await self._client.rerank(goal, batches[0])]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._client.rerank(goal, batch)) for batch in batches]
        except BaseExceptionGroup as group_error:
            # TaskGroup cancelled the sibling batches; surface one metadata-only cause.
            for exc in group_error.exceptions:
                if isinstance(exc, BackendError):
                    raise BackendError(exc.cause) from None
            raise BackendError(type(group_error.exceptions[0]).__name__) from None
        return [task.result() for task in tasks]

    def _line_scores(
        self, lines: list[str], chunks: Sequence[Chunk], chunk_scores: list[float], local: list[float] | None
    ) -> list[float]:
        scores = [0.0] * len(lines)
        for chunk, score in zip(chunks, chunk_scores, strict=True):
            for i in range(chunk.start, min(chunk.end, len(lines))):
                scores[i] = score
        top = max(local, default=0.0) if local is not None else 0.0
        if local is None or top <= 0.0:
            return scores
        weight = self._heuristic_weight
        return [(1.0 - weight) * s + weight * (h / top) for s, h in zip(scores, local, strict=True)]

    async def aclose(self) -> None:
        """Close the underlying client."""
        await self._client.aclose()
