"""Systems under test that the tests control: a well-behaved one over a fixed ranking
and deliberately misbehaving ones (timeouts, 500s, malformed JSON, wrong types, flapping).

Serve them with :func:`tests.servers.serve_app`. Each app counts the requests it saw
(``app.state.calls``) so tests can assert retries exactly.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

#: query text -> [(doc_id, score), ...] best first
Rankings = Mapping[str, Sequence[tuple[str, float]]]

MODES = ("ok", "timeout", "error500", "malformed", "wrong_types", "no_retrieve",
         "no_health", "flaky", "bad_embed", "rate_limited", "redirect")


def system_app(rankings: Rankings | Callable[[str], Sequence[tuple[str, float]]] = None, *,
               mode: str = "ok", latency_s: float = 0.0, fail_rate: float = 0.0,
               fail_queries: Sequence[str] = (), seed: int = 0,
               embedding: Sequence[float] | None = (0.1, 0.2, 0.3),
               api_key: str | None = None, hang_s: float = 30.0) -> FastAPI:
    """A system speaking the ragbench contract.

    ``mode``: ``ok``; ``timeout`` (retrieve sleeps ``hang_s``, 30 s by default; a server
    stops only once its requests finish, so tests keep it short); ``error500`` (retrieve
    answers 500); ``malformed`` (retrieve answers non-JSON); ``wrong_types`` (``score`` is a
    string, ``doc_id`` a list); ``no_retrieve`` (404); ``no_health`` (health answers 503);
    ``flaky`` (a seeded ``fail_rate`` share of retrieve calls answer 503);
    ``bad_embed`` (embed answers ``{"embedding": []}``); ``rate_limited`` (retrieve
    answers 429); ``redirect`` (retrieve answers 307 to the cloud metadata address).
    ``fail_queries``: these queries always answer 500 (whatever the mode).
    ``embedding=None``: no embed endpoint (404). ``api_key``: require ``Bearer api_key``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    app = FastAPI()
    app.state.calls = Counter()
    app.state.authorizations = []
    rng = random.Random(seed)
    lookup = rankings if callable(rankings) else (lambda q: (rankings or {}).get(q, ()))

    def unauthorized(request: Request) -> Response | None:
        app.state.authorizations.append(request.headers.get("authorization"))
        if api_key is not None and request.headers.get("authorization") != f"Bearer {api_key}":
            return JSONResponse({"detail": "bad key"}, status_code=401)
        return None

    @app.get("/health")
    async def health(request: Request):
        app.state.calls["health"] += 1
        if (denied := unauthorized(request)) is not None:
            return denied
        if mode == "no_health":
            return JSONResponse({"status": "down"}, status_code=503)
        return {"status": "ok"}

    @app.post("/api/v1/retrieve")
    async def retrieve(request: Request):
        app.state.calls["retrieve"] += 1
        if (denied := unauthorized(request)) is not None:
            return denied
        body = await request.json()
        query, top_k = body.get("query"), body.get("top_k", 10)
        app.state.calls[f"q:{query}"] += 1
        if latency_s:
            await asyncio.sleep(latency_s)
        if query in fail_queries:
            return JSONResponse({"detail": "boom"}, status_code=500)
        if mode == "no_retrieve":
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        if mode == "timeout":
            await asyncio.sleep(hang_s)
        if mode == "error500":
            return JSONResponse({"detail": "internal"}, status_code=500)
        if mode == "rate_limited":
            return JSONResponse({"detail": "slow down"}, status_code=429,
                                headers={"Retry-After": "1"})
        if mode == "redirect":
            return Response(status_code=307, headers={
                "Location": "http://169.254.169.254/latest/meta-data/"})
        if mode == "malformed":
            return PlainTextResponse("{results: [oops", media_type="application/json")
        if mode == "wrong_types":
            return {"results": [{"doc_id": ["d1"], "score": "high"}]}
        if mode == "flaky" and rng.random() < fail_rate:
            return JSONResponse({"detail": "unavailable"}, status_code=503)
        hits = list(lookup(query))[:top_k]
        return {"results": [{"doc_id": d, "score": s} for d, s in hits]}

    @app.post("/api/v1/embed")
    async def embed(request: Request):
        app.state.calls["embed"] += 1
        if (denied := unauthorized(request)) is not None:
            return denied
        if embedding is None:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        if mode == "bad_embed":
            return {"embedding": []}
        return {"embedding": list(embedding)}

    return app
