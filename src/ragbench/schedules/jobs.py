"""Firing due schedules: exactly one job per due time, however many schedulers run.

:func:`fire_due` is one round: it finds the active schedules whose ``next_run_at``
has come and, per schedule, in ONE transaction, moves ``next_run_at`` on with a
compare-and-set (``UPDATE … WHERE id = :id AND next_run_at = :seen AND status =
'active'``; one row changed means this scheduler won the due time) and creates the
job (:func:`ragbench.batch.service.create_job` with ``schedule_id`` and
``scheduled_for``). A scheduler that loses the compare-and-set does nothing; the
unique (schedule_id, scheduled_for) of jobs backs it up. After the commit the job's
tasks go to the batch engine.

Missed runs
-----------
A due time is **on time** when a round sees it at most ``grace_s`` after it
(:func:`grace_for`: one scheduler interval plus :data:`ON_TIME_SLACK_S`, 65 s with
the default 5 s interval). It is **missed** when the first round that sees it comes
later than that (nothing was running), or when a later due time has also come
before any round saw it. A round handles all the elapsed due times of a schedule
at once:

* the most recent elapsed due time is on time: one job, for it, whatever the
  policy (earlier missed times get none);
* otherwise, with ``misfire_policy="run_once"`` (the default): one job, for the
  most recent missed due time; with ``"skip"``: no job.

Either way ``next_run_at`` then moves to the first due time after now, so a
schedule down for a week makes at most one job when the service comes back, and
carries on normally from its next time.

A template that can no longer make a job (a system archived, a dataset deleted,
...) still uses up its due time: the round stores a job with status ``failed``
and the reason in ``error`` (listed with the schedule's jobs), and moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ragbench.batch import service as batch_service
from ragbench.batch.models import Job
from ragbench.batch.schemas import JobCreate
from ragbench.config import Settings
from ragbench.database import Database, utcnow
from ragbench.errors import AppError
from ragbench.schedules import timing
from ragbench.schedules.models import Schedule

log = logging.getLogger(__name__)

#: Seconds a round may come after a due time, beyond one scheduler interval, and
#: still count it as on time (a slow round, a restart of the server).
ON_TIME_SLACK_S = 60.0
#: Seconds :meth:`Scheduler.stop` waits for a round in progress to finish.
STOP_WAIT_S = 30.0


def grace_for(interval_s: float) -> float:
    """Seconds after a due time within which a round counts it as on time:
    ``interval_s + ON_TIME_SLACK_S``."""
    return interval_s + ON_TIME_SLACK_S


#: The grace of a scheduler at the default interval (65 s).
DEFAULT_GRACE_S = grace_for(Settings.model_fields["scheduler_interval_s"].default)


@dataclass(frozen=True)
class _Due:
    schedule_id: int
    name: str
    seen: datetime          # next_run_at as read: the compare-and-set's expected value
    due: datetime | None    # the due time to make a job for; None: advance only
    following: datetime     # the new next_run_at
    template: dict


def fire_due(database: Database, *, now: datetime, engine=None,
             grace_s: float = DEFAULT_GRACE_S) -> list[int]:
    """One round at ``now``: make the jobs of every due active schedule (see the
    module doc for the missed-run policy) and hand their tasks to
    ``engine.dispatch`` after each commit. Returns the ids of the jobs this call
    created, failed ones included (none for due times another scheduler won).

    Safe to call from any number of threads, processes and servers at once."""
    now = timing.as_utc(now)
    with database.session() as session:
        rows = session.execute(
            select(Schedule.id, Schedule.name, Schedule.cron, Schedule.timezone,
                   Schedule.misfire_policy, Schedule.next_run_at, Schedule.job_template)
            .where(Schedule.status == "active", Schedule.next_run_at.is_not(None),
                   Schedule.next_run_at <= now)
            .order_by(Schedule.next_run_at, Schedule.id)).all()
    job_ids: list[int] = []
    for row in rows:
        try:
            plan = _plan(row, now=now, grace_s=grace_s)
            fired = _fire(database, plan, now=now)
        except Exception:
            # One broken schedule must not cost the others their runs; it stays due
            # (its compare-and-set was rolled back) and is tried again next round.
            log.exception("schedule %s (%r) could not fire", row.id, row.name)
            continue
        if fired is None:
            continue
        job_id, task_ids = fired
        job_ids.append(job_id)
        if engine is not None and task_ids:
            try:
                engine.dispatch(task_ids)
            except Exception:
                # The tasks are stored as pending; the engine picks them up anyway.
                log.exception("dispatching the tasks of job %s failed", job_id)
    return job_ids


def _plan(row, *, now: datetime, grace_s: float) -> _Due:
    seen = timing.as_utc(row.next_run_at)
    latest = timing.latest_due(row.cron, row.timezone, first=seen, now=now)
    following = timing.next_run(row.cron, row.timezone, after=now)
    on_time = (now - latest).total_seconds() <= grace_s
    fire = on_time or row.misfire_policy == "run_once"
    if latest != seen or not on_time:
        log.info("schedule %s (%r): due times from %s to %s missed; %s", row.id, row.name,
                 seen.isoformat(), latest.isoformat(),
                 f"running once for {latest.isoformat()}" if fire else "skipped")
    return _Due(schedule_id=row.id, name=row.name, seen=seen,
                due=latest if fire else None, following=following,
                template=dict(row.job_template or {}))


def _fire(database: Database, plan: _Due, *, now: datetime) -> tuple[int, list[int]] | None:
    """``(job id, task ids)`` if this call made the job, None if it lost the due time
    to another scheduler or the policy skipped it."""
    try:
        with database.session() as session:
            if not _advance(session, plan) or plan.due is None:
                return None
            job = batch_service.create_job(session, data=JobCreate.model_validate(plan.template),
                                           schedule_id=plan.schedule_id,
                                           scheduled_for=plan.due)
            task_ids = [task.id for task in batch_service.job_tasks(session, job_id=job.id)]
            return job.id, task_ids
    except (AppError, ValidationError, IntegrityError) as exc:
        reason = exc.message if isinstance(exc, AppError) else str(exc).splitlines()[0]
    # The transaction was rolled back, compare-and-set included: try again, and if
    # this call still wins the due time and no job holds it, record why there is none.
    try:
        with database.session() as session:
            if not _advance(session, plan):
                return None
            if session.scalar(select(Job.id).where(Job.schedule_id == plan.schedule_id,
                                                   Job.scheduled_for == plan.due)) is not None:
                return None
            job = _failed_job(plan, reason=reason, now=now)
            session.add(job)
            session.flush()
            log.warning("schedule %s (%r) could not create its job for %s: %s",
                        plan.schedule_id, plan.name, plan.due.isoformat(), reason)
            return job.id, []
    except IntegrityError:
        return None  # another scheduler stored the job for this due time first


def _advance(session: Session, plan: _Due) -> bool:
    """The compare-and-set: True if this transaction moved ``next_run_at`` on."""
    values = {"next_run_at": plan.following, "updated_at": Schedule.updated_at}
    if plan.due is not None:
        values["last_run_at"] = plan.due
    result = session.execute(
        update(Schedule)
        .where(Schedule.id == plan.schedule_id, Schedule.next_run_at == plan.seen,
               Schedule.status == "active")
        .values(**values).execution_options(synchronize_session=False))
    return result.rowcount == 1


def _failed_job(plan: _Due, *, reason: str, now: datetime) -> Job:
    template = plan.template
    return Job(name=str(template.get("name") or plan.name)[:200],
               description=str(template.get("description") or ""), status="failed",
               system_ids=list(template.get("system_ids") or []),
               dataset_ids=list(template.get("dataset_ids") or []),
               evaluation_config=dict(template.get("evaluation_config") or {}),
               schedule_id=plan.schedule_id, scheduled_for=plan.due,
               error=f"schedule {plan.name!r} could not create its job: {reason}",
               created_at=now, finished_at=now)


class Scheduler:
    """Runs :func:`fire_due` on the service's event loop: a first round at start
    (missed runs are handled on start-up), then one every
    ``settings.scheduler_interval_s`` seconds (0: no scheduler in this process).
    Rounds run in a worker thread; any number of schedulers may share a database."""

    def __init__(self, *, settings, database: Database, engine=None) -> None:
        self.settings, self.database, self.engine = settings, database, engine
        self._task: asyncio.Task | None = None
        self._stopping: asyncio.Event | None = None
        #: Completed rounds, and the ids of the jobs this scheduler made (diagnostics).
        self.rounds = 0
        self.job_ids: list[int] = []

    async def start(self) -> None:
        """Start the rounds in the background (no-op when disabled or running)."""
        if self.settings.scheduler_interval_s <= 0 or self._task is not None:
            return
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="ragbench-scheduler")

    async def stop(self) -> None:
        """Stop after the round in progress (its jobs are committed and dispatched)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=STOP_WAIT_S)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self, *, now: datetime | None = None) -> list[int]:
        """One round at ``now`` (default: the current time); the jobs made."""
        job_ids = await asyncio.to_thread(
            fire_due, self.database, now=now or utcnow(), engine=self.engine,
            grace_s=grace_for(self.settings.scheduler_interval_s))
        self.rounds += 1
        self.job_ids.extend(job_ids)
        return job_ids

    async def _run(self) -> None:
        interval = self.settings.scheduler_interval_s
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except Exception:
                # A broken round (database away, ...) must not end the scheduler.
                log.exception("scheduler round failed; trying again in %g s", interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=interval)
