"""Serve a reference system over the ``ragbench`` HTTP contract.

* ``GET /health`` → ``{"status": "ok", "kind", "documents", "model"}``
* ``POST /api/v1/retrieve {"query": str, "top_k": 1..1000, "with_text": false}`` →
  ``{"results": [{"doc_id", "score", "text"?}, ...]}`` best first; ``text`` (the
  document's BEIR ``text`` field) only when ``with_text`` is true;
* ``POST /api/v1/embed {"text": str}`` → ``{"embedding": [float, ...]}`` (normalised
  query vector; dense and hybrid only — bm25 answers 404).

Invalid input answers 422, errors have the body ``{"error": {code, message, details}}``.
The index is built before the server listens (:func:`run_reference_system`);
searching is CPU work, so the routes are plain ``def`` and run in the worker threads,
never on the event loop.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ragbench.errors import NotFound, Unprocessable, install_handler
from ragbench.reference.documents import Retriever, load_documents

logger = logging.getLogger(__name__)

KINDS = ("bm25", "dense", "hybrid")
MAX_TOP_K = 1000
MAX_TEXT_CHARS = 100_000
CACHE_FOLDER = ".ragbench-cache"


class RetrieveRequest(BaseModel):
    """Body of ``POST /api/v1/retrieve`` (strict types; unknown fields ignored)."""

    model_config = ConfigDict(strict=True, extra="ignore")

    query: str = Field(min_length=1, max_length=MAX_TEXT_CHARS,
                       description="The query text (not blank)")
    top_k: int = Field(ge=1, le=MAX_TOP_K, description="How many documents, 1 to 1000")
    with_text: bool = Field(False, description="Include each document's text")

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query is blank")
        return value


class EmbedRequest(BaseModel):
    """Body of ``POST /api/v1/embed``."""

    model_config = ConfigDict(strict=True, extra="ignore")

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)


class RetrievedDocument(BaseModel):
    doc_id: str
    score: float
    text: str | None = None


class RetrieveResponse(BaseModel):
    results: list[RetrievedDocument]


class EmbedResponse(BaseModel):
    embedding: list[float]


def build_retriever(kind: str, *, dataset: str | os.PathLike, model: str | None = None,
                    cache_dir: str | os.PathLike | None = None,
                    encoder=None) -> Retriever:
    """Index the corpus of the BEIR folder ``dataset`` for ``kind`` (bm25, dense, hybrid).

    ``model``: a sentence-transformers model folder or locally cached name (dense and
    hybrid; default the packaged all-MiniLM-L6-v2). ``encoder``: an already loaded
    :class:`~ragbench.reference.encoder.SentenceEncoder` to use instead of ``model``.
    ``cache_dir``: where document embeddings are cached (default
    ``<dataset>/.ragbench-cache``). Raises ``ValueError`` for an unknown kind, a model
    given to bm25 or an unusable model/corpus, ``FileNotFoundError`` for a missing corpus.
    """
    from ragbench.reference.bm25 import BM25Retriever

    if kind not in KINDS:
        raise ValueError(f"unknown reference system {kind!r} (expected one of {', '.join(KINDS)})")
    if kind == "bm25" and (model is not None or encoder is not None):
        raise ValueError("bm25 uses no embedding model (--model is for dense and hybrid)")
    if model is not None and encoder is not None:
        raise ValueError("give either model or encoder, not both")
    documents = load_documents(dataset)
    if kind == "bm25":
        return BM25Retriever(documents)

    from ragbench.reference.dense import DenseRetriever
    from ragbench.reference.embedding_cache import EmbeddingCache
    from ragbench.reference.encoder import SentenceEncoder

    if encoder is None:
        encoder = SentenceEncoder(model)
    folder = Path(cache_dir) if cache_dir is not None else Path(dataset) / CACHE_FOLDER
    cache = EmbeddingCache(folder, model_id=encoder.model_id, dimension=encoder.dimension,
                           model_name=encoder.name)
    dense = DenseRetriever.build(documents, encoder, cache=cache)
    if kind == "dense":
        return dense

    from ragbench.reference.hybrid import HybridRetriever

    return HybridRetriever(BM25Retriever(documents), dense)


def create_system_app(retriever: Retriever) -> FastAPI:
    """The FastAPI app serving ``retriever`` (a BM25, dense or hybrid retriever)."""
    documents = retriever.documents
    kind = retriever.kind
    app = FastAPI(title=f"ragbench reference system: {kind}",
                  description=f"{kind} over {len(documents)} documents, serving the "
                              "ragbench system contract.")
    install_handler(app)

    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                    "message": err.get("msg"), "type": err.get("type")}
                   for err in exc.errors()]
        message = "; ".join(f"{d['field'] or 'body'}: {d['message']}" for d in details)
        body = Unprocessable(f"invalid request: {message}", details=details).to_dict()
        return JSONResponse(body, status_code=422)

    app.add_exception_handler(RequestValidationError, invalid_request)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "kind": kind, "documents": len(documents),
                "model": retriever.model}

    @app.post("/api/v1/retrieve", response_model=RetrieveResponse,
              response_model_exclude_none=True)
    def retrieve(request: RetrieveRequest) -> RetrieveResponse:
        ranking = retriever.search(request.query, request.top_k)
        ids, texts = documents.ids, documents.texts
        return RetrieveResponse(results=[
            RetrievedDocument(doc_id=ids[i], score=score,
                              text=texts[i] if request.with_text else None)
            for i, score in zip(ranking.indices.tolist(), ranking.scores.tolist())])

    if hasattr(retriever, "embed"):
        @app.post("/api/v1/embed", response_model=EmbedResponse)
        def embed(request: EmbedRequest) -> EmbedResponse:
            return EmbedResponse(embedding=retriever.embed(request.text).tolist())
    else:
        @app.post("/api/v1/embed", status_code=404)
        def embed_unavailable() -> None:
            raise NotFound(f"the {kind} reference system has no embeddings; /api/v1/embed "
                           "is served by the dense and hybrid systems",
                           details={"kind": kind, "endpoint": "/api/v1/embed"})

    return app


def _check_port_free(host: str, port: int) -> None:
    """Raise ``OSError`` now when ``host:port`` cannot be bound, rather than after
    minutes of encoding the corpus."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None


def run_reference_system(kind: str, *, dataset: str | os.PathLike, host: str = "127.0.0.1",
                         port: int = 8100, model: str | None = None,
                         cache_dir: str | os.PathLike | None = None) -> None:
    """Build the ``kind`` index over ``dataset`` (encoding the corpus, through the
    cache, before listening), then serve it with uvicorn until stopped (blocks)."""
    import uvicorn

    _check_port_free(host, port)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("ragbench").setLevel(logging.INFO)
    for chatty in ("faiss.loader", "bm25s"):  # CPU-feature probing, per-step debug lines
        logging.getLogger(chatty).setLevel(logging.WARNING)
    started = time.perf_counter()
    retriever = build_retriever(kind, dataset=dataset, model=model, cache_dir=cache_dir)
    logger.info("%s over %d documents ready in %.2f s; listening on http://%s:%d",
                kind, len(retriever.documents), time.perf_counter() - started, host, port)
    uvicorn.run(create_system_app(retriever), host=host, port=port, log_level="info",
                access_log=False)
