"""The task code on its own (no engine running): leases, idempotency, claims
under contention, lease expiry, rate limits."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from ragbench.batch import execution, service
from ragbench.batch.models import JobTask
from ragbench.evaluations.ratelimit import TokenBucket
from ragbench.batch.schemas import JobCreate
from ragbench.evaluations.models import Evaluation, EvaluationQuery

from .conftest import add_system, calls_for, ranker, stored_rows, tasks_of


def new_job(database, *, system_ids, dataset_ids, **config) -> list[int]:
    """A job made through the service (nothing dispatches it); its task ids."""
    with database.session() as session:
        job = service.create_job(session, data=JobCreate(
            name="j", system_ids=system_ids, dataset_ids=dataset_ids,
            evaluation_config=config))
        return [t.id for t in service.job_tasks(session, job_id=job.id)]


def snapshot(database) -> tuple[list, list]:
    with database.session() as session:
        evaluations = session.execute(select(Evaluation.id, Evaluation.status,
                                             Evaluation.queries_done, Evaluation.aggregates)
                                      .order_by(Evaluation.id)).all()
        rows = session.execute(select(EvaluationQuery.id, EvaluationQuery.query_id,
                                      EvaluationQuery.metrics)
                               .order_by(EvaluationQuery.id)).all()
        return [tuple(r) for r in evaluations], [tuple(r) for r in rows]


def test_running_a_task_twice_changes_nothing_the_second_time(settings, database, dataset_ids,
                                                              system, collections):
    app, sid = system("s")
    (task_id,) = new_job(database, system_ids=[sid], dataset_ids=dataset_ids[:1])
    run = lambda worker: execution.execute_task(task_id, settings=settings, database=database,
                                                worker_id=worker)
    assert run("host:1:0") == "completed"
    first, calls = snapshot(database), app.state.calls.copy()
    assert len(first[0]) == 1 and len(first[1]) == 12

    assert run("host:1:0") == "completed"
    assert run("host:2:0") == "completed"
    assert snapshot(database) == first and app.state.calls == calls
    (task,) = tasks_of(database, task_job(database, task_id))
    assert (task.status, task.attempts, task.evaluation_id) == ("completed", 1, first[0][0][0])


def task_job(database, task_id: int) -> int:
    with database.session() as session:
        return session.scalar(select(JobTask.job_id).where(JobTask.id == task_id))


@pytest.mark.parametrize("same_worker", [False, True], ids=["two-workers", "one-worker-id"])
def test_a_task_run_from_two_threads_at_once_runs_once(settings, database, dataset_ids, system,
                                                       collections, same_worker):
    app, sid = system("slow", latency_s=0.02, max_concurrency=2)
    (task_id,) = new_job(database, system_ids=[sid], dataset_ids=dataset_ids[:1])
    start = threading.Barrier(2)
    results: list[str] = []

    def run(n: int) -> None:
        start.wait()
        results.append(execution.execute_task(
            task_id, settings=settings, database=database,
            worker_id="host:1:0" if same_worker else f"host:1:{n}"))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # One ran it; the other found it leased (or, if it came late, finished).
    assert "completed" in results and set(results) <= {"completed", "running"}
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Evaluation)) == 1
        evaluation_id = session.scalar(select(Evaluation.id))
    judged = collections[0].qrels.query_ids.unique().to_pylist()
    assert stored_rows(database, evaluation_id) == {q: 1 for q in judged}
    assert calls_for(app, collections[0]) == {q: 1 for q in judged}


def test_claims_under_contention_take_each_task_once_and_respect_the_system_limit(
        settings, database, dataset_ids):
    system_ids = [add_system(database, name=f"s{n}", base_url=f"http://127.0.0.1:9/{n}")
                  for n in range(4)]
    task_ids = new_job(database, system_ids=system_ids, dataset_ids=dataset_ids)
    assert len(task_ids) == 8
    start = threading.Barrier(12)
    claimed: list[tuple[str, int]] = []

    def claim(n: int) -> None:
        start.wait()
        worker = f"host:1:{n}"
        while (task_id := execution.claim_next(database, worker_id=worker, lease_s=30,
                                               max_running_per_system=1)) is not None:
            claimed.append((worker, task_id))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    ids = [task_id for _, task_id in claimed]
    assert len(ids) == len(set(ids)) == 4  # one per system, none twice
    tasks = {t.id: t for t in tasks_of(database, task_job(database, task_ids[0]))}
    assert Counter(tasks[i].system_id for i in ids) == {sid: 1 for sid in system_ids}
    for worker, task_id in claimed:
        assert (tasks[task_id].status, tasks[task_id].lease_owner,
                tasks[task_id].attempts) == ("running", worker, 1)

    # With two per system, the other four can start too, and then nothing more.
    more = [execution.claim_next(database, worker_id="host:2:0", lease_s=30,
                                 max_running_per_system=2) for _ in range(5)]
    assert sorted(more[:4]) == sorted(set(task_ids) - set(ids)) and more[4] is None


def test_an_expired_lease_is_requeued_and_its_evaluation_resumed(settings, database,
                                                                 dataset_ids, system,
                                                                 collections):
    app, sid = system("s")
    (task_id,) = new_job(database, system_ids=[sid], dataset_ids=dataset_ids[:1])
    assert execution.claim_next(database, worker_id="dead:1:0", lease_s=0.3) == task_id
    # Leased to a live worker: another one leaves it alone.
    assert execution.execute_task(task_id, settings=settings, database=database,
                                  worker_id="host:1:0") == "running"
    assert execution.requeue_expired(database) == []
    assert app.state.calls["retrieve"] == 0
    time.sleep(0.4)
    assert execution.requeue_expired(database) == [task_id]
    (task,) = tasks_of(database, task_job(database, task_id))
    assert (task.status, task.lease_owner, task.lease_expires_at) == ("pending", None, None)
    assert execution.execute_task(task_id, settings=settings, database=database,
                                  worker_id="host:1:0") == "completed"
    (task,) = tasks_of(database, task_job(database, task_id))
    assert (task.status, task.attempts) == ("completed", 2)


def test_a_task_whose_system_was_archived_fails_with_the_reason(api, settings, database,
                                                                dataset_ids, system):
    _, sid = system("s")
    (task_id,) = new_job(database, system_ids=[sid], dataset_ids=dataset_ids[:1])
    assert api.delete(f"/api/v1/systems/{sid}").json()["status"] == "archived"
    # the engine of ``api`` may take it first; either way it fails once, for that reason
    status = execution.execute_task(task_id, settings=settings, database=database,
                                    worker_id="host:1:0")
    assert status == "failed"
    (task,) = tasks_of(database, task_job(database, task_id))
    assert task.evaluation_id is None and "archived" in task.error
    assert api.get(f"/api/v1/batch/jobs/{task.job_id}").json()["status"] == "failed"


def test_token_bucket_spaces_requests_by_the_rate():
    now = [10.0]
    bucket = TokenBucket(4, clock=lambda: now[0])
    # Four callers at once: slots 0, 0.25, 0.5, 0.75 s away.
    assert [bucket.reserve() for _ in range(4)] == [0.0, 0.25, 0.5, 0.75]
    now[0] = 12.0  # idle longer than a slot: no burst is saved up
    assert [bucket.reserve() for _ in range(2)] == [0.0, 0.25]
    with pytest.raises(ValueError):
        TokenBucket(0)


def test_a_rate_limited_task_never_exceeds_its_rate(settings, database, dataset_ids, serve,
                                                    collections, queries):
    from fake_systems import system_app

    rank = ranker(collections, queries, 3)
    arrivals: list[float] = []

    def timed(text: str):
        arrivals.append(time.monotonic())
        return rank(text)

    url = serve(system_app(timed))
    sid = add_system(database, name="limited", base_url=url, max_concurrency=8, timeout_s=1.0)
    qps = 10.0
    (task_id,) = new_job(database, system_ids=[sid], dataset_ids=dataset_ids[:1],
                         rate_limit_qps=qps, concurrency=8)
    assert execution.execute_task(task_id, settings=settings, database=database,
                                  worker_id="host:1:0") == "completed"
    arrivals.sort()
    assert len(arrivals) == 12
    # Requests leave 1 / qps = 100 ms apart; on arrival each may be late by its own
    # network delay (the first ones also open their connection), hence 60 ms of slack.
    for i, j in itertools.combinations(range(12), 2):
        assert arrivals[j] - arrivals[i] >= (j - i) / qps - 0.06, (i, j)
    with database.session() as session:
        evaluation = session.scalar(select(Evaluation))
    # 10/s against a 1 s timeout: at most 5 requests may wait at once.
    assert (evaluation.concurrency, evaluation.errors_count) == (5, 0)


def test_the_evaluation_executor_leaves_batch_evaluations_to_the_queue(settings, database,
                                                                       dataset_ids, system):
    from datetime import timedelta

    from fastapi.testclient import TestClient

    from ragbench.database import utcnow
    from ragbench.main import create_app

    app, sid = system("s")
    (task_id,) = new_job(database, system_ids=[sid], dataset_ids=dataset_ids[:1])
    # Leased to a live worker elsewhere; its evaluation looks stale to the executor.
    assert execution.claim_next(database, worker_id="elsewhere:1:0", lease_s=60) == task_id
    with database.session() as session:
        task = session.get(JobTask, task_id)
        evaluation = service_evaluation(session, task)
        evaluation.status = "running"
        evaluation.heartbeat_at = utcnow() - timedelta(hours=1)
    with TestClient(create_app(settings)):
        time.sleep(0.5)
    assert app.state.calls["retrieve"] == 0
    with database.session() as session:
        assert session.get(Evaluation, evaluation.id).status == "running"


def service_evaluation(session, task: JobTask) -> Evaluation:
    """The task's evaluation, made as the task code makes it."""
    evaluation = execution.new_evaluation(session, task, service.job_config(
        session.get(service.Job, task.job_id)))
    task.evaluation_id = evaluation.id
    return evaluation
