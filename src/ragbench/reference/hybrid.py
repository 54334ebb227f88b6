"""The hybrid reference system: reciprocal-rank fusion of BM25 and dense.

Each system ranks its ``depth = max(top_k, 100)`` best documents; a document's fused
score is (Cormack, Clarke & Büttcher, SIGIR 2009)::

    score(d) = Σ_i 1 / (k + rank_i(d)),    k = 60

over the systems ``i`` whose ranking holds ``d`` (``rank`` counts from 1; a system that
did not rank ``d`` adds nothing). Equal fused scores keep corpus order.
"""

from __future__ import annotations

import numpy as np

from ragbench.reference.bm25 import BM25Retriever
from ragbench.reference.dense import DenseRetriever
from ragbench.reference.documents import Ranking, top_ranking

RRF_K = 60
MIN_DEPTH = 100


def reciprocal_rank_fusion(rankings: list[Ranking], top_k: int, *, k: int = RRF_K) -> Ranking:
    """Fuse ``rankings`` (best first) by ``Σ 1 / (k + rank)``; the ``top_k`` best."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, index in enumerate(ranking.indices.tolist(), start=1):
            fused[index] = fused.get(index, 0.0) + 1.0 / (k + rank)
    if not fused:
        return Ranking.empty()
    candidates = np.fromiter(fused.keys(), dtype=np.int64, count=len(fused))
    scores = np.fromiter(fused.values(), dtype=np.float64, count=len(fused))
    return top_ranking(scores, top_k, candidates=candidates)


class HybridRetriever:
    """BM25 and dense over the same documents, fused by reciprocal rank."""

    kind = "hybrid"

    def __init__(self, bm25: BM25Retriever, dense: DenseRetriever, *, k: int = RRF_K,
                 min_depth: int = MIN_DEPTH) -> None:
        if bm25.documents is not dense.documents and bm25.documents.ids != dense.documents.ids:
            raise ValueError("bm25 and dense index different documents")
        self.bm25, self.dense = bm25, dense
        self.documents = dense.documents
        self.model = dense.model
        self.k, self.min_depth = k, min_depth

    def embed(self, text: str) -> np.ndarray:
        """The dense component's query vector."""
        return self.dense.embed(text)

    def search(self, query: str, top_k: int) -> Ranking:
        depth = max(top_k, self.min_depth)
        return reciprocal_rank_fusion(
            [self.bm25.search(query, depth), self.dense.search(query, depth)], top_k, k=self.k)
