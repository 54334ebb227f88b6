"""A batch job adds nothing and loses nothing: one evaluation per (system,
dataset), one stored row per judged query, values equal to the same evaluation
run on its own and to pytrec_eval on what the systems answer."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select

from ragbench.batch import service
from ragbench.batch.schemas import JobCreate
from ragbench.evaluations import jobs
from ragbench.evaluations import service as evaluations_service
from ragbench.evaluations.models import Evaluation
from ragbench.evaluations.schemas import EvaluationCreate

from .conftest import (PYTREC, calls_for, create_job, progress, pytrec_metrics, ranker,
                       stored_metrics, stored_rows, tasks_of, wait_job)

MEASURES = list(PYTREC)


def test_a_job_evaluates_every_system_on_every_dataset_once(
        api, settings, database, dataset_ids, system, collections, queries):
    systems = {quality: system(f"system-{quality}", quality=quality) for quality in (1, 2, 3)}
    system_ids = [sid for _, sid in systems.values()]
    job = create_job(api, system_ids=system_ids, dataset_ids=dataset_ids, measures=MEASURES,
                     top_k=20, concurrency=3)
    assert job["tasks"]["total"] == 6 and job["status"] in ("pending", "running")

    done = wait_job(api, job["id"])
    assert done["status"] == "completed", done
    assert done["tasks"] == {"total": 6, "pending": 0, "running": 0, "completed": 6,
                             "failed": 0, "cancelled": 0}
    assert done["started_at"] and done["finished_at"] and done["error"] is None
    assert len(set(done["evaluation_ids"])) == 6

    tasks = tasks_of(database, job["id"])
    assert sorted((t.system_id, t.dataset_id) for t in tasks) == \
        sorted(itertools.product(system_ids, dataset_ids))
    assert sorted(t.evaluation_id for t in tasks) == sorted(done["evaluation_ids"])
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Evaluation)) == 6
    quality_of = {sid: quality for quality, (_, sid) in systems.items()}
    for task in tasks:
        index = dataset_ids.index(task.dataset_id)
        judged = collections[index].qrels.query_ids.unique().to_pylist()
        assert task.status == "completed" and task.attempts == 1 and task.error is None
        assert task.lease_owner is None
        assert stored_rows(database, task.evaluation_id) == {q: 1 for q in judged}
        with database.session() as session:
            evaluation = session.get(Evaluation, task.evaluation_id)
        assert (evaluation.batch_task_id, evaluation.status, evaluation.system_id,
                evaluation.dataset_id) == (task.id, "completed", task.system_id,
                                           task.dataset_id)
        assert (evaluation.measures, evaluation.top_k, evaluation.concurrency) == \
            (MEASURES, 20, 3)
        # Each query was asked once (no retries needed, nothing asked twice).
        app = systems[quality_of[task.system_id]][0]
        assert calls_for(app, collections[index]) == {q: 1 for q in judged}

        # pytrec_eval on the rankings the system answers.
        expected = pytrec_metrics(collections[index],
                                  ranker(collections, queries, quality_of[task.system_id]),
                                  judged)
        stored = stored_metrics(database, task.evaluation_id)
        for q in judged:
            assert stored[q] == pytest.approx(expected[q], abs=1e-12), q

    # The same evaluations run on their own give exactly the same values.
    for task in tasks:
        with database.session() as session:
            batch = session.get(Evaluation, task.evaluation_id)
            alone = evaluations_service.create_evaluation(session, data=EvaluationCreate(
                system_id=task.system_id, dataset_id=task.dataset_id, measures=MEASURES,
                top_k=20, concurrency=3))
        assert jobs.run_evaluation(alone.id, settings=settings, database=database) == \
            "completed"
        with database.session() as session:
            assert session.get(Evaluation, alone.id).aggregates == batch.aggregates
        assert stored_metrics(database, alone.id) == stored_metrics(database, batch.id)

    body = progress(api, job["id"])
    assert body["percent"] == 100.0 and body["queries_done"] == body["queries_total"] == 72
    assert [(i["queries_done"], i["queries_total"], i["eta_s"]) for i in body["items"]] == \
        [(12, 12, None)] * 6


def test_job_api_lists_reads_and_refuses(api, database, dataset_ids, system):
    _, ok = system("ok")
    _, archived = system("archived")
    assert api.delete(f"/api/v1/systems/{archived}").json()["status"] == "archived"

    def post(**body):
        return api.post("/api/v1/batch/jobs", json={"name": "j", "system_ids": [ok],
                                                     "dataset_ids": dataset_ids, **body})
    missing = post(system_ids=[ok, 999])
    assert missing.status_code == 404
    assert missing.json()["error"]["details"]["field"] == "system_ids[1]"
    assert post(dataset_ids=[999]).status_code == 404
    assert post(system_ids=[archived]).status_code == 409
    bad = post(evaluation_config={"measures": ["nDCG@10", "nope@3"]})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["field"] == "evaluation_config.measures[1]"
    # 0.2 requests/s against a 5 s timeout: a request could wait its whole timeout.
    slow = post(evaluation_config={"rate_limit_qps": 0.2})
    assert slow.status_code == 422
    assert slow.json()["error"]["details"]["field"] == "evaluation_config.rate_limit_qps"
    assert post(evaluation_config={"top_k": 0}).status_code == 422
    assert api.get("/api/v1/batch/jobs/999").status_code == 404
    assert api.get("/api/v1/batch/jobs/999/progress").status_code == 404

    first = create_job(api, system_ids=[ok, ok], dataset_ids=dataset_ids[:1] * 2, name="a")
    assert first["system_ids"] == [ok] and first["tasks"]["total"] == 1  # repeats count once
    second = create_job(api, system_ids=[ok], dataset_ids=dataset_ids, name="b")
    wait_job(api, first["id"])
    wait_job(api, second["id"])
    listed = api.get("/api/v1/batch/jobs").json()
    assert [j["id"] for j in listed["items"]] == [second["id"], first["id"]]
    assert listed["total"] == 2
    assert api.get("/api/v1/batch/jobs", params={"status": "failed"}).json()["total"] == 0
    assert api.get("/api/v1/batch/jobs", params={"status": "nope"}).status_code == 422
    assert api.post(f"/api/v1/batch/jobs/{first['id']}/cancel").status_code == 409
    assert api.post(f"/api/v1/batch/jobs/{first['id']}/retry").status_code == 409


def test_a_schedule_due_time_makes_one_job(database, dataset_ids, system):
    from datetime import UTC, datetime

    from ragbench.errors import Conflict
    from ragbench.schedules.models import Schedule

    _, sid = system("s")
    with database.session() as session:
        schedule = Schedule(name="nightly", cron="0 2 * * *", timezone="UTC",
                            job_template={}, misfire_policy="run_once", status="active")
        session.add(schedule)
        session.flush()
        schedule_id = schedule.id
    due = datetime(2030, 1, 1, 2, tzinfo=UTC)
    data = JobCreate(name="nightly", system_ids=[sid], dataset_ids=dataset_ids)
    with database.session() as session:
        job = service.create_job(session, data=data, schedule_id=schedule_id, scheduled_for=due)
        assert (job.schedule_id, job.status) == (schedule_id, "pending")
    with pytest.raises(Conflict), database.session() as session:
        service.create_job(session, data=data, schedule_id=schedule_id, scheduled_for=due)
    with database.session() as session:
        assert service.list_jobs(session, schedule_id=schedule_id)[1] == 1


def test_viewers_read_and_editors_create_cancel_and_retry(settings, database, dataset_ids,
                                                          system):
    from fastapi.testclient import TestClient

    from ragbench.auth.service import create_key
    from ragbench.main import create_app

    _, sid = system("s")
    secured = settings.model_copy(update={"auth_enabled": True})
    with TestClient(create_app(secured)) as api:
        with database.session() as session:
            viewer = {"Authorization": f"Bearer {create_key(session, name='v', role='viewer')[1]}"}
            editor = {"Authorization": f"Bearer {create_key(session, name='e', role='editor')[1]}"}
        body = {"name": "j", "system_ids": [sid], "dataset_ids": dataset_ids}
        assert api.post("/api/v1/batch/jobs", json=body).status_code == 401
        assert api.post("/api/v1/batch/jobs", json=body, headers=viewer).status_code == 403
        created = api.post("/api/v1/batch/jobs", json=body, headers=editor)
        assert created.status_code == 201
        job_id = created.json()["id"]
        api.headers.update(viewer)
        wait_job(api, job_id)
        reads = [api.get(path).status_code for path in (
            "/api/v1/batch/jobs", f"/api/v1/batch/jobs/{job_id}",
            f"/api/v1/batch/jobs/{job_id}/progress", f"/api/v1/batch/jobs/{job_id}/events")]
        assert reads == [200, 200, 200, 200]
        for action in ("cancel", "retry"):
            path = f"/api/v1/batch/jobs/{job_id}/{action}"
            assert api.post(path).status_code == 403
            assert api.post(path, headers=editor).status_code == 409  # allowed; it completed
