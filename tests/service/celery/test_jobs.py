"""A batch job on the Celery engine: the server only enqueues, two ``ragbench
worker`` processes run the tasks, and what they store is exactly what running
each evaluation directly stores."""

from __future__ import annotations

import pyarrow.parquet as pq
from fake_systems import system_app

from ragbench.evaluations import jobs as evaluation_jobs
from ragbench.evaluations import service as evaluations_service
from ragbench.evaluations.schemas import EvaluationCreate

from . import checks
from .collections import MEASURES, pytrec_scores, ranker
from .conftest import COLLECTIONS

TOP_K = 20
MAX_CONCURRENCY = 4


class InFlight:
    """ASGI wrapper counting the retrieve requests a system has open at once."""

    def __init__(self, app) -> None:
        self.app, self.state = app, app.state
        self.now = self.peak = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != "/api/v1/retrieve":
            await self.app(scope, receive, send)
            return
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            self.now -= 1


def _ready(worker) -> bool:
    return " ready." in worker.tail(200)


def test_job_runs_on_two_workers_and_matches_direct_evaluations(workers, dataset_ids, serve):
    ranks = [ranker(COLLECTIONS, seed=s) for s in (1, 2, 3)]
    apps = [InFlight(system_app(rank, latency_s=0.01)) for rank in ranks]
    system_ids = [workers.register(serve(app), name=f"bm25-{i}",
                                   max_concurrency=MAX_CONCURRENCY)
                  for i, app in enumerate(apps)]
    used = [0, 1, 2]  # datasets c0, c1, c2: 24 + 30 + 20 judged queries
    pool = [workers.start_worker(concurrency=2), workers.start_worker(concurrency=2)]
    checks.wait_until(lambda: all(_ready(w) for w in pool), timeout_s=60,
                      what="both workers ready", logs=workers.logs)

    job = workers.create_job(system_ids, [dataset_ids[i] for i in used],
                             measures=MEASURES, top_k=TOP_K, retries=1)
    done = workers.wait_job(job["id"], timeout_s=90)

    assert done["status"] == "completed", workers.logs()
    assert done["tasks"] == {"total": 9, "pending": 0, "running": 0, "completed": 9,
                             "failed": 0, "cancelled": 0}
    rows = checks.tasks(workers.database, job["id"])
    assert [(r.system_id, r.dataset_id) for r in rows] == \
        [(s, dataset_ids[d]) for s in system_ids for d in used]
    assert all(r.status == "completed" and r.attempts == 1 for r in rows)
    # One evaluation per task, and it is the one the task points to.
    owned = checks.evaluations_of(workers.database, [r.id for r in rows])
    assert owned == {r.id: [r.evaluation_id] for r in rows}
    assert sorted(done["evaluation_ids"]) == sorted(r.evaluation_id for r in rows)
    # Both workers took tasks (each log shows the messages it received).
    assert all("ragbench.batch.run_task" in w.tail(10_000) for w in pool), workers.logs()

    by_dataset = dict(zip((dataset_ids[d] for d in used), (COLLECTIONS[d] for d in used)))
    for app in apps:
        # One task per system at a time: never more requests open than one
        # evaluation's concurrency, though 4 worker threads ran 3 tasks per system.
        assert 1 < app.peak <= MAX_CONCURRENCY
        for d in used:  # every judged query asked exactly once per system
            assert {t: app.state.calls[f"q:{t}"] for t in COLLECTIONS[d].texts.values()} == \
                {t: 1 for t in COLLECTIONS[d].texts.values()}

    for row in rows:
        collection = by_dataset[row.dataset_id]
        queued = checks.evaluation(workers.database, row.evaluation_id)
        assert queued.status == "completed"
        assert len(checks.stored_queries(workers.database, row.evaluation_id)) == \
            len(collection.query_ids)
        stored = workers.query_metrics(row.evaluation_id)
        assert sorted(stored) == collection.query_ids

        # The same evaluation, run directly in this process.
        with workers.database.session() as session:
            direct_id = evaluations_service.create_evaluation(session, data=EvaluationCreate(
                system_id=row.system_id, dataset_id=row.dataset_id, measures=MEASURES,
                top_k=TOP_K, retries=1)).id
        assert evaluation_jobs.run_evaluation(direct_id, settings=workers.settings,
                                              database=workers.database) == "completed"
        direct = workers.query_metrics(direct_id)
        assert {q: r["metrics"] for q, r in stored.items()} == \
            {q: r["metrics"] for q, r in direct.items()}
        direct_row = checks.evaluation(workers.database, direct_id)
        assert queued.aggregates == direct_row.aggregates
        queued_run = pq.read_table(workers.settings.data_dir / queued.run_path)
        direct_run = pq.read_table(workers.settings.data_dir / direct_row.run_path)
        assert queued_run.select(["query_id", "doc_id", "score", "rank"]).equals(
            direct_run.select(["query_id", "doc_id", "score", "rank"]))

        # ... and both agree with pytrec_eval on the rankings the system returns.
        expected = pytrec_scores(collection, ranks[system_ids.index(row.system_id)])
        for query_id, values in expected.items():
            for measure, value in values.items():
                assert abs(stored[query_id]["metrics"][measure] - value) < 1e-9, \
                    (row, query_id, measure)
