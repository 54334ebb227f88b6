"""GET /api/v1/evaluations and /{id} are rendered from selected columns straight to
JSON: the bodies must be those of the models built from the ORM rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ragbench.datasets.models import Dataset
from ragbench.evaluations import service
from ragbench.evaluations.models import Evaluation, EvaluationQuery
from ragbench.evaluations.schemas import EvaluationPage
from ragbench.systems.models import System

T0 = datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


def _store(database) -> tuple[int, list[int]]:
    with database.session() as session:
        system = System(name="s", base_url="http://127.0.0.1:9/s", adapter="ragbench")
        dataset = Dataset(name="d", version="d-v1", source_format="beir", split="test",
                          num_queries=3, storage_path="datasets/d")
        session.add_all([system, dataset])
        session.flush()
        rows = [
            Evaluation(system_id=system.id, dataset_id=dataset.id, status="completed",
                       measures=["nDCG@10", "AP"], top_k=10, concurrency=2, timeout_s=1.5,
                       retries=1, queries_total=3, queries_done=3, errors_count=1,
                       aggregates={"nDCG@10": 0.5, "AP": 1}, throughput_qps=12.5,
                       latency={"p50": 3.25, "max": 9}, run_path="runs/1.parquet",
                       created_at=T0, started_at=T0 + timedelta(seconds=1),
                       finished_at=T0 + timedelta(seconds=2),
                       heartbeat_at=T0 + timedelta(seconds=2)),
            Evaluation(system_id=system.id, dataset_id=dataset.id, status="pending",
                       measures=["P@10"], queries_total=0, queries_done=0, errors_count=0,
                       aggregates={}, latency={}, created_at=T0),
            Evaluation(system_id=system.id, dataset_id=dataset.id, status="running",
                       measures=["RR"], queries_total=3, queries_done=1, error="slow",
                       aggregates={}, latency={}, created_at=T0.replace(tzinfo=None)),
        ]
        session.add_all(rows)
        session.flush()
        session.add_all([
            EvaluationQuery(evaluation_id=rows[0].id, query_id=q, status=s, metrics={})
            for q, s in (("q2", "failed"), ("q1", "ok"), ("q0", "failed"))])
        return dataset.id, [row.id for row in rows]


def test_list_and_detail_bodies_equal_the_models(api):
    database = api.app.state.database
    dataset_id, ids = _store(database)
    with database.session() as session:
        expected_details = {i: service.to_detail(session, service.get_evaluation(
            session, evaluation_id=i)).model_dump(mode="json") for i in ids}
        rows, total = service.list_evaluations(session, dataset_id=dataset_id, limit=2)
        expected_page = EvaluationPage(items=[service.to_read(e) for e in rows], total=total,
                                       offset=0, limit=2).model_dump(mode="json")

    for evaluation_id in ids:
        response = api.get(f"/api/v1/evaluations/{evaluation_id}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == expected_details[evaluation_id]
    page = api.get("/api/v1/evaluations", params={"dataset_id": dataset_id, "limit": 2})
    assert page.json() == expected_page

    # Values checked by hand: newest first, progress 1/3, UTC timestamps, failed ids sorted.
    assert [item["id"] for item in page.json()["items"]] == ids[::-1][:2]
    assert page.json()["total"] == 3
    assert page.json()["items"][0]["progress"] == {"done": 1, "total": 3, "percent": 33.33}
    assert page.json()["items"][0]["created_at"] == "2025-03-04T05:06:07.890123Z"
    detail = api.get(f"/api/v1/evaluations/{ids[0]}").json()
    assert detail["failed_query_ids"] == ["q0", "q2"]
    assert detail["aggregates"] == {"nDCG@10": 0.5, "AP": 1.0}
    assert detail["finished_at"] == "2025-03-04T05:06:09.890123Z"
    missing = api.get("/api/v1/evaluations/987654")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "no evaluation with id 987654"
