"""Cancel and retry on the Celery engine: a cancelled job stops asking its systems
within seconds and keeps what finished; a retry re-runs the failed task only."""

from __future__ import annotations

import time

from fake_systems import system_app

from . import checks
from .collections import MEASURES, ranker
from .conftest import COLLECTIONS


def _asked(app) -> int:
    return app.state.calls["retrieve"]


def test_cancel_stops_running_tasks_and_retry_reruns_failed_ones(workers, dataset_ids, serve):
    slow = system_app(ranker(COLLECTIONS, seed=7), latency_s=0.25)
    failing_now: list[str] = [next(iter(COLLECTIONS[0].texts.values()))]
    shaky = system_app(ranker(COLLECTIONS, seed=8), fail_queries=failing_now)
    slow_id = workers.register(serve(slow), name="slow", max_concurrency=1)
    shaky_id = workers.register(serve(shaky), name="shaky", max_concurrency=2)
    workers.start_worker(concurrency=2)

    # Cancel: the slow system answers one query at a time, 0.25 s each.
    job = workers.create_job([slow_id], [dataset_ids[0], dataset_ids[1]],
                             measures=MEASURES, top_k=10, retries=0)
    checks.wait_until(lambda: _asked(slow) >= 3, timeout_s=60, what="the slow task started",
                      logs=workers.logs)
    cancelled = workers.api.post(f"/api/v1/batch/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    time.sleep(3.0)  # the runner notices a cancelled evaluation within about a second
    settled = _asked(slow)
    time.sleep(2.0)
    assert _asked(slow) == settled, "a cancelled job kept asking its system"
    done = workers.api.get(f"/api/v1/batch/jobs/{job['id']}").json()
    assert done["status"] == "cancelled"
    rows = checks.tasks(workers.database, job["id"])
    assert {r.status for r in rows} == {"cancelled"}
    total_queries = len(COLLECTIONS[0].texts) + len(COLLECTIONS[1].texts)
    assert settled < total_queries  # it really stopped part-way

    # Retry: one query of c0 fails (no retries), so that task fails; c1's completes.
    job = workers.create_job([shaky_id], [dataset_ids[0], dataset_ids[1]],
                             measures=MEASURES, top_k=10, retries=0)
    first = workers.wait_job(job["id"], timeout_s=90)
    assert first["status"] == "failed"
    rows = {r.dataset_id: r for r in checks.tasks(workers.database, job["id"])}
    assert rows[dataset_ids[0]].status == "failed" and "1 of" in rows[dataset_ids[0]].error
    assert rows[dataset_ids[1]].status == "completed"
    asked_before = {t: shaky.state.calls[f"q:{t}"] for d in (0, 1)
                    for t in COLLECTIONS[d].texts.values()}
    assert set(asked_before.values()) == {1}

    failing_now.clear()  # the system is fixed
    retried = workers.api.post(f"/api/v1/batch/jobs/{job['id']}/retry")
    assert retried.status_code == 200, retried.text
    second = workers.wait_job(job["id"], timeout_s=90)
    assert second["status"] == "completed", workers.logs()
    after = {r.dataset_id: r for r in checks.tasks(workers.database, job["id"])}
    assert after[dataset_ids[1]].evaluation_id == rows[dataset_ids[1]].evaluation_id
    assert after[dataset_ids[1]].attempts == rows[dataset_ids[1]].attempts
    # The completed task's queries were not asked again; the failed task's were.
    for t in COLLECTIONS[1].texts.values():
        assert shaky.state.calls[f"q:{t}"] == 1
    for t in COLLECTIONS[0].texts.values():
        assert shaky.state.calls[f"q:{t}"] == 2
    evaluation = workers.api.get(
        f"/api/v1/evaluations/{after[dataset_ids[0]].evaluation_id}").json()
    assert evaluation["status"] == "completed" and evaluation["errors_count"] == 0
