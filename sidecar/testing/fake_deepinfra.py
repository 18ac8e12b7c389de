"""A fake DeepInfra reranker: a real aiohttp server speaking DeepInfra's inference API.

    POST /v1/inference/<model>   Authorization: bearer <key>
         {"queries": ["<goal>"], "documents": ["...", ...]}
      -> {"scores": [0-1 per document], "input_tokens": N, "request_id": "...",
          "inference_status": {"status": "succeeded", "runtime_ms": .., "cost": .., "tokens_input": N}}

Scores come from a real, deterministic relevance function: BM25 of the query's terms (identifiers
split on camelCase and snake_case, lower-cased) in each document, IDF taken over the request's
documents, squashed to 0-1 with ``s / (s + 2)``. A wrong key gets 401, a bad body 422.

Faults, per server (``FakeDeepInfra.fault``) or per request (header ``X-Fake-Fault``):
``401 403 404 422 429 500 503`` (that status), ``slow:<ms>`` (answer correctly after a delay),
``invalid_json``, ``wrong_shape`` (no ``scores``), ``count_mismatch`` (one score short),
``nan`` (a NaN score, as Python's json writes it), ``out_of_range`` (a score of 1.5),
``drop`` (close the connection without answering).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import re
import signal
from collections import Counter
from collections.abc import Sequence

import msgspec
from aiohttp import web

from sidecar.tokens import estimate_tokens

FAULT_HEADER = "X-Fake-Fault"
DEFAULT_MODEL_PATH = "/v1/inference/Qwen/Qwen3-Reranker-0.6B"
_K1 = 1.2
_B = 0.75
_WORD = re.compile(r"[A-Za-z0-9]+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


class _Body(msgspec.Struct, forbid_unknown_fields=False):
    queries: list[str]
    documents: list[str]


def terms(text: str) -> list[str]:
    """Split ``text`` into lower-case terms, splitting identifiers on camelCase and underscores."""
    out: list[str] = []
    for word in _WORD.findall(text):
        parts = _CAMEL.findall(word)
        out.extend(part.lower() for part in parts if len(part) > 1)
    return out


def relevance(query: str, documents: Sequence[str]) -> list[float]:
    """Return a BM25 score of ``query`` in each document, squashed to 0-1 (deterministic)."""
    query_terms = set(terms(query))
    doc_terms = [Counter(terms(doc)) for doc in documents]
    n = len(documents)
    if n == 0:
        return []
    avgdl = max(sum(sum(c.values()) for c in doc_terms) / n, 1.0)
    df = {t: sum(1 for c in doc_terms if t in c) for t in query_terms}
    scores: list[float] = []
    for counts in doc_terms:
        dl = sum(counts.values())
        raw = 0.0
        for term in query_terms:
            tf = counts.get(term, 0)
            if tf == 0:
                continue
            idf = math.log(1.0 + (n - df[term] + 0.5) / (df[term] + 0.5))
            raw += idf * tf * (_K1 + 1) / (tf + _K1 * (1 - _B + _B * dl / avgdl))
        scores.append(round(raw / (raw + 2.0), 6))
    return scores


class FakeDeepInfra:
    """The fake reranker server; ``api_key`` None accepts any non-empty bearer key."""

    def __init__(self, *, api_key: str | None = "test-key", host: str = "127.0.0.1", port: int = 0) -> None:
        self.api_key = api_key
        self.host = host
        self.fault: str | None = None  # applied to every request without an X-Fake-Fault header
        self.calls = 0  # requests received on the inference path, faulty or not
        self.documents_total = 0
        self._requested_port = port
        self._port: int | None = None
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The bound port (after start)."""
        if self._port is None:
            raise RuntimeError("FakeDeepInfra is not started")
        return self._port

    @property
    def url(self) -> str:
        """The endpoint URL to configure as deepinfra.endpoint_url."""
        return f"http://{self.host}:{self.port}{DEFAULT_MODEL_PATH}"

    def make_app(self) -> web.Application:
        """Build the aiohttp application (also usable with pytest-aiohttp's aiohttp_server)."""
        app = web.Application()
        app.router.add_post("/v1/inference/{model:.+}", self._handle)
        return app

    async def start(self) -> None:
        """Bind and serve."""
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port)
        await site.start()
        address = self._runner.addresses[0]
        self._port = int(address[1])

    async def stop(self) -> None:
        """Stop serving and close connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        fault = request.headers.get(FAULT_HEADER) or self.fault or ""
        if fault.startswith("slow:"):
            await asyncio.sleep(int(fault.split(":", 1)[1]) / 1000.0)
            fault = ""
        if fault.isdigit():
            return _error(int(fault))
        if fault == "drop":
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPBadRequest()  # never reaches the client: the socket is gone
        if not self._authorised(request.headers.get("Authorization", "")):
            return _error(401)
        try:
            body = msgspec.json.decode(await request.read(), type=_Body)
        except msgspec.DecodeError:
            return _error(422)
        if len(body.queries) != 1:
            return _error(422)
        self.documents_total += len(body.documents)
        return self._answer(body, fault)

    def _authorised(self, header: str) -> bool:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return False
        return self.api_key is None or key.strip() == self.api_key

    def _answer(self, body: _Body, fault: str) -> web.Response:
        query = body.queries[0]
        scores = relevance(query, body.documents)
        tokens = sum(estimate_tokens(query) + estimate_tokens(doc) for doc in body.documents)
        if fault == "invalid_json":
            return web.Response(text='{"scores": [0.5, ', content_type="application/json")
        if fault == "wrong_shape":
            return web.json_response({"results": [{"index": i, "score": s} for i, s in enumerate(scores)]})
        if fault == "count_mismatch":
            scores = scores[:-1] if scores else [0.5]
        elif fault == "nan" and scores:
            scores[0] = math.nan
        elif fault == "out_of_range" and scores:
            scores[0] = 1.5
        payload = {
            "scores": scores,
            "input_tokens": tokens,
            "request_id": f"fake-{self.calls:08d}",
            "inference_status": {
                "status": "succeeded",
                "runtime_ms": 1,
                "cost": tokens * 0.01 / 1_000_000,
                "tokens_input": tokens,
                "tokens_generated": 0,
            },
        }
        # The stdlib encoder writes NaN as the bare literal NaN, exactly like a Python server would.
        return web.Response(text=json.dumps(payload), content_type="application/json")


def _error(status: int) -> web.Response:
    return web.json_response({"detail": {"error": f"fake fault {status}"}}, status=status)


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``sidecar fake-deepinfra`` options."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8790, help="port to bind (default 8790; 0 = any)")
    parser.add_argument("--api-key", default=None, help="the only key accepted (default: any key)")
    parser.add_argument("--fault", default=None, help="fault applied to every request (see module doc)")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM."""
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    server = FakeDeepInfra(api_key=args.api_key, host=args.host, port=args.port)
    server.fault = args.fault
    await server.start()
    print(f"fake-deepinfra listening on {server.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
    return 0
