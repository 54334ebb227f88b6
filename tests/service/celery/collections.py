"""Test collections of the Celery tests and the rankings their systems return.

Every collection's query texts start with its own tag, so one system's request
counter (``calls["q:<text>"]`` of :func:`fake_systems.system_app`) tells apart
the queries of each dataset, and each (system, dataset) task's calls can be
counted on its own.
"""

from __future__ import annotations

import dataclasses
import io
import random
import zipfile
from pathlib import Path

import pyarrow as pa

from ragbench.core.io.beir import BeirDataset, Queries, write_beir
from ragbench.core.synthetic import make_collection


@dataclasses.dataclass(frozen=True)
class Collection:
    name: str
    dataset: BeirDataset

    @property
    def query_ids(self) -> list[str]:
        """The judged queries (each one is asked once per evaluation)."""
        return sorted(set(self.dataset.qrels.query_ids.to_pylist()))

    @property
    def texts(self) -> dict[str, str]:
        """query id -> text, judged queries only."""
        queries = self.dataset.judged_queries()
        return dict(zip(queries.ids.to_pylist(), queries.texts.to_pylist()))


def make(name: str, seed: int, *, num_docs: int = 80, num_queries: int = 20) -> Collection:
    base = make_collection(seed, num_docs=num_docs, num_queries=num_queries)
    texts = [f"{name} {t}" for t in base.queries.texts.to_pylist()]
    queries = Queries(base.queries.ids, pa.array(texts, pa.string()))
    return Collection(name, dataclasses.replace(base, queries=queries))


def beir_zip(collection: Collection, folder: Path) -> bytes:
    """The collection as the BEIR zip the datasets API takes."""
    root = folder / collection.name
    write_beir(root, collection.dataset)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root).as_posix())
    return buffer.getvalue()


def ranker(collections: list[Collection], seed: int):
    """``text -> [(doc_id, score), ...]`` for the queries of ``collections``: a
    fixed shuffle (by ``seed`` and the text) of the query's judged documents and
    some unjudged ones, scores descending in steps of 0.5 (so ties occur).
    Different seeds make systems of different quality."""
    known: dict[str, tuple[list[str], list[str]]] = {}
    for collection in collections:
        judged = collection.dataset.qrels.to_dict()
        docs = collection.dataset.corpus.ids.to_pylist()
        for query_id, text in collection.texts.items():
            known[text] = (sorted(judged.get(query_id, {})), docs)

    def rank(text: str) -> list[tuple[str, float]]:
        if text not in known:
            return []
        judged, docs = known[text]
        rng = random.Random(f"{seed}:{text}")
        picked = rng.sample(judged, k=max(1, len(judged) // 2))
        picked += rng.sample(docs, k=10)
        rng.shuffle(picked)
        unique = list(dict.fromkeys(picked))
        return [(doc, 10.0 - 0.5 * (i // 2)) for i, doc in enumerate(unique)]

    return rank


#: ragbench measure -> pytrec_eval measure, for the measures these tests ask for
#: (rankings are shorter than 100 documents, so no cut-off matters but @5/@10).
PYTREC = {"nDCG@10": "ndcg_cut_10", "AP": "map", "P@5": "P_5", "R@100": "recall_100"}
MEASURES = list(PYTREC)


def pytrec_scores(collection: Collection, rank, *, failed: frozenset[str] = frozenset()
                  ) -> dict[str, dict[str, float]]:
    """``{query_id: {measure: value}}`` by pytrec_eval for the rankings ``rank``
    returns; a query in ``failed`` has no ranking and scores 0 on everything."""
    import pytrec_eval

    qrels = collection.dataset.qrels.to_dict()
    run = {}
    for query_id, text in collection.texts.items():
        if query_id not in failed:
            docs: dict[str, float] = {}
            for doc, score in rank(text):
                docs.setdefault(doc, score)
            run[query_id] = docs
    scored = pytrec_eval.RelevanceEvaluator(qrels, set(PYTREC.values())).evaluate(
        {q: d for q, d in run.items() if d})
    return {q: {m: scored[q][PYTREC[m]] if q in scored else 0.0 for m in MEASURES}
            for q in collection.query_ids}
