"""Running batch tasks: the one code path every engine runs.

:func:`execute_task` is the whole task. It takes the task's lease with a
compare-and-set ``UPDATE`` (so of several workers handed the same id, one
works and the others return at once), creates the task's evaluation once (its
id is stored in the same transaction as the lease), runs
:func:`ragbench.evaluations.jobs.run_evaluation_async` while a heartbeat thread
renews the lease, then maps the evaluation's outcome to the task's status and
the job's. Everything is reloaded from the database, so any process that can
reach the database and the data folder can run any task, any number of times:

* a finished or cancelled task is left alone;
* a task whose worker died keeps ``running`` until its lease expires;
  :func:`requeue_expired` then puts it back to ``pending`` and the next run
  resumes its evaluation from the queries already stored;
* two runs never make two evaluations (one lease, ``evaluation_id`` set once)
  nor store a query twice (the evaluation's rows are unique per query).

When a task fails: its evaluation failed (the run broke off), was cancelled
outside the job, or completed with more than the job's ``max_failed_fraction``
of its queries failed after their retries (default 0: any) -- a system that
goes down mid-job. The reason says which, with the first failed query's error.

The embedded engine claims work with :func:`claim_next`, which also keeps at
most ``max_running_per_system`` tasks of one system running at once, across
every worker and process sharing the database.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from ragbench.batch import leases, service
from ragbench.batch.leases import claim_next, requeue_expired, renew_lease
from ragbench.batch.models import JobTask
from ragbench.batch.schemas import EvaluationConfig
from ragbench.config import Settings
from ragbench.database import Database, utcnow
from ragbench.errors import AppError
from ragbench.evaluations import jobs
from ragbench.evaluations import service as evaluations_service
from ragbench.evaluations.models import Evaluation, EvaluationQuery
from ragbench.evaluations.schemas import EvaluationCreate

__all__ = ["Lease", "claim_next", "execute_task", "renew_lease", "requeue_expired",
           "task_outcome", "task_status"]

logger = logging.getLogger(__name__)

#: Lease renewals per lease period: a worker may miss two before it loses the task.
RENEWALS_PER_LEASE = 3
#: Seconds between looks at the stop signal while a task runs.
STOP_POLL_S = 0.25

_here_lock = threading.Lock()
_here: set[tuple[str, int, str]] = set()


@dataclass(frozen=True)
class Lease:
    """What a worker holds once it has taken a task."""

    task_id: int
    job_id: int
    worker_id: str
    evaluation_id: int | None
    config: EvaluationConfig
    #: Set when the task failed while being taken (its evaluation could not be made).
    error: str | None = None


def execute_task(task_id: int, *, settings: Settings, database: Database, worker_id: str,
                 stop: threading.Event | None = None,
                 max_running_per_system: int | None = None) -> str:
    """Run batch task ``task_id`` to its end (see the module doc) and return its
    status afterwards: ``completed`` / ``failed`` / ``cancelled``; ``running``
    when another live worker holds it; ``pending`` when ``stop`` was set
    meanwhile (the lease is handed back and the evaluation, with what it stored,
    waits for the next run); ``missing`` when there is no such task.

    ``worker_id`` names the caller in the lease (unique per worker thread, e.g.
    ``host:pid:n``). ``max_running_per_system``: only start when fewer tasks of
    the task's system are running (else return ``pending`` untouched)."""
    with _running_here(database, task_id, worker_id) as mine:
        if not mine:
            return "running"  # by another thread with this worker id
        lease = _take(database, settings, task_id, worker_id, max_running_per_system)
        if lease is None:
            return task_status(database, task_id)
        if lease.error is not None:
            return "failed"
        interrupted = _run(lease, settings=settings, database=database, stop=stop)
        if interrupted == "lost":
            return task_status(database, task_id)
        if interrupted == "stopping":
            leases.release(database, task_id, worker_id)
            return task_status(database, task_id)
        return _settle(database, lease)


def task_status(database: Database, task_id: int) -> str:
    with database.session() as session:
        return session.scalar(select(JobTask.status).where(JobTask.id == task_id)) or "missing"


@contextmanager
def _running_here(database: Database, task_id: int, worker_id: str) -> Iterator[bool]:
    """Whether no other thread of this process runs the task as ``worker_id``
    (the lease check tells workers apart by id, so it would let that one in)."""
    key = (database.url, task_id, worker_id)
    with _here_lock:
        mine = key not in _here
        _here.add(key)
    try:
        yield mine
    finally:
        if mine:
            with _here_lock:
                _here.discard(key)


# -- taking a task ---------------------------------------------------------------------

def _take(database: Database, settings: Settings, task_id: int, worker_id: str,
          max_running_per_system: int | None) -> Lease | None:
    """Take (or, when it is already ours, renew) the lease; make the evaluation
    when the task has none; mark the job running. None when the task is not ours
    to run: missing, finished, cancelled, or leased to another live worker."""
    with database.session() as session:
        row = session.execute(select(JobTask.job_id, JobTask.system_id)
                              .where(JobTask.id == task_id)).first()
        if row is None:
            return None
        job = service.lock_job(session, job_id=row.job_id)
        now = utcnow()
        mine = and_(JobTask.status == "running", JobTask.lease_owner == worker_id)
        conditions = [JobTask.id == task_id, or_(
            JobTask.status == "pending",
            and_(JobTask.status == "running",
                 or_(JobTask.lease_owner == worker_id, JobTask.lease_expires_at.is_(None),
                     JobTask.lease_expires_at < now)))]
        if max_running_per_system is not None:
            leases.lock_system(session, row.system_id)
            conditions.append(or_(mine, leases.others_running(row.system_id, task_id)
                                  < max_running_per_system))
        taken = session.execute(
            update(JobTask).where(*conditions)
            .values(status="running", lease_owner=worker_id,
                    lease_expires_at=now + timedelta(seconds=settings.task_lease_s),
                    attempts=JobTask.attempts + case((mine, 0), else_=1),
                    started_at=func.coalesce(JobTask.started_at, now))
            .execution_options(synchronize_session=False))
        if taken.rowcount != 1:
            return None
        task = session.get(JobTask, task_id, populate_existing=True)
        config = service.job_config(job)
        error = None
        if task.evaluation_id is None:
            try:
                task.evaluation_id = new_evaluation(session, task, config).id
            except AppError as exc:
                error = f"its evaluation could not be started: {exc.message}"
                _finish_task(task, "failed", error)
        session.flush()
        service.refresh_job_status(session, job=job)
        return Lease(task_id, job.id, worker_id, task.evaluation_id, config, error)


def new_evaluation(session: Session, task: JobTask, config: EvaluationConfig) -> Evaluation:
    """The task's ``pending`` evaluation (``batch_task_id`` set), as ``config`` asks;
    with a rate limit, at most ``floor(rate_limit_qps * timeout_s / 2)`` requests
    in flight. The caller stores its id on the task in the same transaction."""
    evaluation = evaluations_service.create_evaluation(session, data=EvaluationCreate(
        system_id=task.system_id, dataset_id=task.dataset_id, measures=config.measures,
        top_k=config.top_k, concurrency=config.concurrency, timeout_s=config.timeout_s,
        retries=config.retries))
    evaluation.batch_task_id = task.id
    if config.rate_limit_qps is not None:
        # A request waits for its token inside its own timeout: fewer requests in
        # flight keep that wait under half the timeout (create_job checked >= 1 fits).
        fits = int(config.rate_limit_qps * evaluation.timeout_s / 2)
        evaluation.concurrency = max(1, min(evaluation.concurrency, fits))
    session.flush()
    return evaluation


# -- running ---------------------------------------------------------------------------

class _Heartbeat(threading.Thread):
    """Renews the lease every ``lease_s / RENEWALS_PER_LEASE`` seconds and calls
    ``interrupt`` (once) when the lease is lost or ``stop`` is set; ``reason``
    then says which (``lost`` / ``stopping``)."""

    def __init__(self, database: Database, lease: Lease, lease_s: float,
                 stop: threading.Event | None, interrupt: Callable[[], None]) -> None:
        super().__init__(name=f"batch-lease-{lease.task_id}", daemon=True)
        self.database, self.lease, self.lease_s = database, lease, lease_s
        self.stop, self.interrupt = stop, interrupt
        self.reason: str | None = None
        self._done = threading.Event()

    def run(self) -> None:
        every = self.lease_s / RENEWALS_PER_LEASE
        due = time.monotonic() + every
        while not self._done.wait(min(STOP_POLL_S, every)):
            if self.stop is not None and self.stop.is_set():
                self.reason = "stopping"
                break
            if time.monotonic() < due:
                continue
            try:
                held = leases.renew_lease(self.database, self.lease.task_id, self.lease.worker_id,
                                   self.lease_s)
            except Exception:
                logger.warning("renewing the lease of batch task %s failed",
                               self.lease.task_id, exc_info=True)
                held = True
            if not held:
                self.reason = "lost"
                break
            due = time.monotonic() + every
        if self.reason is not None:
            self.interrupt()

    def close(self) -> None:
        self._done.set()
        self.join()


def _run(lease: Lease, *, settings: Settings, database: Database,
         stop: threading.Event | None) -> str | None:
    """Run the evaluation on a fresh event loop under a heartbeat. Returns None
    when it ran to its end (whatever its status), else why it was interrupted:
    ``lost`` / ``stopping`` (it stays ``running``, with what it stored)."""

    async def main() -> str | None:
        loop = asyncio.get_running_loop()
        runner = asyncio.create_task(jobs.run_evaluation_async(
            lease.evaluation_id, settings=settings, database=database,
            rate_limit_qps=lease.config.rate_limit_qps))
        heartbeat = _Heartbeat(database, lease, settings.task_lease_s, stop,
                               lambda: loop.call_soon_threadsafe(runner.cancel))
        heartbeat.start()
        try:
            await runner
            return None
        except asyncio.CancelledError:
            if not runner.cancelled() or asyncio.current_task().cancelling():
                raise
            return heartbeat.reason or "lost"
        finally:
            await asyncio.to_thread(heartbeat.close)

    return asyncio.run(main())


def _finish_task(task: JobTask, status: str, error: str | None) -> None:
    task.status = status
    task.error = error
    task.finished_at = utcnow()
    task.lease_owner = None
    task.lease_expires_at = None


def _settle(database: Database, lease: Lease) -> str:
    """Record the task's outcome from its evaluation's and update the job; a task
    no longer ours (cancelled meanwhile) is left as it is. Returns its status."""
    with database.session() as session:
        job = service.lock_job(session, job_id=lease.job_id)
        task = session.get(JobTask, lease.task_id, populate_existing=True)
        if task.status != "running" or task.lease_owner != lease.worker_id:
            return task.status
        evaluation = session.get(Evaluation, lease.evaluation_id, populate_existing=True)
        if evaluation is not None and evaluation.status not in service.FINISHED:
            # Not finished after all (it was reset meanwhile): the next run goes on.
            task.status, task.lease_owner, task.lease_expires_at = "pending", None, None
            return "pending"
        status, error = task_outcome(session, evaluation,
                                     max_failed_fraction=lease.config.max_failed_fraction)
        _finish_task(task, status, error)
        session.flush()
        service.refresh_job_status(session, job=job)
        return status


def task_outcome(session: Session, evaluation: Evaluation | None, *,
                 max_failed_fraction: float) -> tuple[str, str | None]:
    """``(task status, reason)`` for a finished evaluation (see the module doc)."""
    if evaluation is None:
        return "failed", "its evaluation no longer exists"
    if evaluation.status == "failed":
        return "failed", f"evaluation {evaluation.id} failed: {evaluation.error}"
    if evaluation.status == "cancelled":
        return "failed", f"evaluation {evaluation.id} was cancelled outside the job"
    failed, total = evaluation.errors_count or 0, evaluation.queries_total or 0
    if failed and failed > max_failed_fraction * total:
        first = session.execute(
            select(EvaluationQuery.query_id, EvaluationQuery.error)
            .where(EvaluationQuery.evaluation_id == evaluation.id,
                   EvaluationQuery.status == "failed")
            .order_by(EvaluationQuery.id).limit(1)).first()
        reason = f"{failed} of {total} queries failed after {evaluation.retries} retries"
        if first is not None:
            reason += f"; first, query {first.query_id}: {first.error}"
        return "failed", reason
    return "completed", None
