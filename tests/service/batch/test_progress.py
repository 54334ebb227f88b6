"""Job progress (percent, ETA) and the job status rule, on states set up by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ragbench.batch import execution, service
from ragbench.batch.models import JobTask
from ragbench.batch.schemas import TaskCounts
from ragbench.database import utcnow

from .conftest import add_system
from .test_execution import new_job


def test_progress_counts_finished_tasks_fully_and_estimates_from_the_rate_so_far(
        database, dataset_ids):
    sid = add_system(database, name="s", base_url="http://127.0.0.1:9")
    first, second = new_job(database, system_ids=[sid], dataset_ids=dataset_ids)
    now = utcnow()
    with database.session() as session:
        for task_id, status, done in ((first, "failed", 12), (second, "running", 4)):
            task = session.get(JobTask, task_id)
            evaluation = execution.new_evaluation(session, task, service.job_config(
                session.get(service.Job, task.job_id)))
            evaluation.status = "running" if status == "running" else "completed"
            evaluation.queries_total, evaluation.queries_done = 12, done
            evaluation.errors_count = 7 if status == "failed" else 1
            evaluation.started_at = now - timedelta(seconds=10)
            task.status, task.evaluation_id = status, evaluation.id
        job_id = task.job_id
    with database.session() as session:
        body = service.job_progress(session, job_id=job_id, now=now)
    # The failed task counts as fully done (12); the running one 4 of 12 at
    # 4 / 10 s = 0.4 queries/s, so (12 - 4) / 0.4 = 20 s left.
    assert (body.queries_done, body.queries_total) == (16, 24)
    assert body.percent == pytest.approx(100 * 16 / 24, abs=0.01)
    assert [(i.status, i.queries_done, i.errors_count, i.eta_s) for i in body.items] == \
        [("failed", 12, 7, None), ("running", 4, 1, 20.0)]
    assert body.eta_s == 20.0
    assert body.tasks == TaskCounts(total=2, running=1, failed=1)


def test_progress_before_any_evaluation_uses_the_datasets_judged_queries(database,
                                                                        dataset_ids):
    sid = add_system(database, name="s", base_url="http://127.0.0.1:9")
    (task_id,) = new_job(database, system_ids=[sid], dataset_ids=dataset_ids[:1])
    with database.session() as session:
        job_id = session.get(JobTask, task_id).job_id
        body = service.job_progress(session, job_id=job_id)
    assert (body.status, body.percent, body.queries_total, body.eta_s) == \
        ("pending", 0.0, 12, None)


@pytest.mark.parametrize(("current", "counts", "expected"), [
    ("pending", {"pending": 3}, "pending"),
    ("pending", {"pending": 2, "running": 1}, "running"),
    ("running", {"pending": 3}, "running"),  # requeued after a crash: still running
    ("running", {"completed": 3}, "completed"),
    ("running", {"completed": 2, "failed": 1}, "failed"),
    ("cancelled", {"completed": 1, "cancelled": 2}, "cancelled"),
    ("failed", {"pending": 1, "completed": 2}, "running"),  # retried
])
def test_job_status_follows_its_tasks(current, counts, expected):
    tasks = TaskCounts(total=sum(counts.values()), **counts)
    assert service.derive_status(current, tasks) == expected
