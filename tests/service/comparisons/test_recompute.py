"""A measure an evaluation did not store is recomputed from its Parquet run.

Oracle: pytrec_eval (trec_eval 9's C code) on the same run and qrels, with queries
the run did not answer scoring 0 (trec_eval ``-c``).
"""

from __future__ import annotations

import numpy as np
import pytest
import pytrec_eval
from scipy import stats

from ragbench.core.io.beir import write_beir
from ragbench.core.io.parquet import write_run_parquet
from ragbench.core.run import Run
from ragbench.core.synthetic import make_collection, make_runs
from ragbench.database import get_database
from ragbench.datasets import service as datasets_service

URL = "/api/v1/comparisons/systems"


def _pytrec(qrels, run: Run, measure: str) -> dict[str, float]:
    judgments: dict[str, dict[str, int]] = {}
    for q, d, g in zip(qrels.query_ids.to_pylist(), qrels.doc_ids.to_pylist(),
                       qrels.relevance.tolist()):
        judgments.setdefault(q, {})[d] = int(g)
    ranking: dict[str, dict[str, float]] = {}
    for q, d, s in zip(run.query_ids.to_pylist(), run.doc_ids.to_pylist(), run.scores.tolist()):
        ranking.setdefault(q, {})[d] = s
    result = pytrec_eval.RelevanceEvaluator(judgments, {measure}).evaluate(ranking)
    return {q: result.get(q, {}).get(measure, 0.0) for q in judgments}


@pytest.fixture
def collection(tmp_path, api, settings, store):
    """A stored 12-query dataset and three systems' Parquet runs (the third misses q3)."""
    data = make_collection(4, num_docs=80, num_queries=12)
    write_beir(tmp_path / "beir", data)
    with get_database(settings.sqlalchemy_url).session() as session:
        dataset_id = datasets_service.create_dataset_from_folder(
            session, name="synthetic", folder=tmp_path / "beir", settings=settings).id
    runs = make_runs(data.qrels, data.corpus.ids, num_runs=3, depth=20, seed=4)
    keep = np.array([q != "q3" for q in runs[2].query_ids.to_pylist()])
    runs[2] = Run(runs[2].query_ids.filter(keep), runs[2].doc_ids.filter(keep),
                  runs[2].scores[keep], name="run3")
    (settings.data_dir / "runs").mkdir(parents=True, exist_ok=True)
    systems = []
    for run in runs:
        path = f"runs/{run.name}.parquet"
        write_run_parquet(run, settings.data_dir / path)
        systems.append((store.system(run.name), path))
    return data.qrels, runs, dataset_id, systems


def test_unstored_measure_equals_pytrec_eval_on_the_run(api, store, collection):
    qrels, runs, dataset_id, systems = collection
    expected = [_pytrec(qrels, run, "map") for run in runs]
    query_ids = sorted(expected[0])
    # The first system stored AP per query; the other two did not (nDCG@10 only).
    ids = []
    for (system_id, path), values in zip(systems, expected):
        stored = {"AP": values} if system_id == systems[0][0] else {"nDCG@10": values}
        store.evaluation(system_id=system_id, dataset_id=dataset_id, values=stored,
                         run_path=path)
        ids.append(system_id)

    response = api.post(URL, json={"system_ids": ids, "dataset_id": dataset_id,
                                   "metric": "AP"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["n_queries"] == 12
    vectors = {system_id: np.array([values[q] for q in query_ids])
               for system_id, values in zip(ids, expected)}
    assert vectors[ids[2]][query_ids.index("q3")] == 0.0  # not answered: scores 0
    for entry in body["ranking"]:
        assert entry["mean"] == pytest.approx(vectors[entry["system_id"]].mean(), abs=1e-9)
    for p in body["pairs"]:
        a, b = vectors[p["system_id"]], vectors[p["other_system_id"]]
        assert p["p_value"] == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-6)


def test_recomputed_cutoff_measure(api, store, collection):
    qrels, runs, dataset_id, systems = collection
    for system_id, path in systems:
        store.evaluation(system_id=system_id, dataset_id=dataset_id, measures=["AP"],
                         run_path=path)
    response = api.post(URL, json={"system_ids": [s for s, _ in systems],
                                   "dataset_id": dataset_id, "metric": "precision", "k": 5})
    assert response.status_code == 201, response.text
    means = {r["system_id"]: r["mean"] for r in response.json()["ranking"]}
    for (system_id, _), run in zip(systems, runs):
        assert means[system_id] == pytest.approx(
            np.mean(list(_pytrec(qrels, run, "P_5").values())), abs=1e-12)


def test_missing_run_is_a_conflict(api, store, collection):
    _, _, dataset_id, systems = collection
    (a, path), (b, _) = systems[:2]
    store.evaluation(system_id=a, dataset_id=dataset_id, measures=["AP"], run_path=path)
    store.evaluation(system_id=b, dataset_id=dataset_id, measures=["AP"], run_path=None)
    response = api.post(URL, json={"system_ids": [a, b], "dataset_id": dataset_id,
                                   "metric": "nDCG@10"})
    assert response.status_code == 409
    assert response.json()["error"]["details"]["measure"] == "nDCG@10"
