"""Stored comparisons (POST, GET, list), refusals (404/409/422) and roles."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ragbench.auth import service as auth_service
from ragbench.comparisons.service import resolve_measure
from ragbench.database import get_database
from ragbench.errors import Unprocessable
from ragbench.main import create_app

from .conftest import per_query

URL = "/api/v1/comparisons/systems"


@pytest.fixture
def three(store):
    """Three systems evaluated (nDCG@10, 15 queries) on one dataset, one not evaluated."""
    rng = np.random.default_rng(0)
    dataset_id = store.dataset()
    ids = [store.system(name) for name in ("bm25", "dense", "hybrid")]
    for system_id in ids:
        store.evaluation(system_id=system_id, dataset_id=dataset_id,
                         values={"nDCG@10": per_query(rng.uniform(0, 1, 15))})
    idle = store.system("idle")
    return dataset_id, ids, idle


def test_stored_comparison_is_returned_identically(api, store, three):
    dataset_id, ids, _ = three
    created = api.post(URL, json={"system_ids": ids, "dataset_id": dataset_id,
                                  "metric": "nDCG@10", "test": "randomization",
                                  "n_resamples": 500, "seed": 3})
    assert created.status_code == 201, created.text
    body = created.json()
    fetched = api.get(f"/api/v1/comparisons/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == body
    assert fetched.content == created.content
    # Same request, same seed: the same statistics in a new row.
    again = api.post(URL, json={"system_ids": ids, "dataset_id": dataset_id,
                                "metric": "nDCG@10", "test": "randomization",
                                "n_resamples": 500, "seed": 3}).json()
    assert again["id"] != body["id"]
    assert again["pairs"] == body["pairs"]


def test_list_filters_by_dataset(api, store, three):
    dataset_id, ids, _ = three
    other = store.dataset("other")
    for system_id in ids[:2]:
        store.evaluation(system_id=system_id, dataset_id=other,
                         values={"AP": per_query([0.1, 0.5, 0.3])})
    first = api.post(URL, json={"system_ids": ids, "dataset_id": dataset_id}).json()
    second = api.post(URL, json={"system_ids": ids[:2], "dataset_id": other,
                                 "metric": "AP"}).json()
    listed = api.get("/api/v1/comparisons").json()
    assert [c["id"] for c in listed] == [second["id"], first["id"]]
    only = api.get("/api/v1/comparisons", params={"dataset_id": other}).json()
    assert [c["id"] for c in only] == [second["id"]]
    assert only[0]["measure"] == "AP"
    assert only[0]["system_ids"] == ids[:2]
    assert only[0]["evaluation_ids"] == second["evaluation_ids"]
    assert only[0]["created_at"] == second["created_at"]


def test_system_without_completed_evaluation_is_a_conflict(api, store, three):
    dataset_id, ids, idle = three
    store.evaluation(system_id=idle, dataset_id=dataset_id, status="failed",
                     values={"nDCG@10": per_query([0.2, 0.4])})
    response = api.post(URL, json={"system_ids": [ids[0], idle], "dataset_id": dataset_id})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["details"]["system_ids"] == [idle]
    assert error["details"]["systems"] == ["idle"]
    assert "'idle'" in error["message"]


@pytest.mark.parametrize("change, status, field", [
    ({"metric": "nDGC@10"}, 422, "metric"),
    ({"metric": "ndcg", "k": 0}, 422, "k"),
    ({"metric": "nDCG@10", "k": 5}, 422, "k"),
    ({"metric": "Bpref", "k": 5}, 422, "k"),
    ({"test": "anova"}, 422, "test"),
    ({"correction": "sidak"}, 422, "correction"),
    ({"alpha": 1.5}, 422, "alpha"),
    ({"system_ids": "first"}, 422, "system_ids"),
    ({"system_ids": "repeated"}, 422, "system_ids"),
    ({"baseline_system_id": "idle"}, 422, "baseline_system_id"),
    ({"system_ids": "unknown"}, 404, "system_ids"),
    ({"dataset_id": 999}, 404, None),
])
def test_refusals_name_the_field(api, store, three, change, status, field):
    dataset_id, ids, idle = three
    # Placeholders in ``change`` stand for ids known only once the rows exist.
    named = {"first": ids[:1], "repeated": [ids[0], ids[1], ids[0]],
             "unknown": [ids[0], 4242], "idle": idle}
    body = {"system_ids": ids, "dataset_id": dataset_id, "metric": "nDCG@10"}
    body |= {key: named.get(value, value) if isinstance(value, str) else value
             for key, value in change.items()}
    response = api.post(URL, json=body)
    assert response.status_code == status, response.text
    payload = response.json()
    if "error" in payload:
        assert payload["error"]["details"].get("field") == field
    else:  # schema validation: FastAPI names the field in ``loc``
        assert any(item["loc"][-1] == field or field in item["loc"]
                   for item in payload["detail"])


def test_unknown_comparison_is_not_found(api):
    response = api.get("/api/v1/comparisons/12345")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("metric, k, measure", [
    ("ndcg", 10, "nDCG@10"), ("NDCG", None, "nDCG"), ("nDCG@10", None, "nDCG@10"),
    ("nDCG@10", 10, "nDCG@10"), ("map", None, "AP"), ("ap", 100, "AP@100"),
    ("mrr", 10, "RR@10"), ("rr", None, "RR"), ("precision", 5, "P@5"), ("p", 10, "P@10"),
    ("recall", 100, "R@100"), ("r", 1000, "R@1000"), ("R@100", None, "R@100"),
    ("P(rel=2)", 5, "P(rel=2)@5"), ("ndcg(gain=exp)", 10, "nDCG(gain=exp)@10"),
    ("bpref", None, "Bpref"),
])
def test_metric_names(metric, k, measure):
    assert resolve_measure(metric, k) == measure


@pytest.mark.parametrize("metric, k, field", [
    ("accuracy", None, "metric"), ("ndcg@ten", None, "metric"), ("P@5", 10, "k"),
    ("Rprec", 10, "k"),
])
def test_bad_metric_names(metric, k, field):
    with pytest.raises(Unprocessable) as caught:
        resolve_measure(metric, k)
    assert caught.value.details["field"] == field


def test_viewers_read_and_editors_compare(settings, three):
    dataset_id, ids, _ = three
    secured = settings.model_copy(update={"auth_enabled": True})
    database = get_database(settings.sqlalchemy_url)
    with database.session() as session:
        _, viewer = auth_service.create_key(session, name="reader", role="viewer")
        _, editor = auth_service.create_key(session, name="writer", role="editor")
    body = {"system_ids": ids, "dataset_id": dataset_id}
    with TestClient(create_app(secured)) as client:
        as_viewer = {"Authorization": f"Bearer {viewer}"}
        as_editor = {"Authorization": f"Bearer {editor}"}
        assert client.post(URL, json=body).status_code == 401
        assert client.post(URL, json=body, headers=as_viewer).status_code == 403
        created = client.post(URL, json=body, headers=as_editor)
        assert created.status_code == 201
        comparison = f"/api/v1/comparisons/{created.json()['id']}"
        assert client.get(comparison).status_code == 401
        assert client.get(comparison, headers=as_viewer).status_code == 200
        assert client.get("/api/v1/comparisons", headers=as_viewer).status_code == 200
        board = f"/api/v1/comparisons/leaderboard/{dataset_id}"
        assert client.get(board, headers=as_viewer).status_code == 200
        assert client.get(board).status_code == 401

