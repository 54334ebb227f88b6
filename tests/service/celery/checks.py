"""What the Celery tests read back from the database and the systems under test."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import func, select

from ragbench.batch.models import JobTask
from ragbench.database import Database
from ragbench.evaluations.models import Evaluation, EvaluationQuery


@dataclass(frozen=True)
class TaskRow:
    id: int
    system_id: int
    dataset_id: int
    status: str
    evaluation_id: int | None
    attempts: int
    lease_owner: str | None
    error: str | None


def tasks(database: Database, job_id: int) -> list[TaskRow]:
    with database.session() as session:
        rows = session.execute(
            select(JobTask.id, JobTask.system_id, JobTask.dataset_id, JobTask.status,
                   JobTask.evaluation_id, JobTask.attempts, JobTask.lease_owner,
                   JobTask.error)
            .where(JobTask.job_id == job_id).order_by(JobTask.id)).all()
    return [TaskRow(*row) for row in rows]


def evaluations_of(database: Database, task_ids: list[int]) -> dict[int, list[int]]:
    """``{task id: [ids of every evaluation owned by it]}``."""
    with database.session() as session:
        rows = session.execute(select(Evaluation.batch_task_id, Evaluation.id)
                               .where(Evaluation.batch_task_id.in_(task_ids))
                               .order_by(Evaluation.id)).all()
    out: dict[int, list[int]] = {t: [] for t in task_ids}
    for task_id, evaluation_id in rows:
        out[task_id].append(evaluation_id)
    return out


def stored_queries(database: Database, evaluation_id: int) -> list[str]:
    """Query ids stored for the evaluation, one entry per row (repeats would show)."""
    with database.session() as session:
        return list(session.scalars(select(EvaluationQuery.query_id)
                                    .where(EvaluationQuery.evaluation_id == evaluation_id)))


def stored_counts(database: Database, evaluation_ids: list[int]) -> dict[int, int]:
    with database.session() as session:
        rows = session.execute(select(EvaluationQuery.evaluation_id, func.count())
                               .where(EvaluationQuery.evaluation_id.in_(evaluation_ids))
                               .group_by(EvaluationQuery.evaluation_id)).all()
    return {e: 0 for e in evaluation_ids} | dict(rows)


def evaluation(database: Database, evaluation_id: int) -> Evaluation:
    with database.session() as session:
        return session.get(Evaluation, evaluation_id)


def wait_until(predicate, *, timeout_s: float, what: str, interval_s: float = 0.02,
               logs=lambda: ""):
    """Poll ``predicate()`` until it returns something truthy; return that.
    On timeout the error shows ``logs()`` (the processes' log tails)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}\n{logs()}")
        time.sleep(interval_s)


def job_status(database: Database, job_id: int) -> str:
    from ragbench.batch.models import Job

    with database.session() as session:
        return session.scalar(select(Job.status).where(Job.id == job_id))


def mid_evaluation(database: Database, job_id: int, pid: int,
                   totals: dict[int, int]) -> list[TaskRow] | None:
    """The tasks of ``job_id`` that process ``pid`` runs, once one of them has
    stored some but not all of its queries (``totals``: dataset id -> judged
    queries); None before that."""
    rows = [r for r in tasks(database, job_id)
            if r.status == "running" and r.evaluation_id is not None
            and r.lease_owner is not None and f":{pid}:" in r.lease_owner]
    counts = stored_counts(database, [r.evaluation_id for r in rows])
    if any(0 < counts[r.evaluation_id] < totals[r.dataset_id] for r in rows):
        return rows
    return None


def victims(database: Database, job_id: int, pid: int, seen: list[TaskRow]) -> dict[int, int]:
    """After process ``pid`` was killed: ``{task id: evaluation id}`` of the tasks it
    was running -- those ``seen`` running shortly before that did not finish, and
    any it took since (still leased to it)."""
    now = {r.id: r for r in tasks(database, job_id)}
    out = {r.id: r.evaluation_id for r in seen if now[r.id].status in ("running", "pending")}
    out.update({r.id: r.evaluation_id for r in now.values()
                if r.status == "running" and f":{pid}:" in (r.lease_owner or "")})
    return out
