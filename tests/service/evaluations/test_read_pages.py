"""The list and detail bodies are written without the pydantic models: they must be
the very bytes the models would write, for every kind of stored row (with and
without aggregates and latency, integers where floats are declared, JSON nulls,
naive, aware and whole-second timestamps), every filter and every page."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from ragbench.datasets.models import Dataset
from ragbench.evaluations import service
from ragbench.evaluations.models import Evaluation, EvaluationQuery
from ragbench.evaluations.schemas import EvaluationPage
from ragbench.systems.models import System

T0 = datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))


def _evaluation(system_id: int, dataset_id: int, **values) -> Evaluation:
    defaults = {"system_id": system_id, "dataset_id": dataset_id, "status": "pending",
                "measures": ["nDCG@10"], "queries_total": 0, "queries_done": 0,
                "errors_count": 0, "aggregates": {}, "latency": {}, "created_at": T0}
    return Evaluation(**(defaults | values))


def _store(database) -> dict:
    """Two systems, two datasets, one evaluation of each kind; returns the ids."""
    with database.session() as session:
        systems = [System(name=f"s{i}", base_url=f"http://127.0.0.1:9/s{i}",
                          adapter="ragbench") for i in range(2)]
        datasets = [Dataset(name=f"d{i}", version=f"d{i}-v1", source_format="beir",
                            split="test", num_queries=3, storage_path=f"datasets/d{i}")
                    for i in range(2)]
        session.add_all(systems + datasets)
        session.flush()
        s0, s1 = (s.id for s in systems)
        d0, d1 = (d.id for d in datasets)
        rows = [
            # Completed, every field set, floats throughout.
            _evaluation(s0, d0, status="completed", measures=["nDCG@10", "AP"], top_k=10,
                        concurrency=2, timeout_s=1.5, retries=1, queries_total=3,
                        queries_done=3, errors_count=1,
                        aggregates={"nDCG@10": 0.1 + 0.2, "AP": 1e-7},
                        latency={"p50": 3.25, "p95": 1e22, "max": 9.5},
                        throughput_qps=12.5, run_path="runs/1.parquet", created_at=T0,
                        started_at=T0 + timedelta(seconds=1),
                        finished_at=T0 + timedelta(seconds=2),
                        heartbeat_at=T0 + timedelta(seconds=2)),
            # Integers where the model declares floats; whole-second timestamps.
            _evaluation(s1, d0, status="completed", timeout_s=10, queries_total=2,
                        queries_done=2, aggregates={"nDCG@10": 1, "AP": 0},
                        latency={"p50": 3, "max": 9.0}, throughput_qps=7,
                        created_at=T0.replace(microsecond=0),
                        finished_at=T0.replace(microsecond=0) + timedelta(minutes=1)),
            # Running: progress 1/3, a naive timestamp (read as UTC), an aware non-UTC one.
            _evaluation(s0, d0, status="running", measures=["RR"], queries_total=3,
                        queries_done=1, error='slow "upstream" — retrying',
                        created_at=T0.replace(tzinfo=None),
                        started_at=T0.astimezone(IST), heartbeat_at=T0),
            # Pending with nothing yet: JSON nulls in the JSON columns.
            _evaluation(s1, d0, status="pending", measures=None, aggregates=None,
                        latency=None, queries_total=0, queries_done=0),
            _evaluation(s0, d0, status="failed", queries_total=7, queries_done=2,
                        errors_count=5, error="system unreachable",
                        finished_at=T0 + timedelta(hours=1)),
            _evaluation(s1, d1, status="cancelled", queries_total=4, queries_done=4,
                        aggregates={"nDCG@10": 0.25}, latency={"p50": 1.0}),
        ]
        session.add_all(rows)
        session.flush()
        session.add_all([
            EvaluationQuery(evaluation_id=rows[0].id, query_id=q, status=s, metrics={})
            for q, s in (("q2", "failed"), ("q1", "ok"), ("q0", "failed"))])
        return {"systems": (s0, s1), "datasets": (d0, d1), "ids": [r.id for r in rows]}


def _model_page(session, **query) -> bytes:
    """The page as the models write it, from ORM objects."""
    rows, total = service.list_evaluations(session, **query)
    return EvaluationPage(items=[service.to_read(e) for e in rows], total=total,
                          offset=query["offset"], limit=query["limit"]).model_dump_json().encode()


def _model_detail(session, evaluation_id: int) -> bytes:
    evaluation = service.get_evaluation(session, evaluation_id=evaluation_id)
    return service.to_detail(session, evaluation).model_dump_json().encode()


def test_page_and_detail_bytes_equal_the_models_for_every_kind_of_row(api):
    database = api.app.state.database
    stored = _store(database)
    systems, datasets = stored["systems"], stored["datasets"]
    filters = [{}, {"dataset_id": datasets[0]}, {"system_id": systems[1]},
               {"status": "completed"}, {"dataset_id": datasets[0], "status": "running"},
               {"system_id": systems[0], "dataset_id": datasets[0], "status": "failed"},
               {"dataset_id": 987654}]
    # 500 rows: over the router's INLINE_ROWS, rendered in a worker thread.
    pages = [(0, 50), (0, 2), (2, 2), (5, 1), (6, 3), (40, 10), (0, 500)]
    checked = 0
    for where, (offset, limit) in itertools.product(filters, pages):
        query = {**where, "offset": offset, "limit": limit}
        with database.session() as session:
            expected = _model_page(session, **query)
        with database.session() as session:
            assert service.evaluation_page_json(session, **query) == expected, query
        response = api.get("/api/v1/evaluations", params=query)
        assert response.status_code == 200
        assert response.content == expected, query
        checked += 1
    assert checked == len(filters) * len(pages)

    for evaluation_id in stored["ids"]:
        with database.session() as session:
            expected = _model_detail(session, evaluation_id)
        response = api.get(f"/api/v1/evaluations/{evaluation_id}")
        assert response.content == expected, evaluation_id


def test_page_values_checked_by_hand(api):
    database = api.app.state.database
    stored = _store(database)
    ids = stored["ids"]
    page = api.get("/api/v1/evaluations", params={"dataset_id": stored["datasets"][0]}).json()
    # Newest first; the cancelled evaluation is on the other dataset.
    assert [item["id"] for item in page["items"]] == ids[4::-1]
    assert page["total"] == 5
    failed, pending, running, integers, full = page["items"]
    assert failed["progress"] == {"done": 2, "total": 7, "percent": 28.57}  # 200/7
    assert pending["measures"] == [] and pending["aggregates"] == {}
    assert pending["latency"] == {} and pending["progress"]["percent"] == 0.0
    assert running["progress"]["percent"] == 33.33
    assert running["created_at"] == "2025-03-04T05:06:07.890123Z"
    assert running["error"] == 'slow "upstream" — retrying'
    assert full["heartbeat_at"] == "2025-03-04T05:06:09.890123Z"
    assert full["aggregates"] == {"nDCG@10": 0.30000000000000004, "AP": 1e-7}
    assert full["latency"] == {"p50": 3.25, "p95": 1e22, "max": 9.5}
    # Integers stored where floats are declared come out as floats, as the model
    # writes them; a whole second has no fraction.
    body = api.get("/api/v1/evaluations/" + str(ids[1])).content
    assert b'"aggregates":{"nDCG@10":1.0,"AP":0.0}' in body
    assert b'"latency":{"p50":3.0,"max":9.0}' in body
    assert b'"timeout_s":10.0' in body and b'"throughput_qps":7.0' in body
    assert b'"created_at":"2025-03-04T05:06:07Z"' in body
    assert b'"percent":100.0' in body
    assert integers["id"] == ids[1]

    # Past the last row: no items, the total still counted.
    beyond = api.get("/api/v1/evaluations", params={"status": "completed", "offset": 9})
    assert beyond.json() == {"items": [], "total": 2, "offset": 9, "limit": 50}
    refused = api.get("/api/v1/evaluations", params={"status": "done"})
    assert refused.status_code == 422


# Kolkata is 5:30 ahead; London is on GMT in early March: an offset of zero in a
# zone that is not UTC itself.
@pytest.mark.parametrize("zone, offset", [("Asia/Kolkata", timedelta(hours=5, minutes=30)),
                                          ("Europe/London", timedelta(0))])
def test_timestamps_are_utc_whatever_the_session_time_zone(api, database_url, zone, offset):
    """PostgreSQL hands back timestamps in the session's zone: the bodies still say UTC."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite stores and returns naive UTC timestamps")
    database = api.app.state.database
    stored = _store(database)
    query = {"dataset_id": stored["datasets"][0], "offset": 0, "limit": 50}
    with database.session() as session:
        session.execute(text(f"SET LOCAL TIME ZONE '{zone}'"))
        started = session.scalar(select(Evaluation.started_at)
                                 .where(Evaluation.id == stored["ids"][2]))
        assert started.tzinfo is not UTC and started.utcoffset() == offset
        body = service.evaluation_page_json(session, **query)
        assert body == _model_page(session, **query)
        detail = service.evaluation_detail_json(session, evaluation_id=stored["ids"][2])
        assert detail == _model_detail(session, stored["ids"][2])
    # The running evaluation started at 10:36:07.890123+05:30, read back in the
    # session's zone, written in UTC.
    assert b'"started_at":"2025-03-04T05:06:07.890123Z"' in detail
