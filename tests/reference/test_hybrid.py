"""The hybrid reference system: its scores are the reciprocal-rank fusion, computed here
by hand, of the rankings the bm25 and dense systems serve over HTTP."""

from __future__ import annotations

from contextlib import ExitStack

import numpy as np
import pytest

from ragbench.reference.documents import Ranking
from ragbench.reference.hybrid import reciprocal_rank_fusion
from ragbench.reference.server import build_retriever, create_system_app
from servers import serve_app  # tests/servers.py (tests/ is on sys.path via its conftest)


@pytest.fixture(scope="module")
def systems(collection_dir, encoder, embedding_cache_dir, connect):
    """bm25, dense and hybrid over the same collection, each served over HTTP."""
    built = {
        "bm25": build_retriever("bm25", dataset=collection_dir),
        "dense": build_retriever("dense", dataset=collection_dir, encoder=encoder,
                                 cache_dir=embedding_cache_dir),
        "hybrid": build_retriever("hybrid", dataset=collection_dir, encoder=encoder,
                                  cache_dir=embedding_cache_dir),
    }
    with ExitStack() as stack:
        http = {kind: stack.enter_context(connect(stack.enter_context(
                    serve_app(create_system_app(retriever)))))
                for kind, retriever in built.items()}
        yield built, http


def retrieve(http, query: str, top_k: int) -> list[dict]:
    response = http.post("/api/v1/retrieve", json={"query": query, "top_k": top_k})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def rrf_by_hand(rankings: list[list[str]], corpus_order: list[str], k: int = 60):
    """score(d) = Σ over the rankings holding d of 1 / (k + rank), rank from 1; equal
    scores in corpus order."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1 / (k + rank)
    position = {doc: i for i, doc in enumerate(corpus_order)}
    return sorted(scores.items(), key=lambda item: (-item[1], position[item[0]]))


def test_fusion_of_two_small_rankings():
    # documents 0, 1, 2: first ranking 0 > 1 > 2, second 2 > 0
    fused = reciprocal_rank_fusion([Ranking(np.array([0, 1, 2]), np.zeros(3)),
                                    Ranking(np.array([2, 0]), np.zeros(2))], 3)
    # 0: 1/61 + 1/62 = 0.032522; 2: 1/63 + 1/61 = 0.032266; 1: 1/62 = 0.016129
    assert fused.indices.tolist() == [0, 2, 1]
    assert fused.scores.tolist() == pytest.approx([1 / 61 + 1 / 62, 1 / 63 + 1 / 61, 1 / 62],
                                                  rel=1e-15)
    assert len(reciprocal_rank_fusion([Ranking.empty(), Ranking.empty()], 5)) == 0


def test_hybrid_reuses_the_dense_embeddings(systems):
    built, _ = systems
    stats = built["hybrid"].dense.embedding_stats
    assert (stats.encoded, stats.from_cache) == (0, 120)


@pytest.mark.parametrize("top_k", [10, 100])
def test_scores_are_reciprocal_rank_fusion(systems, collection, top_k):
    _, http = systems
    corpus_order = collection.corpus.ids.to_pylist()
    for query in collection.queries.texts.to_pylist():
        depth = max(top_k, 100)
        lexical = [r["doc_id"] for r in retrieve(http["bm25"], query, depth)]
        semantic = [r["doc_id"] for r in retrieve(http["dense"], query, depth)]
        expected = rrf_by_hand([lexical, semantic], corpus_order)[:top_k]
        results = retrieve(http["hybrid"], query, top_k)
        assert [r["doc_id"] for r in results] == [doc for doc, _ in expected]
        assert [r["score"] for r in results] == pytest.approx([s for _, s in expected],
                                                              rel=1e-12)


def test_health_and_embed(systems):
    _, http = systems
    assert http["hybrid"].get("/health").json() == {
        "status": "ok", "kind": "hybrid", "documents": 120, "model": "all-MiniLM-L6-v2"}
    body = {"text": "a sonnet about the harbor"}
    hybrid = http["hybrid"].post("/api/v1/embed", json=body).json()["embedding"]
    dense = http["dense"].post("/api/v1/embed", json=body).json()["embedding"]
    assert hybrid == dense
