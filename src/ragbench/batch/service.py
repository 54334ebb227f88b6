"""Batch jobs: create, list, read, progress, cancel, retry, and the job status rule.

Functions are keyword-only with the session first and never commit (the
caller's transaction does); none of them runs a task (see
:mod:`ragbench.batch.execution`) or dispatches one: callers hand the task ids
to the engine after their commit.

A job's status follows its tasks (:func:`derive_status`): ``pending`` until a
task starts, then ``running``; once every task is finished, ``completed`` when
all completed, else ``failed``; ``cancelled`` only by :func:`cancel_job`, and
then it stays.

:func:`retry_job` puts failed tasks back to ``pending``. A task whose evaluation
itself failed (the run broke off) resumes that evaluation: the queries it
stored are kept, those that failed are asked again. A task whose evaluation
completed with too many failed queries, or was cancelled from the evaluations
API, gets a new evaluation: a finished evaluation is a record others may
already compare against (its rankings live in its Parquet run), so it is left
as it is.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ragbench.batch.models import Job, JobTask
from ragbench.batch.schemas import (EvaluationConfig, JobCreate, JobProgress, JobRead, TaskCounts,
                                    TaskProgress)
from ragbench.database import utcnow
from ragbench.datasets import service as datasets_service
from ragbench.datasets.models import Dataset
from ragbench.errors import Conflict, NotFound, Unprocessable
from ragbench.evaluations import service as evaluations_service
from ragbench.evaluations.models import Evaluation, EvaluationQuery
from ragbench.systems import service as systems_service
from ragbench.systems.models import System

STATUSES = ("pending", "running", "completed", "failed", "cancelled")
FINISHED = frozenset({"completed", "failed", "cancelled"})
UNFINISHED = ("pending", "running")
#: A rate limit must leave at least this many requests per request timeout, so
#: that a request waiting for its turn is not cut by its own timeout.
MIN_REQUESTS_PER_TIMEOUT = 2.0


# -- creating --------------------------------------------------------------------------

def create_job(session: Session, *, data: JobCreate, schedule_id: int | None = None,
               scheduled_for: datetime | None = None) -> Job:
    """A ``pending`` job with one ``pending`` task per (system, dataset) pair,
    systems in the order given, then datasets (repeated ids count once).

    NotFound: a system or dataset is missing (or the dataset deleted); Conflict: a
    system is archived, or the schedule already has a job for ``scheduled_for``
    (when a concurrent insert is what collides, the session must be rolled back);
    Unprocessable: an unknown measure, or a rate limit below
    :data:`MIN_REQUESTS_PER_TIMEOUT` requests per request timeout. Nothing is
    dispatched here."""
    measures, system_ids, dataset_ids = check_job(session, data=data)
    config = data.evaluation_config
    if schedule_id is not None and session.scalar(
            select(Job.id).where(Job.schedule_id == schedule_id,
                                 Job.scheduled_for == scheduled_for)) is not None:
        raise _already_scheduled(schedule_id, scheduled_for)
    job = Job(name=data.name, description=data.description, status="pending",
              system_ids=system_ids, dataset_ids=dataset_ids,
              evaluation_config={**config.model_dump(), "measures": measures},
              schedule_id=schedule_id, scheduled_for=scheduled_for, created_at=utcnow())
    session.add(job)
    try:
        session.flush()
    except IntegrityError:
        raise _already_scheduled(schedule_id, scheduled_for) from None
    session.add_all(JobTask(job_id=job.id, system_id=sid, dataset_id=did, status="pending",
                            attempts=0, created_at=utcnow())
                    for sid in system_ids for did in dataset_ids)
    session.flush()
    return job


def check_job(session: Session, *, data: JobCreate) -> tuple[list[str], list[int], list[int]]:
    """``(canonical measures, system ids, dataset ids)`` (ids without repeats) once a
    job like ``data`` could be created now; raises what :func:`create_job` raises
    for its checks (every system active, every dataset there, measures known, the
    rate limit fitting the request timeout), each naming the field."""
    config = data.evaluation_config
    measures = _checked_measures(config.measures)
    system_ids = list(dict.fromkeys(data.system_ids))
    dataset_ids = list(dict.fromkeys(data.dataset_ids))
    systems = [_checked(systems_service.get_active_system, session, "system_ids", i,
                        system_id=sid) for i, sid in enumerate(system_ids)]
    for i, dataset_id in enumerate(dataset_ids):
        _checked(datasets_service.get_dataset, session, "dataset_ids", i, dataset_id=dataset_id)
    if config.rate_limit_qps is not None:
        for system in systems:
            timeout_s = config.timeout_s or system.timeout_s
            if config.rate_limit_qps * timeout_s < MIN_REQUESTS_PER_TIMEOUT:
                raise Unprocessable(
                    f"rate_limit_qps {config.rate_limit_qps:g}/s with a {timeout_s:g} s "
                    f"request timeout (system {system.name!r}): a request could wait for "
                    f"its turn longer than half its timeout; allow at least "
                    f"{MIN_REQUESTS_PER_TIMEOUT / timeout_s:g} requests/s",
                    details={"field": "evaluation_config.rate_limit_qps",
                             "system_id": system.id, "timeout_s": timeout_s})
    return measures, system_ids, dataset_ids


def _checked_measures(measures: list[str]) -> list[str]:
    try:
        return evaluations_service.canonical_measures(measures)
    except Unprocessable as exc:
        raise Unprocessable(exc.message, details={
            **exc.details, "field": f"evaluation_config.{exc.details['field']}"}) from None


def _checked(getter, session: Session, field: str, index: int, **key: int):
    try:
        return getter(session, **key)
    except (NotFound, Conflict) as exc:
        raise type(exc)(exc.message, details={**(exc.details or {}),
                                              "field": f"{field}[{index}]"}) from None


def _already_scheduled(schedule_id: int | None, scheduled_for: datetime | None) -> Conflict:
    return Conflict(f"schedule {schedule_id} already has a job for {scheduled_for}",
                    details={"schedule_id": schedule_id,
                             "scheduled_for": scheduled_for.isoformat()
                             if scheduled_for else None})


# -- reading ---------------------------------------------------------------------------

def get_job(session: Session, *, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no batch job with id {job_id}", details={"job_id": job_id})
    return job


def list_jobs(session: Session, *, status: str | None = None, schedule_id: int | None = None,
              offset: int = 0, limit: int = 50) -> tuple[list[Job], int]:
    """``(page, total)``: jobs matching the filters, newest first."""
    query = select(Job)
    if status is not None:
        if status not in STATUSES:
            raise Unprocessable(f"status must be one of {', '.join(STATUSES)}, got {status!r}",
                                details={"field": "status"})
        query = query.where(Job.status == status)
    if schedule_id is not None:
        query = query.where(Job.schedule_id == schedule_id)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    page = session.scalars(query.order_by(Job.id.desc()).offset(offset).limit(limit))
    return list(page), int(total or 0)


def job_tasks(session: Session, *, job_id: int) -> list[JobTask]:
    return list(session.scalars(select(JobTask).where(JobTask.job_id == job_id)
                                .order_by(JobTask.id)))


def task_counts(session: Session, *, job_id: int) -> TaskCounts:
    counts = Counter(dict(session.execute(
        select(JobTask.status, func.count()).where(JobTask.job_id == job_id)
        .group_by(JobTask.status)).all()))
    return TaskCounts(total=sum(counts.values()), **{s: counts.get(s, 0) for s in STATUSES})


def to_read(session: Session, job: Job) -> JobRead:
    evaluation_ids = list(session.scalars(
        select(JobTask.evaluation_id).where(JobTask.job_id == job.id,
                                            JobTask.evaluation_id.is_not(None))
        .order_by(JobTask.id)))
    return JobRead(
        id=job.id, name=job.name, description=job.description or "", status=job.status,
        system_ids=list(job.system_ids), dataset_ids=list(job.dataset_ids),
        evaluation_config=dict(job.evaluation_config or {}), schedule_id=job.schedule_id,
        scheduled_for=job.scheduled_for, error=job.error, evaluation_ids=evaluation_ids,
        tasks=task_counts(session, job_id=job.id), created_at=job.created_at,
        started_at=job.started_at, finished_at=job.finished_at,
        cancel_requested_at=job.cancel_requested_at)


def job_config(job: Job) -> EvaluationConfig:
    return EvaluationConfig.model_validate(job.evaluation_config or {})


def job_progress(session: Session, *, job_id: int, now: datetime | None = None) -> JobProgress:
    """Per task: status, queries done / total (from its evaluation; before it has
    one, the dataset's judged queries) and ETA; for the job: percent =
    100 * sum(done) / sum(total), a finished task counting as fully done."""
    job = get_job(session, job_id=job_id)
    now = now or utcnow()
    rows = session.execute(
        select(JobTask, System.name, Dataset.name, Dataset.num_queries, Evaluation)
        .join(System, System.id == JobTask.system_id)
        .join(Dataset, Dataset.id == JobTask.dataset_id)
        .outerjoin(Evaluation, Evaluation.id == JobTask.evaluation_id)
        .where(JobTask.job_id == job_id).order_by(JobTask.id)).all()
    items: list[TaskProgress] = []
    done_sum = total_sum = remaining = 0
    rate_sum = 0.0
    for task, system_name, dataset_name, num_queries, evaluation in rows:
        total = (evaluation.queries_total if evaluation is not None
                 and evaluation.queries_total else num_queries) or 0
        done = min(evaluation.queries_done or 0, total) if evaluation is not None else 0
        rate = _rate(evaluation, now) if task.status == "running" else None
        eta = (total - done) / rate if rate else None
        items.append(TaskProgress(
            task_id=task.id, system_id=task.system_id, system_name=system_name,
            dataset_id=task.dataset_id, dataset_name=dataset_name, status=task.status,
            evaluation_id=task.evaluation_id, queries_done=done, queries_total=total,
            errors_count=(evaluation.errors_count or 0) if evaluation is not None else 0,
            eta_s=round(eta, 1) if eta is not None else None, attempts=task.attempts or 0,
            error=task.error, started_at=task.started_at, finished_at=task.finished_at))
        total_sum += total
        if task.status in FINISHED:
            done_sum += total
        else:
            done_sum += done
            remaining += total - done
            rate_sum += rate or 0.0
    counts = Counter(item.status for item in items)
    if total_sum:
        percent = round(100.0 * done_sum / total_sum, 2)
    else:
        percent = 100.0 if job.status in FINISHED else 0.0
    return JobProgress(
        job_id=job.id, status=job.status, percent=percent, queries_done=done_sum,
        queries_total=total_sum,
        eta_s=round(remaining / rate_sum, 1) if rate_sum and remaining else None,
        tasks=TaskCounts(total=len(items), **{s: counts.get(s, 0) for s in STATUSES}),
        items=items, error=job.error, at=now)


def _rate(evaluation: Evaluation | None, now: datetime) -> float | None:
    """Queries settled per second since the evaluation started; None before the first."""
    if evaluation is None or not evaluation.queries_done or evaluation.started_at is None:
        return None
    elapsed = (now - as_utc(evaluation.started_at)).total_seconds()
    return evaluation.queries_done / elapsed if elapsed > 0 else None


def as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes (stored as UTC).
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# -- the job status --------------------------------------------------------------------

def derive_status(current: str, counts: TaskCounts) -> str:
    """The job status its tasks imply (see the module doc)."""
    if current == "cancelled":
        return "cancelled"
    if counts.pending or counts.running:
        started = counts.running or counts.completed or counts.failed or counts.cancelled
        return "running" if started or current == "running" else "pending"
    if counts.failed or counts.cancelled:
        return "failed"
    return "completed"


def lock_job(session: Session, *, job_id: int) -> Job:
    """Take the job's row lock for the rest of the transaction and read it fresh
    (NotFound if there is no such job).

    Every transaction that changes a job's tasks and then its status takes this
    lock first (one order for everyone: job, then tasks), so two workers finishing
    the last two tasks at once cannot both read "one still running". PostgreSQL:
    ``SELECT … FOR UPDATE``; SQLite has no row locks, so a no-op ``UPDATE`` takes
    its database write lock, which also makes every later read in the
    transaction current."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(Job).where(Job.id == job_id).values(status=Job.status)
                        .execution_options(synchronize_session=False))
    job = session.scalars(select(Job).where(Job.id == job_id).with_for_update()
                          .execution_options(populate_existing=True)).first()
    if job is None:
        raise NotFound(f"no batch job with id {job_id}", details={"job_id": job_id})
    return job


def refresh_job_status(session: Session, *, job: Job) -> str:
    """Set ``job``'s status (and started/finished times, error) from its tasks;
    the caller holds :func:`lock_job`. Returns the status."""
    counts = task_counts(session, job_id=job.id)
    status = derive_status(job.status, counts)
    now = utcnow()
    if status != "pending" and job.started_at is None:
        job.started_at = now
    if status == "failed" and job.status != "failed":
        first = session.execute(
            select(JobTask.id, JobTask.error).where(JobTask.job_id == job.id,
                                                    JobTask.status.in_(("failed", "cancelled")))
            .order_by(JobTask.id).limit(1)).first()
        job.error = (f"{counts.failed + counts.cancelled} of {counts.total} tasks did not "
                     f"complete; first, task {first.id}: {first.error or 'cancelled'}")
    if status in FINISHED and job.finished_at is None:
        job.finished_at = now
    if status not in FINISHED:
        job.finished_at = None
        job.error = None
    job.status = status
    session.flush()
    return status


# -- cancelling and retrying -----------------------------------------------------------

def cancel_job(session: Session, *, job_id: int) -> Job:
    """The job and its pending and running tasks -> ``cancelled``, and their
    evaluations still pending or running -> ``cancelled`` (the runner sees that
    at its next write, within about a second, and stops). Finished tasks and
    their results stay. Cancelling a cancelled job changes nothing; a completed
    or failed one is a Conflict."""
    job = lock_job(session, job_id=job_id)
    if job.status == "cancelled":
        return job
    if job.status in FINISHED:
        raise Conflict(f"batch job {job_id} is {job.status} and cannot be cancelled",
                       details={"job_id": job_id, "status": job.status})
    now = utcnow()
    evaluation_ids = list(session.scalars(
        select(JobTask.evaluation_id).where(JobTask.job_id == job_id,
                                            JobTask.status.in_(UNFINISHED),
                                            JobTask.evaluation_id.is_not(None))))
    session.execute(update(JobTask).where(JobTask.job_id == job_id,
                                          JobTask.status.in_(UNFINISHED))
                    .values(status="cancelled", finished_at=now, lease_owner=None,
                            lease_expires_at=None)
                    .execution_options(synchronize_session=False))
    if evaluation_ids:
        session.execute(update(Evaluation).where(Evaluation.id.in_(evaluation_ids),
                                                 Evaluation.status.in_(UNFINISHED))
                        .values(status="cancelled", finished_at=now)
                        .execution_options(synchronize_session=False))
    job.status = "cancelled"
    job.cancel_requested_at = job.finished_at = now
    job.started_at = job.started_at or now
    session.flush()
    return job


def retry_job(session: Session, *, job_id: int) -> tuple[Job, list[int]]:
    """Failed tasks -> ``pending`` (see the module doc for what happens to their
    evaluations) and the job -> ``running``; returns the job and the ids of the
    tasks to dispatch. Conflict when the job is cancelled or has no failed task."""
    job = lock_job(session, job_id=job_id)
    if job.status == "cancelled":
        raise Conflict(f"batch job {job_id} is cancelled; start a new job instead",
                       details={"job_id": job_id, "status": job.status})
    failed = list(session.scalars(select(JobTask).where(JobTask.job_id == job_id,
                                                        JobTask.status == "failed")
                                  .order_by(JobTask.id)))
    if not failed:
        raise Conflict(f"batch job {job_id} has no failed task to retry",
                       details={"job_id": job_id, "status": job.status})
    for task in failed:
        evaluation = (session.get(Evaluation, task.evaluation_id)
                      if task.evaluation_id is not None else None)
        if evaluation is not None and evaluation.status == "failed":
            _resume(session, evaluation)
        elif evaluation is not None and evaluation.status in FINISHED:
            task.evaluation_id = None  # a new evaluation is made when the task runs
        task.status = "pending"
        task.error = None
        task.finished_at = None
        task.lease_owner = None
        task.lease_expires_at = None
    session.flush()
    job.status = "running"
    refresh_job_status(session, job=job)
    return job, [task.id for task in failed]


def _resume(session: Session, evaluation: Evaluation) -> None:
    """Back to ``pending`` without its failed queries, which are asked again."""
    dropped = session.execute(
        delete(EvaluationQuery).where(EvaluationQuery.evaluation_id == evaluation.id,
                                      EvaluationQuery.status == "failed")
        .execution_options(synchronize_session=False)).rowcount
    evaluation.queries_done = max(0, (evaluation.queries_done or 0) - dropped)
    evaluation.errors_count = 0
    evaluation.status = "pending"
    evaluation.error = None
    evaluation.finished_at = None

