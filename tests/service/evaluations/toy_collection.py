"""The toy collection of the evaluations tests, the rankings its system returns,
and those rankings scored independently by pytrec_eval."""

from __future__ import annotations

from collections.abc import Sequence

import pytrec_eval

from ragbench.core.synthetic import make_collection

#: ragbench measure -> pytrec_eval measure (RR@10 is recip_rank on the top 10).
PYTREC = {"nDCG@10": "ndcg_cut_10", "AP": "map", "RR@10": "recip_rank", "P@10": "P_10",
          "R@100": "recall_100"}
MEASURES = list(PYTREC)

COLLECTION = make_collection(11, num_docs=80, num_queries=12)
QUERY_IDS = COLLECTION.queries.ids.to_pylist()
QUERY_TEXTS = dict(zip(QUERY_IDS, COLLECTION.queries.texts.to_pylist()))
QRELS = COLLECTION.qrels.to_dict()
DOC_IDS = COLLECTION.corpus.ids.to_pylist()


def ranking_for(query_id: str) -> list[tuple[str, float]]:
    """A fixed ranking per query, best first: some judged documents, some not,
    scores rounded so that ties occur; query 2 lists a document twice."""
    n = int(query_id[1:])
    judged = sorted(QRELS.get(query_id, {}))
    docs = judged[::2] + [DOC_IDS[(n * 7 + i * 5) % len(DOC_IDS)] for i in range(12)]
    docs = list(dict.fromkeys(docs))
    hits = [(doc, round(10.0 - 0.5 * (i // 2), 2)) for i, doc in enumerate(docs)]
    if n == 2:
        hits.insert(3, (hits[0][0], 0.125))  # repeated: the first occurrence counts
    return hits


RANKINGS = {QUERY_TEXTS[q]: ranking_for(q) for q in QUERY_IDS}


def returned_run(query_ids: Sequence[str] | None = None,
                 top_k: int = 100) -> dict[str, dict[str, float]]:
    """What the system answers, as pytrec_eval's run: first occurrence of a document."""
    run: dict[str, dict[str, float]] = {}
    for q in query_ids if query_ids is not None else QUERY_IDS:
        docs: dict[str, float] = {}
        for doc, score in ranking_for(q)[:top_k]:
            docs.setdefault(doc, score)
        run[q] = docs
    return run


def top(docs: dict[str, float], k: int) -> dict[str, float]:
    """The first ``k`` documents as trec_eval ranks them (score desc, doc id desc)."""
    ranked = sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)
    return dict(ranked[:k])


def pytrec_scores(run: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """``{query_id: {ragbench measure: value}}`` by pytrec_eval, for every judged
    query; a query missing from ``run`` (failed) scores 0 on everything."""
    names = {v for k, v in PYTREC.items() if k != "RR@10"}
    full = pytrec_eval.RelevanceEvaluator(QRELS, names).evaluate(
        {q: d for q, d in run.items() if d})
    cut = pytrec_eval.RelevanceEvaluator(QRELS, {"recip_rank"}).evaluate(
        {q: top(d, 10) for q, d in run.items() if d})
    out = {}
    for q in QRELS:
        row = {m: full[q][PYTREC[m]] if q in full else 0.0 for m in MEASURES if m != "RR@10"}
        row["RR@10"] = cut[q]["recip_rank"] if q in cut else 0.0
        out[q] = row
    return out


