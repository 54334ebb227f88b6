"""The evaluations API: what it refuses, its defaults, listing, per-query results
and cancelling."""

from __future__ import annotations

import time

import pytest

from fake_systems import system_app

from .toy_collection import QUERY_IDS, QUERY_TEXTS, RANKINGS


@pytest.fixture
def system(serve, register):
    return register(serve(system_app(RANKINGS)), max_concurrency=4, timeout_s=7.5)


def test_defaults_and_canonical_measures(api, system, start, wait):
    created = start(system["id"], measures=["ndcg@10", "AP", "nDCG@10", "P(rel=1)@5"],
                    concurrency=50)
    assert created["measures"] == ["nDCG@10", "AP", "P@5"]
    assert created["concurrency"] == 4  # capped by the system's max_concurrency
    assert created["timeout_s"] == 7.5 and created["retries"] == 2 and created["top_k"] == 100
    assert created["progress"] == {"done": 0, "total": len(QUERY_IDS), "percent": 0.0}
    done = wait(created["id"])
    assert set(done["aggregates"]) == {"nDCG@10", "AP", "P@5"}

    default = start(system["id"], concurrency=2)
    assert default["measures"] == ["nDCG@10", "AP", "RR@10", "P@10", "R@100"]
    assert default["concurrency"] == 2
    wait(default["id"])


REFUSED = [
    ({"measures": ["nDCG@10", "Bogus@5"]}, 422, "Bogus@5"),
    ({"measures": []}, 422, "measures"),
    ({"top_k": 0}, 422, "top_k"),
    ({"top_k": 1001}, 422, "top_k"),
    ({"retries": -1}, 422, "retries"),
    ({"timeout_s": 0}, 422, "timeout_s"),
    ({"system_id": 999}, 404, "999"),
    ({"dataset_id": 999}, 404, "999"),
]


def test_refused_requests(api, system, dataset_id):
    for body, status, field in REFUSED:
        response = api.post("/api/v1/evaluations",
                            json={"system_id": system["id"], "dataset_id": dataset_id, **body})
        assert response.status_code == status, (body, response.text)
        assert field in response.text, (body, response.text)
    unknown = api.post("/api/v1/evaluations", json={
        "system_id": system["id"], "dataset_id": dataset_id, "measures": ["AP", "Bogus@5"]})
    assert unknown.json()["error"]["details"] == {"field": "measures[1]", "measure": "Bogus@5"}
    assert api.get("/api/v1/evaluations").json()["total"] == 0


def test_archived_system_and_deleted_dataset_are_refused(api, system, dataset_id):
    other = api.post("/api/v1/systems", json={"name": "other", "base_url": system["base_url"]})
    assert api.delete(f"/api/v1/systems/{other.json()['id']}").status_code == 200
    response = api.post("/api/v1/evaluations",
                        json={"system_id": other.json()["id"], "dataset_id": dataset_id})
    assert response.status_code == 409
    assert "archived" in response.json()["error"]["message"]

    assert api.delete(f"/api/v1/datasets/{dataset_id}").status_code == 200
    response = api.post("/api/v1/evaluations",
                        json={"system_id": system["id"], "dataset_id": dataset_id})
    assert response.status_code == 404
    assert api.get("/api/v1/evaluations").json()["total"] == 0


def test_listing_filters_and_pages(api, serve, register, system, start, wait):
    second = register(serve(system_app(RANKINGS)), name="second", max_concurrency=4)
    ids = [start(system["id"])["id"], start(second["id"])["id"], start(system["id"])["id"]]
    for evaluation_id in ids:
        wait(evaluation_id)

    page = api.get("/api/v1/evaluations", params={"limit": 2}).json()
    assert page["total"] == 3 and [e["id"] for e in page["items"]] == ids[::-1][:2]
    page = api.get("/api/v1/evaluations", params={"limit": 2, "offset": 2}).json()
    assert [e["id"] for e in page["items"]] == ids[:1]
    mine = api.get("/api/v1/evaluations", params={"system_id": system["id"]}).json()
    assert sorted(e["id"] for e in mine["items"]) == [ids[0], ids[2]]
    done = api.get("/api/v1/evaluations", params={"status": "completed",
                                                   "system_id": second["id"]}).json()
    assert [e["id"] for e in done["items"]] == [ids[1]]
    assert api.get("/api/v1/evaluations", params={"status": "failed"}).json()["total"] == 0
    assert api.get("/api/v1/evaluations", params={"status": "nope"}).status_code == 422
    assert api.get("/api/v1/evaluations/12345").status_code == 404


def test_query_results_sort_filter_and_page(api, serve, register, start, wait):
    failing = [QUERY_TEXTS["q4"]]
    system = register(serve(system_app(RANKINGS, fail_queries=failing)), max_concurrency=4)
    evaluation_id = wait(start(system["id"], retries=0)["id"])["id"]
    url = f"/api/v1/evaluations/{evaluation_id}/queries"

    everything = api.get(url, params={"limit": 1000}).json()
    assert everything["total"] == len(QUERY_IDS)
    assert [r["query_id"] for r in everything["items"]] == sorted(QUERY_IDS)

    by_ndcg = api.get(url, params={"sort": "ndcg@10", "order": "desc"}).json()["items"]
    values = [r["metrics"]["nDCG@10"] for r in by_ndcg]
    assert values == sorted(values, reverse=True) and values[0] > 0
    assert {r["query_id"]: r["metrics"]["nDCG@10"] for r in by_ndcg}["q4"] == 0.0

    failed = api.get(url, params={"status": "failed"}).json()
    assert failed["total"] == 1 and failed["items"][0]["query_id"] == "q4"
    ok = api.get(url, params={"status": "ok", "offset": 3, "limit": 4}).json()
    assert ok["total"] == len(QUERY_IDS) - 1
    assert [r["query_id"] for r in ok["items"]] == sorted(set(QUERY_IDS) - {"q4"})[3:7]

    slowest = api.get(url, params={"sort": "latency_ms", "order": "desc"}).json()["items"]
    assert slowest[-1]["query_id"] == "q4"  # no latency: last whatever the order
    refused = api.get(url, params={"sort": "Bpref"})
    assert refused.status_code == 422 and "Bpref" in refused.text


def test_cancel_stops_querying_and_keeps_stored_results(api, serve, register, start, wait):
    app = system_app(RANKINGS, latency_s=0.15)
    system = register(serve(app), max_concurrency=1)
    evaluation_id = start(system["id"])["id"]
    deadline = time.monotonic() + 30
    while api.get(f"/api/v1/evaluations/{evaluation_id}").json()["queries_done"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    cancelled = api.post(f"/api/v1/evaluations/{evaluation_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    asked = app.state.calls["retrieve"]
    time.sleep(0.5)
    assert app.state.calls["retrieve"] <= asked + 1  # at most the request in flight
    body = wait(evaluation_id)
    assert body["status"] == "cancelled" and body["finished_at"] is not None
    stored = api.get(f"/api/v1/evaluations/{evaluation_id}/queries").json()["total"]
    assert 2 <= stored < len(QUERY_IDS)

    again = api.post(f"/api/v1/evaluations/{evaluation_id}/cancel")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    assert api.get(f"/api/v1/evaluations/{evaluation_id}/run").status_code == 409


def test_a_completed_evaluation_cannot_be_cancelled(api, system, start, wait):
    evaluation_id = wait(start(system["id"])["id"])["id"]
    response = api.post(f"/api/v1/evaluations/{evaluation_id}/cancel")
    assert response.status_code == 409
    assert response.json()["error"]["details"]["status"] == "completed"
