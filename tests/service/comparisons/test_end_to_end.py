"""Systems served over real HTTP, evaluated through the API, then compared.

nDCG@10 is stored by the evaluations; AP is not, so it is recomputed from their
Parquet runs. Both must equal pytrec_eval on the rankings the systems returned.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np
import pytest
import pytrec_eval
from scipy import stats

from fake_systems import system_app
from ragbench.core.io.beir import write_beir
from ragbench.core.synthetic import make_collection, make_runs
from ragbench.datasets import service as datasets_service
from servers import serve_app

COLLECTION = make_collection(5, num_docs=60, num_queries=10)
QRELS = COLLECTION.qrels.to_dict()
TEXTS = dict(zip(COLLECTION.queries.ids.to_pylist(), COLLECTION.queries.texts.to_pylist()))


def _rankings(run) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for q, d, s in zip(run.query_ids.to_pylist(), run.doc_ids.to_pylist(), run.scores.tolist()):
        out.setdefault(q, {})[d] = s
    return out


def _wait(api, evaluation_id: int) -> dict:
    deadline = time.monotonic() + 60
    while (body := api.get(f"/api/v1/evaluations/{evaluation_id}").json())["status"] not in (
            "completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, body
        time.sleep(0.05)
    return body


@pytest.fixture
def evaluated(api, settings, tmp_path):
    """Two systems (the synthetic runs 1 and 3), each evaluated once on nDCG@10."""
    write_beir(tmp_path / "beir", COLLECTION)
    with api.app.state.database.session() as session:
        dataset_id = datasets_service.create_dataset_from_folder(
            session, name="e2e", folder=tmp_path / "beir", settings=settings).id
    runs = make_runs(COLLECTION.qrels, COLLECTION.corpus.ids, num_runs=3, depth=20, seed=5)
    rankings = {}
    with contextlib.ExitStack() as stack:
        ids = []
        for run in (runs[0], runs[2]):
            ranking = _rankings(run)
            answers = {TEXTS[q]: sorted(docs.items(), key=lambda item: -item[1])
                       for q, docs in ranking.items()}
            base_url = stack.enter_context(serve_app(system_app(answers)))
            system = api.post("/api/v1/systems", json={"name": run.name, "base_url": base_url})
            assert system.status_code == 201, system.text
            started = api.post("/api/v1/evaluations",
                               json={"system_id": system.json()["id"],
                                     "dataset_id": dataset_id, "measures": ["nDCG@10"]})
            assert started.status_code == 202, started.text
            assert _wait(api, started.json()["id"])["status"] == "completed"
            ids.append(system.json()["id"])
            rankings[system.json()["id"]] = ranking
    return dataset_id, ids, rankings


@pytest.mark.parametrize("metric, pytrec_measure", [("nDCG@10", "ndcg_cut_10"),
                                                    ("AP", "map")])
def test_compare_evaluated_systems(api, evaluated, metric, pytrec_measure):
    dataset_id, ids, rankings = evaluated
    expected = {}
    for system_id, ranking in rankings.items():
        scored = pytrec_eval.RelevanceEvaluator(QRELS, {pytrec_measure}).evaluate(ranking)
        expected[system_id] = np.array([scored.get(q, {}).get(pytrec_measure, 0.0)
                                        for q in sorted(QRELS)])
    response = api.post("/api/v1/comparisons/systems",
                        json={"system_ids": ids, "dataset_id": dataset_id, "metric": metric})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["n_queries"] == len(QRELS)
    for entry in body["ranking"]:
        assert entry["mean"] == pytest.approx(expected[entry["system_id"]].mean(), abs=1e-12)
    (pair,) = body["pairs"]
    assert pair["p_value"] == pytest.approx(stats.ttest_rel(
        expected[pair["system_id"]], expected[pair["other_system_id"]]).pvalue, rel=1e-9)

    board = api.get(f"/api/v1/comparisons/leaderboard/{dataset_id}",
                    params={"metric": metric}).json()
    assert board["ranking"] == body["ranking"] and board["pairs"] == body["pairs"]
