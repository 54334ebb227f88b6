"""Descriptive statistics of a test collection, stored with each dataset version.

All counts are over the split's judgments (``qrels``) and its judged queries.
"Relevant" means a grade >= 1 (trec_eval's default relevance level); negative
grades (pooled but unjudged in some TREC qrels) count as judgments, not as
relevant. Token counts split on whitespace, as ``str.split()`` does (Arrow's
``utf8_split_whitespace`` with the empty pieces dropped); a document's tokens
are those of its title plus those of its text.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ragbench.core.io.beir import BeirDataset

#: How many missing document ids the stats list (the count is always exact).
MISSING_EXAMPLES = 10
_SLICE = 100_000


def collection_stats(dataset: BeirDataset, *, has_corpus: bool,
                     queries_in_file: int) -> dict[str, Any]:
    """The stats dictionary (JSON-ready).

    * ``documents``, ``queries`` (judged), ``judgments``, ``judged_documents``
      (distinct), ``queries_in_file`` (judged or not);
    * ``relevance_levels``: ``{grade: number of judgments}`` (grades as strings);
    * ``judgments_per_query`` / ``relevant_per_query``: ``{min, median, mean, max}``
      over the judged queries;
    * ``queries_without_relevant``: judged queries with no grade >= 1;
    * ``missing_documents``: distinct judged documents absent from the corpus,
      ``judgments_missing_document``: judgments pointing at them, with up to
      ten ``missing_document_examples`` (all three None without a corpus);
    * ``avg_document_tokens`` (None without a corpus), ``avg_query_tokens``.
    """
    qrels = dataset.qrels
    codes, distinct = qrels.query_codes
    n_queries = len(distinct)
    relevance = qrels.relevance
    per_query = np.bincount(codes, minlength=n_queries)
    relevant = np.bincount(codes, weights=(relevance >= 1), minlength=n_queries).astype(np.int64)
    grades, counts = np.unique(relevance, return_counts=True)

    stats: dict[str, Any] = {
        "documents": len(dataset.corpus),
        "queries": n_queries,
        "judgments": len(qrels),
        "judged_documents": len(pc.unique(qrels.doc_ids)),
        "queries_in_file": queries_in_file,
        "relevance_levels": {str(int(g)): int(c) for g, c in zip(grades, counts)},
        "judgments_per_query": _summary(per_query),
        "relevant_per_query": _summary(relevant),
        "queries_without_relevant": int(np.count_nonzero(relevant == 0)),
        "has_corpus": has_corpus,
        "missing_documents": None,
        "judgments_missing_document": None,
        "missing_document_examples": None,
        "avg_document_tokens": None,
        "avg_query_tokens": _mean(token_counts(dataset.queries.texts)),
    }
    if has_corpus:
        absent = pc.invert(pc.is_in(qrels.doc_ids, value_set=dataset.corpus.ids))
        missing = pc.unique(pc.filter(qrels.doc_ids, absent))
        stats["missing_documents"] = len(missing)
        stats["judgments_missing_document"] = int(pc.sum(absent).as_py() or 0)
        stats["missing_document_examples"] = sorted(missing.to_pylist())[:MISSING_EXAMPLES]
        stats["avg_document_tokens"] = _mean(token_counts(dataset.corpus.titles)
                                             + token_counts(dataset.corpus.texts))
    return stats


def token_counts(texts: pa.Array) -> np.ndarray:
    """Whitespace-separated tokens of each string (``len(s.split())``), vectorised.

    Done in slices so that the split pieces of a large corpus never exist all at once."""
    out = [_token_counts(texts.slice(start, _SLICE)) for start in range(0, len(texts), _SLICE)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _token_counts(texts: pa.Array) -> np.ndarray:
    pieces = pc.utf8_split_whitespace(texts)
    # Leading, trailing and repeated whitespace leave empty pieces: not tokens.
    nonempty = pc.not_equal(pc.list_flatten(pieces), "").to_numpy(zero_copy_only=False)
    cumulative = np.concatenate([[0], np.cumsum(nonempty, dtype=np.int64)])
    offsets = pieces.offsets.to_numpy().astype(np.int64)
    offsets -= offsets[0]
    return cumulative[offsets[1:]] - cumulative[offsets[:-1]]


def _summary(values: np.ndarray) -> dict[str, float | int]:
    if len(values) == 0:
        return {"min": 0, "median": 0.0, "mean": 0.0, "max": 0}
    return {"min": int(values.min()), "median": float(np.median(values)),
            "mean": float(values.mean()), "max": int(values.max())}


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None
