"""Crashes around the queue itself: the server killed with jobs in flight and a
job stored but never sent (a server that died between its commit and the
send), and a worker dying while no server runs."""

from __future__ import annotations

import functools

from fake_systems import system_app

from ragbench.batch import service as batch_service
from ragbench.batch.schemas import EvaluationConfig, JobCreate

from . import checks
from .collections import MEASURES, ranker
from .conftest import COLLECTIONS

LATENCY_S = 0.08


def test_workers_recover_without_a_server_and_a_restart_sends_what_was_never_sent(
        workers, dataset_ids, serve):
    database = workers.database
    ranks = [ranker(COLLECTIONS, seed=s) for s in (41, 42)]
    slow = [system_app(rank, latency_s=LATENCY_S) for rank in ranks]
    slow_ids = [workers.register(serve(app), name=f"slow-{i}", max_concurrency=2)
                for i, app in enumerate(slow)]
    quick = system_app(ranker(COLLECTIONS, seed=43))
    quick_id = workers.register(serve(quick), name="quick")
    used = [1, 2]  # c1, c2: 30 + 20 judged queries
    collection_of = {dataset_ids[d]: COLLECTIONS[d] for d in used}
    totals = {d: len(c.query_ids) for d, c in collection_of.items()}

    first = workers.start_worker(concurrency=2)
    sent = workers.create_job(slow_ids, [dataset_ids[d] for d in used], measures=MEASURES,
                              top_k=20, concurrency=2, retries=0)
    running = checks.wait_until(
        functools.partial(checks.mid_evaluation, database, sent["id"], first.pid, totals),
        timeout_s=60, what="the worker in the middle of a task", logs=workers.logs)

    workers.server.kill9()
    # Stored, never sent: what a server that died between its commit and the
    # send leaves behind.
    with database.session() as session:
        unsent_id = batch_service.create_job(session, data=JobCreate(
            name="unsent", system_ids=[quick_id], dataset_ids=[dataset_ids[0]],
            evaluation_config=EvaluationConfig(measures=MEASURES, top_k=20))).id
    first.kill9()
    victims = checks.victims(database, sent["id"], first.pid, running)
    stored = {e: set(checks.stored_queries(database, e)) for e in victims.values()}

    # No server: the new worker's reaper takes the dead worker's tasks back.
    second = workers.start_worker(concurrency=2)
    checks.wait_until(lambda: checks.job_status(database, sent["id"]) in ("completed",
                                                                           "failed"),
                      timeout_s=90, what="the sent job to finish", logs=workers.logs)
    assert checks.job_status(database, sent["id"]) == "completed", workers.logs()
    assert "leases expired, sending again" in second.tail(10_000)
    # Nothing sent the unsent job.
    assert {r.status for r in checks.tasks(database, unsent_id)} == {"pending"}

    workers.start_server()  # sends every pending task on start
    done = workers.wait_job(unsent_id, timeout_s=60)
    assert done["status"] == "completed", workers.logs()

    rows = checks.tasks(database, sent["id"]) + checks.tasks(database, unsent_id)
    assert len(rows) == 5 and all(r.status == "completed" for r in rows)
    assert checks.evaluations_of(database, [r.id for r in rows]) == \
        {r.id: [r.evaluation_id] for r in rows}
    by_id = {r.id: r for r in rows}
    for task_id, evaluation_id in victims.items():
        # Resumed: the same evaluation, claimed a second time.
        assert by_id[task_id].evaluation_id == evaluation_id
        assert by_id[task_id].attempts == 2
    for row in rows:
        collection = COLLECTIONS[0] if row.id in {r.id for r in checks.tasks(
            database, unsent_id)} else collection_of[row.dataset_id]
        assert sorted(checks.stored_queries(database, row.evaluation_id)) == \
            collection.query_ids
        app = quick if row.system_id == quick_id else slow[slow_ids.index(row.system_id)]
        calls = {q: app.state.calls[f"q:{t}"] for q, t in collection.texts.items()}
        if row.id in victims:
            # Queries stored before the kill were not asked again.
            assert all(calls[q] == 1 for q in stored[victims[row.id]]), calls
            assert sum(calls.values()) < 2 * len(calls)
        else:
            assert row.attempts == 1 and set(calls.values()) == {1}, (row, calls)


def test_a_restarted_broker_loses_no_task(workers, dataset_ids, serve):
    """Redis killed and started anew mid-job: every queued message is gone (it
    keeps nothing on disk); a reaper notices the new instance and sends the
    pending tasks again, and the running one carries on."""
    database = workers.database
    apps = [system_app(ranker(COLLECTIONS, seed=s), latency_s=0.05) for s in (51, 52)]
    system_ids = [workers.register(serve(app), name=f"steady-{i}", max_concurrency=2)
                  for i, app in enumerate(apps)]
    used = [0, 2]  # c0, c2: 24 + 20 judged queries
    collection_of = {dataset_ids[d]: COLLECTIONS[d] for d in used}
    totals = {d: len(c.query_ids) for d, c in collection_of.items()}

    worker = workers.start_worker(concurrency=1)
    job = workers.create_job(system_ids, [dataset_ids[d] for d in used], measures=MEASURES,
                             top_k=20, concurrency=2, retries=0)
    checks.wait_until(
        functools.partial(checks.mid_evaluation, database, job["id"], worker.pid, totals),
        timeout_s=60, what="the worker in the middle of a task", logs=workers.logs)
    queued = [r.id for r in checks.tasks(database, job["id"]) if r.status == "pending"]
    assert len(queued) == 3

    workers.redis.kill9_and_restart()

    # Only a re-send can finish the job: the three queued messages are gone.
    done = workers.wait_job(job["id"], timeout_s=90)
    assert done["status"] == "completed", workers.logs()
    rows = checks.tasks(database, job["id"])
    # Nothing ran twice: the worker lived, so every task was claimed once, and
    # every query asked once.
    assert [r.attempts for r in rows] == [1, 1, 1, 1]
    assert checks.evaluations_of(database, [r.id for r in rows]) == \
        {r.id: [r.evaluation_id] for r in rows}
    for row in rows:
        collection = collection_of[row.dataset_id]
        assert sorted(checks.stored_queries(database, row.evaluation_id)) == \
            collection.query_ids
        app = apps[system_ids.index(row.system_id)]
        assert {app.state.calls[f"q:{t}"] for t in collection.texts.values()} == {1}
