"""GET /api/v1/comparisons/leaderboard/{dataset_id}: every active evaluated system, ranked."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sqlalchemy import update

from ragbench.comparisons import service
from ragbench.systems.models import System

from .conftest import per_query


def _board(api, dataset_id, **params):
    response = api.get(f"/api/v1/comparisons/leaderboard/{dataset_id}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def board_data(store):
    """Four active systems evaluated on P@10; an archived one and a never-completed one."""
    rng = np.random.default_rng(21)
    dataset_id = store.dataset()
    base = rng.uniform(0, 0.8, 30)
    vectors, ids = {}, {}
    for name, offset in (("s1", 0.0), ("s2", 0.15), ("s3", 0.02), ("s4", 0.3)):
        vectors[name] = np.round(np.clip(base + offset + rng.normal(0, 0.1, 30), 0, 1) * 10) / 10
        ids[name] = store.system(name)
        store.evaluation(system_id=ids[name], dataset_id=dataset_id,
                         values={"P@10": per_query(vectors[name])})
    archived = store.system("retired", status="archived")
    store.evaluation(system_id=archived, dataset_id=dataset_id,
                     values={"P@10": per_query(np.ones(30))})
    pending = store.system("pending")
    store.evaluation(system_id=pending, dataset_id=dataset_id, status="running",
                     values={"P@10": per_query(np.ones(30))})
    return dataset_id, ids, vectors


def test_leaderboard_ranks_active_evaluated_systems(api, board_data):
    dataset_id, ids, vectors = board_data
    body = _board(api, dataset_id, metric="precision", k=10)
    assert body["measure"] == "P@10"
    assert body["system_ids"] == sorted(ids.values())
    expected = sorted(vectors, key=lambda name: -vectors[name].mean())
    assert [r["name"] for r in body["ranking"]] == expected
    for entry in body["ranking"]:
        values = vectors[entry["name"]]
        assert entry["mean"] == pytest.approx(values.mean())
        low, high = stats.t.interval(0.95, 29, loc=values.mean(), scale=stats.sem(values))
        assert (entry["ci_low"], entry["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert len(body["pairs"]) == 6
    for p in body["pairs"]:
        assert (p["significant"]) == (p["p_value_corrected"] <= 0.05)
        letters = [set(r["groups"]) for r in body["ranking"]
                   if r["system_id"] in (p["system_id"], p["other_system_id"])]
        assert bool(letters[0] & letters[1]) == (not p["significant"])

    # The same systems compared explicitly give the same statistics.
    compared = api.post("/api/v1/comparisons/systems",
                        json={"system_ids": sorted(ids.values()), "dataset_id": dataset_id,
                              "metric": "P@10"}).json()
    for key in ("ranking", "pairs", "groups", "evaluation_ids", "n_queries"):
        assert compared[key] == body[key]


def test_leaderboard_settings_are_applied(api, board_data):
    dataset_id, ids, vectors = board_data
    body = _board(api, dataset_id, metric="P@10", test="wilcoxon", correction="none",
                  alpha=0.01)
    assert (body["test"], body["correction"], body["alpha"]) == ("wilcoxon", "none", 0.01)
    name_of = {v: k for k, v in ids.items()}
    for p in body["pairs"]:
        a, b = vectors[name_of[p["system_id"]]], vectors[name_of[p["other_system_id"]]]
        assert p["p_value"] == pytest.approx(stats.wilcoxon(a, b).pvalue, rel=1e-9)
        assert p["p_value_corrected"] == p["p_value"]
        assert p["significant"] == (p["p_value"] <= 0.01)


def test_statistics_are_cached_until_a_new_evaluation_completes(api, store, board_data,
                                                              monkeypatch):
    dataset_id, ids, vectors = board_data
    calls = []
    original = service.paired_scores
    monkeypatch.setattr(service, "paired_scores",
                        lambda *a, **kw: calls.append(1) or original(*a, **kw))
    params = {"metric": "P@10", "test": "randomization"}
    first = _board(api, dataset_id, **params)
    assert _board(api, dataset_id, **params) == first
    assert len(calls) == 1

    better = np.ones(30)
    newer = store.evaluation(system_id=ids["s1"], dataset_id=dataset_id,
                             values={"P@10": per_query(better)}, finished_minutes=60)
    updated = _board(api, dataset_id, **params)
    assert len(calls) == 2
    assert updated["ranking"][0]["name"] == "s1"
    assert updated["ranking"][0]["evaluation_id"] == newer
    assert updated["ranking"][0]["mean"] == 1.0

    # Archiving a system drops it; a renamed system shows its new name at once.
    with store.database.session() as session:
        session.execute(update(System).where(System.id == ids["s2"]).values(status="archived"))
        session.execute(update(System).where(System.id == ids["s3"]).values(name="s3-v2"))
    names = [r["name"] for r in _board(api, dataset_id, **params)["ranking"]]
    assert "s2" not in names and "s3-v2" in names and len(names) == 3


def test_single_system_has_no_tests(api, store):
    dataset_id = store.dataset()
    values = np.random.default_rng(4).uniform(0, 1, 8)
    system_id = store.system("only")
    store.evaluation(system_id=system_id, dataset_id=dataset_id,
                     values={"RR@10": per_query(values)})
    body = _board(api, dataset_id, metric="mrr", k=10)
    (entry,) = body["ranking"]
    assert entry["system_id"] == system_id and entry["rank"] == 1
    assert entry["mean"] == pytest.approx(values.mean())
    low, high = stats.t.interval(0.95, 7, loc=values.mean(), scale=stats.sem(values))
    assert (entry["ci_low"], entry["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert body["pairs"] == []
    assert body["groups"] == [{"letter": "a", "system_ids": [system_id]}]


def test_empty_leaderboard(api, store):
    dataset_id = store.dataset()
    body = _board(api, dataset_id)
    assert body["ranking"] == [] and body["pairs"] == [] and body["n_queries"] == 0


def test_leaderboard_refusals(api, store):
    assert api.get("/api/v1/comparisons/leaderboard/777").status_code == 404
    deleted = store.dataset("gone", deleted=True)
    assert api.get(f"/api/v1/comparisons/leaderboard/{deleted}").status_code == 404
    dataset_id = store.dataset()
    response = api.get(f"/api/v1/comparisons/leaderboard/{dataset_id}",
                       params={"metric": "ndcg", "k": "x"})
    assert response.status_code == 422
    response = api.get(f"/api/v1/comparisons/leaderboard/{dataset_id}",
                       params={"metric": "f1"})
    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "metric"


def test_latest_completed_evaluation_stands_for_each_system(api, store):
    # a: an older completed, the latest completed, a newer failed one, and one on
    # another dataset. b: two completed at the same time (the higher id wins).
    dataset_id, other = store.dataset(), store.dataset("other")
    rng = np.random.default_rng(8)
    vectors = [rng.uniform(0, 1, 10) for _ in range(6)]
    a, b = store.system("a"), store.system("b")
    add = store.evaluation
    add(system_id=a, dataset_id=dataset_id, values={"AP": per_query(vectors[0])},
        finished_minutes=1)
    a_latest = add(system_id=a, dataset_id=dataset_id, values={"AP": per_query(vectors[1])},
                   finished_minutes=5)
    add(system_id=a, dataset_id=dataset_id, values={"AP": per_query(vectors[2])},
        status="failed", finished_minutes=9)
    add(system_id=a, dataset_id=other, values={"AP": per_query(vectors[3])},
        finished_minutes=30)
    add(system_id=b, dataset_id=dataset_id, values={"AP": per_query(vectors[4])},
        finished_minutes=2)
    b_latest = add(system_id=b, dataset_id=dataset_id, values={"AP": per_query(vectors[5])},
                   finished_minutes=2)

    board = _board(api, dataset_id, metric="AP")
    assert board["system_ids"] == [a, b]
    assert board["evaluation_ids"] == [a_latest, b_latest]
    means = {r["system_id"]: r["mean"] for r in board["ranking"]}
    assert means == {a: pytest.approx(vectors[1].mean()), b: pytest.approx(vectors[5].mean())}
    assert board["pairs"][0]["p_value"] == pytest.approx(
        stats.ttest_rel(vectors[1], vectors[5]).pvalue)
    compared = api.post("/api/v1/comparisons/systems",
                        json={"system_ids": [a, b], "dataset_id": dataset_id,
                              "metric": "AP"}).json()
    assert compared["evaluation_ids"] == [a_latest, b_latest]
