"""Faults during a job: a flapping system, a system that goes down, a cancel
while running, retries of failed tasks. Each checks exact stored counts."""

from __future__ import annotations

import time

from servers import free_port, serve_app
from sqlalchemy import select

from ragbench.batch import execution, service
from ragbench.evaluations import artifacts
from ragbench.evaluations.models import Evaluation, EvaluationQuery

from .conftest import (add_system, calls_for, create_job, progress, ranker, stored_rows, tasks_of,
                       wait_job)
from .test_execution import new_job, task_job


def query_rows(database, evaluation_id: int) -> dict[str, EvaluationQuery]:
    with database.session() as session:
        return {r.query_id: r for r in session.scalars(
            select(EvaluationQuery).where(EvaluationQuery.evaluation_id == evaluation_id))}


def evaluation(database, evaluation_id: int) -> Evaluation:
    with database.session() as session:
        return session.get(Evaluation, evaluation_id)


def test_a_flapping_system_completes_with_every_query_stored_once(api, database, dataset_ids,
                                                                   system, collections):
    flaky_app, flaky = system("flaky", mode="flaky", fail_rate=0.2, seed=3)
    steady_app, steady = system("steady")
    job = create_job(api, system_ids=[flaky, steady], dataset_ids=dataset_ids, retries=8,
                     concurrency=4)
    done = wait_job(api, job["id"])
    assert done["status"] == "completed" and done["tasks"]["completed"] == 4
    for task in tasks_of(database, job["id"]):
        index = dataset_ids.index(task.dataset_id)
        judged = collections[index].qrels.query_ids.unique().to_pylist()
        rows = query_rows(database, task.evaluation_id)
        assert sorted(rows) == sorted(judged) and {r.status for r in rows.values()} == {"ok"}
        app = flaky_app if task.system_id == flaky else steady_app
        # Every request the system saw is an attempt of a stored query, and the
        # other way round.
        assert calls_for(app, collections[index]) == {q: rows[q].attempts for q in judged}
    assert flaky_app.state.calls["retrieve"] > 24  # it did flap (503s were retried)
    assert steady_app.state.calls["retrieve"] == 24


def test_a_system_that_goes_down_fails_its_task_and_the_rest_complete(
        api, database, dataset_ids, system, collections, queries):
    from fake_systems import system_app

    doomed_app = system_app(ranker(collections, queries, 2), latency_s=0.15)
    port = free_port()
    doomed = add_system(database, name="doomed", base_url=f"http://127.0.0.1:{port}",
                        max_concurrency=1)
    steady_app, steady = system("steady")
    with serve_app(doomed_app, port=port):
        job = create_job(api, system_ids=[doomed, steady], dataset_ids=dataset_ids[:1],
                         concurrency=1, retries=1)

        def doomed_midway(_job) -> bool:
            item = next(i for i in progress(api, job["id"])["items"] if i["system_id"] == doomed)
            return item["queries_done"] >= 2
        wait_job(api, job["id"], until=doomed_midway)
    answered = doomed_app.state.calls["retrieve"]

    done = wait_job(api, job["id"])
    assert done["status"] == "failed" and done["tasks"]["completed"] == 1
    assert done["tasks"]["failed"] == 1
    doomed_task, steady_task = sorted(tasks_of(database, job["id"]),
                                      key=lambda t: t.system_id != doomed)
    rows = query_rows(database, doomed_task.evaluation_id)
    judged = collections[0].qrels.query_ids.unique().to_pylist()
    assert sorted(rows) == sorted(judged)  # every query recorded, answered or not
    failed = sorted(q for q, r in rows.items() if r.status == "failed")
    assert len(failed) == 12 - answered and failed
    first_failed = min((r for r in rows.values() if r.status == "failed"), key=lambda r: r.id)
    assert doomed_task.error.startswith(f"{len(failed)} of 12 queries failed after 1 retries; "
                                        f"first, query {first_failed.query_id}: ")
    assert first_failed.error in doomed_task.error
    assert f"task {doomed_task.id}: {doomed_task.error}" in done["error"]
    assert steady_task.status == "completed"
    assert stored_rows(database, steady_task.evaluation_id) == {q: 1 for q in judged}

    # Back up on the same address: a retry runs the failed task only, on a new
    # evaluation (the finished one stays as it was).
    steady_calls = steady_app.state.calls.copy()
    before = calls_for(doomed_app, collections[0])
    with serve_app(doomed_app, port=port):
        retried = api.post(f"/api/v1/batch/jobs/{job['id']}/retry")
        assert retried.status_code == 200, retried.text
        assert retried.json()["status"] == "running"
        done = wait_job(api, job["id"])
    assert done["status"] == "completed" and done["error"] is None
    assert steady_app.state.calls == steady_calls
    after = calls_for(doomed_app, collections[0])
    assert {q: after[q] - before[q] for q in judged} == {q: 1 for q in judged}
    (retried_task,) = [t for t in tasks_of(database, job["id"]) if t.system_id == doomed]
    assert retried_task.evaluation_id != doomed_task.evaluation_id
    assert (retried_task.status, retried_task.attempts) == ("completed", 2)
    assert stored_rows(database, retried_task.evaluation_id) == {q: 1 for q in judged}
    old = evaluation(database, doomed_task.evaluation_id)
    assert (old.status, old.errors_count) == ("completed", len(failed))
    assert sorted(done["evaluation_ids"]) == sorted([steady_task.evaluation_id,
                                                     retried_task.evaluation_id])


def test_retry_resumes_an_evaluation_that_broke_off(settings, database, dataset_ids, serve,
                                                    collections, queries, monkeypatch):
    from fake_systems import system_app

    texts = dict(zip(collections[0].queries.ids.to_pylist(),
                     collections[0].queries.texts.to_pylist()))
    refusing = [texts["q3"]]
    app = system_app(ranker(collections, queries, 3), fail_queries=refusing)
    sid = add_system(database, name="s", base_url=serve(app))
    (task_id,) = new_job(database, system_ids=[sid], dataset_ids=dataset_ids[:1], retries=0)

    def disk_full(*_args, **_kw):
        raise OSError("no space left on device")
    monkeypatch.setattr(artifacts, "write_run_artifact", disk_full)
    run = lambda: execution.execute_task(task_id, settings=settings, database=database,
                                         worker_id="host:1:0")
    assert run() == "failed"
    (task,) = tasks_of(database, task_job(database, task_id))
    assert task.error == (f"evaluation {task.evaluation_id} failed: "
                          "OSError: no space left on device")
    first = task.evaluation_id
    assert {q: r.status for q, r in query_rows(database, first).items()} == \
        {q: "failed" if q == "q3" else "ok" for q in texts}

    monkeypatch.undo()
    refusing.clear()
    with database.session() as session:
        job, retried = service.retry_job(session, job_id=task.job_id)
        assert (job.status, retried) == ("running", [task_id])
    assert run() == "completed"
    (task,) = tasks_of(database, task_job(database, task_id))
    assert (task.evaluation_id, task.attempts) == (first, 2)
    # Resumed: only the failed query was asked again.
    assert calls_for(app, collections[0]) == {q: 2 if q == "q3" else 1 for q in texts}
    rows = query_rows(database, first)
    assert sorted(rows) == sorted(texts) and {r.status for r in rows.values()} == {"ok"}
    assert evaluation(database, first).status == "completed"


def test_cancel_stops_the_running_task_within_seconds_and_keeps_finished_results(
        api, database, dataset_ids, system, collections):
    _, fast = system("fast")
    slow_app, slow = system("slow", latency_s=0.2, max_concurrency=1)
    job = create_job(api, system_ids=[fast, slow], dataset_ids=dataset_ids, concurrency=1)

    def ready(_job) -> bool:
        items = progress(api, job["id"])["items"]
        fast_done = all(i["status"] == "completed" for i in items if i["system_id"] == fast)
        return fast_done and any(i["system_id"] == slow and i["queries_done"] >= 2
                                 for i in items)
    wait_job(api, job["id"], until=ready)
    cancelled_at = time.monotonic()
    response = api.post(f"/api/v1/batch/jobs/{job['id']}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["tasks"] == {"total": 4, "pending": 0, "running": 0,
                                        "completed": 2, "failed": 0, "cancelled": 2}

    # The slow system stops being asked within a few seconds (one request may be
    # in flight when the cancel lands).
    calls = slow_app.state.calls["retrieve"]
    while time.monotonic() - cancelled_at < 3.0:
        time.sleep(0.3)
        if slow_app.state.calls["retrieve"] == calls:
            break
        calls = slow_app.state.calls["retrieve"]
    stopped_after = time.monotonic() - cancelled_at
    time.sleep(1.0)
    assert slow_app.state.calls["retrieve"] == calls and stopped_after < 3.0
    assert calls < 12

    tasks = {(t.system_id, t.dataset_id): t for t in tasks_of(database, job["id"])}
    for dataset_id, collection in zip(dataset_ids, collections):
        judged = collection.qrels.query_ids.unique().to_pylist()
        finished = tasks[(fast, dataset_id)]
        assert finished.status == "completed"
        assert evaluation(database, finished.evaluation_id).status == "completed"
        assert stored_rows(database, finished.evaluation_id) == {q: 1 for q in judged}
    interrupted, never = tasks[(slow, dataset_ids[0])], tasks[(slow, dataset_ids[1])]
    assert (interrupted.status, never.status) == ("cancelled", "cancelled")
    assert never.evaluation_id is None
    stopped = evaluation(database, interrupted.evaluation_id)
    assert stopped.status == "cancelled"
    assert sum(stored_rows(database, stopped.id).values()) <= calls
    final = api.get(f"/api/v1/batch/jobs/{job['id']}").json()
    assert final["status"] == "cancelled" and final["cancel_requested_at"]
    # Cancelled is final: no retry, cancel again changes nothing.
    assert api.post(f"/api/v1/batch/jobs/{job['id']}/retry").status_code == 409
    assert api.post(f"/api/v1/batch/jobs/{job['id']}/cancel").json()["status"] == "cancelled"
