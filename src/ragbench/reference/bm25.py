"""The BM25 reference system (``bm25s``, Lucene's variant).

Text analysis (the same for documents and queries): lower-case, tokens are runs of
two or more word characters (``(?u)\\b\\w\\w+\\b``), the 33 English stopwords of
``bm25s.stopwords.STOPWORDS_EN`` are removed, then each token is stemmed with the
Snowball English stemmer (PyStemmer).

Score of document ``d`` for query tokens ``q_1..q_n`` (a repeated query token counts
each time it occurs)::

    score(d) = Σ_i idf(q_i) · tf(q_i, d) / (tf(q_i, d) + k1 · (1 - b + b · |d| / avgdl))
    idf(t)   = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

with ``tf`` the count of the stemmed token in the document, ``|d|`` the document's
token count after stopword removal, ``avgdl`` the mean of ``|d|`` over the corpus,
``N`` the number of documents, ``df(t)`` how many contain ``t``; ``k1 = 1.5`` and
``b = 0.75`` (the ``bm25s`` defaults; Elasticsearch uses k1 1.2, b 0.75 and Anserini
k1 0.9, b 0.4). Lucene's variant drops Robertson's ``(k1 + 1)`` factor from the
numerator, which scales every score alike and leaves rankings as they are.

Only documents sharing a token with the query are returned (every other document
scores 0), so a ranking may hold fewer than ``top_k`` documents.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from ragbench.reference.documents import Documents, Ranking, top_ranking

logger = logging.getLogger(__name__)

K1 = 1.5
B = 0.75
METHOD = "lucene"
STOPWORDS = "en"
STEMMER_LANGUAGE = "english"


class BM25Retriever:
    """BM25 over :class:`Documents`; safe to search from several threads at once."""

    kind = "bm25"
    model = None

    def __init__(self, documents: Documents, *, k1: float = K1, b: float = B) -> None:
        import bm25s
        import Stemmer

        started = time.perf_counter()
        self.documents = documents
        self.k1, self.b = k1, b
        tokens = bm25s.tokenize(documents.indexed_texts(), stopwords=STOPWORDS,
                                stemmer=Stemmer.Stemmer(STEMMER_LANGUAGE),
                                show_progress=False)
        self._index = bm25s.BM25(k1=k1, b=b, method=METHOD)
        self._index.index(tokens, show_progress=False)
        self.build_seconds = time.perf_counter() - started
        logger.info("bm25: indexed %d documents (%d distinct terms) in %.2f s",
                    len(documents), len(tokens.vocab), self.build_seconds)

    def analyze(self, text: str) -> list[str]:
        """The stemmed, stopword-free tokens of ``text`` (in order, repeats kept)."""
        import bm25s
        import Stemmer

        # A PyStemmer object has internal state and must not be called from two threads
        # at once; a fresh one costs under a microsecond.
        return bm25s.tokenize([text], stopwords=STOPWORDS,
                              stemmer=Stemmer.Stemmer(STEMMER_LANGUAGE),
                              return_ids=False, show_progress=False)[0]

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every document for ``query`` (``float32``, corpus order)."""
        ids = self._index.get_tokens_ids(self.analyze(query))
        if not ids:
            return np.zeros(len(self.documents), dtype=np.float32)
        return self._index.get_scores_from_ids(ids)

    def search(self, query: str, top_k: int) -> Ranking:
        """The ``top_k`` best documents with a positive score, best first."""
        scores = self.scores(query)
        matched = np.flatnonzero(scores > 0)
        if not len(matched):
            return Ranking.empty()
        return top_ranking(scores[matched], top_k, candidates=matched)
