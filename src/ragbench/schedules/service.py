"""Schedules: create, list, read, change, pause, resume, delete (archive).

Functions are keyword-only with the session first and never commit (the caller's
transaction does). Firing due schedules is :func:`ragbench.schedules.jobs.fire_due`.

``next_run_at`` is always the first due time after the moment the schedule was
created, changed in cron or time zone, or resumed: a schedule never fires for
times before that moment. Deleting archives: the schedule stops firing and is
hidden from the list, but stays readable with its jobs (which keep their
``schedule_id``), and its name stays taken.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ragbench.batch.models import Job
from ragbench.batch.schemas import JobCreate
from ragbench.batch import service as batch_service
from ragbench.database import utcnow
from ragbench.errors import AppError, Conflict, NotFound, Unprocessable
from ragbench.schedules import timing
from ragbench.schedules.models import Schedule
from ragbench.schedules.schemas import (RunTime, ScheduleCreate, ScheduledJob, ScheduleDetail,
                                        ScheduleRead, ScheduleUpdate)

STATUSES = ("active", "paused", "archived")
UPCOMING = 5
JOBS_LISTED = 50


# -- changing --------------------------------------------------------------------------

def create_schedule(session: Session, *, data: ScheduleCreate,
                    now: datetime | None = None) -> Schedule:
    """An ``active`` schedule whose first run is the first due time after ``now``.

    Unprocessable naming the field: a bad cron (``cron``), an unknown time zone
    (``timezone``), an unknown measure or too low a rate limit in the template;
    NotFound / Conflict naming ``job_template.system_ids[i]`` or
    ``job_template.dataset_ids[i]``: a missing, archived or deleted one; Conflict
    naming ``name``: the name is taken (archived schedules keep theirs)."""
    name = _name(data.name)
    cron = timing.check_cron(data.cron)
    timezone = _timezone(data.timezone)
    template = check_template(session, template=data.job_template)
    _ensure_name_free(session, name=name)
    now = now or utcnow()
    schedule = Schedule(name=name, cron=cron, timezone=timezone, job_template=template,
                        misfire_policy=data.misfire_policy, status="active",
                        next_run_at=timing.next_run(cron, timezone, after=now),
                        last_run_at=None, created_at=now, updated_at=now)
    session.add(schedule)
    _flush(session, name=name)
    return schedule


def update_schedule(session: Session, *, schedule_id: int, data: ScheduleUpdate,
                    now: datetime | None = None) -> Schedule:
    """Change the fields given (same checks as :func:`create_schedule`). A new cron
    or time zone of an active schedule moves ``next_run_at`` to the first due time
    after ``now``; an archived schedule is a Conflict."""
    schedule = _changeable(session, schedule_id=schedule_id)
    given = data.model_fields_set
    now = now or utcnow()
    retimed = False
    if "name" in given and data.name is not None:
        name = _name(data.name)
        if name != schedule.name:
            _ensure_name_free(session, name=name)
            schedule.name = name
    if "cron" in given and data.cron is not None:
        cron = timing.check_cron(data.cron)
        retimed |= cron != schedule.cron
        schedule.cron = cron
    if "timezone" in given and data.timezone is not None:
        timezone = _timezone(data.timezone)
        retimed |= timezone != schedule.timezone
        schedule.timezone = timezone
    if "job_template" in given and data.job_template is not None:
        schedule.job_template = check_template(session, template=data.job_template)
    if "misfire_policy" in given and data.misfire_policy is not None:
        schedule.misfire_policy = data.misfire_policy
    if retimed and schedule.status == "active":
        schedule.next_run_at = timing.next_run(schedule.cron, schedule.timezone, after=now)
    schedule.updated_at = now
    _flush(session, name=schedule.name)
    return schedule


def pause_schedule(session: Session, *, schedule_id: int,
                   now: datetime | None = None) -> Schedule:
    """``active`` -> ``paused``: it fires no more (``next_run_at`` cleared) until
    resumed. Pausing a paused schedule changes nothing."""
    schedule = _changeable(session, schedule_id=schedule_id)
    if schedule.status == "active":
        schedule.status = "paused"
        schedule.next_run_at = None
        schedule.updated_at = now or utcnow()
        session.flush()
    return schedule


def resume_schedule(session: Session, *, schedule_id: int,
                    now: datetime | None = None) -> Schedule:
    """``paused`` -> ``active`` with ``next_run_at`` the first due time after
    ``now``: the times that passed while paused are not made up for. Resuming an
    active schedule changes nothing."""
    schedule = _changeable(session, schedule_id=schedule_id)
    if schedule.status == "paused":
        now = now or utcnow()
        schedule.status = "active"
        schedule.next_run_at = timing.next_run(schedule.cron, schedule.timezone, after=now)
        schedule.updated_at = now
        session.flush()
    return schedule


def archive_schedule(session: Session, *, schedule_id: int,
                     now: datetime | None = None) -> Schedule:
    """Delete = archive: never fires again, hidden from the list; readable with its
    jobs, name stays taken. Archiving an archived schedule changes nothing."""
    schedule = get_schedule(session, schedule_id=schedule_id)
    if schedule.status != "archived":
        schedule.status = "archived"
        schedule.next_run_at = None
        schedule.updated_at = now or utcnow()
        session.flush()
    return schedule


def check_template(session: Session, *, template: JobCreate) -> dict[str, Any]:
    """The template as stored (JSON), once the job it describes could be created
    now: every system exists and is active, every dataset exists, the measures
    parse, the rate limit fits the request timeout. Errors name the field under
    ``job_template``; the same checks run again at every due time."""
    try:
        batch_service.check_job(session, data=template)
    except AppError as exc:
        field = (exc.details or {}).get("field") if isinstance(exc.details, dict) else None
        if field is None:
            raise
        raise _under(exc, f"job_template.{field}") from None
    return template.model_dump(mode="json")


# -- reading ---------------------------------------------------------------------------

def get_schedule(session: Session, *, schedule_id: int) -> Schedule:
    """The schedule (archived included); NotFound if there is none."""
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound(f"no schedule with id {schedule_id}",
                       details={"schedule_id": schedule_id})
    return schedule


def list_schedules(session: Session, *, status: str | None = None) -> list[Schedule]:
    """Schedules by name; archived ones only when ``status="archived"`` asks."""
    query = select(Schedule)
    if status is not None:
        if status not in STATUSES:
            raise Unprocessable(f"status must be one of {', '.join(STATUSES)}, got {status!r}",
                                details={"field": "status"})
        query = query.where(Schedule.status == status)
    else:
        query = query.where(Schedule.status != "archived")
    return list(session.scalars(query.order_by(Schedule.name)))


def schedule_jobs(session: Session, *, schedule_id: int,
                  limit: int = JOBS_LISTED) -> tuple[list[Job], int]:
    """``(jobs, total)``: the schedule's jobs, newest due time first."""
    total = session.scalar(select(func.count()).select_from(Job)
                           .where(Job.schedule_id == schedule_id))
    jobs = session.scalars(select(Job).where(Job.schedule_id == schedule_id)
                           .order_by(Job.scheduled_for.desc().nulls_last(), Job.id.desc())
                           .limit(limit))
    return list(jobs), int(total or 0)


def upcoming_runs(schedule: Schedule, *, now: datetime | None = None,
                  count: int = UPCOMING) -> list[RunTime]:
    """The next ``count`` due times from ``next_run_at`` on (or from ``now`` if
    that is unset or past), in UTC and local time; empty unless active."""
    if schedule.status != "active":
        return []
    now = timing.as_utc(now or utcnow())
    start = timing.as_utc(schedule.next_run_at) if schedule.next_run_at else None
    if start is not None and start >= now:
        times = [start] + timing.upcoming(schedule.cron, schedule.timezone, after=start,
                                          count=count - 1)
    else:
        times = timing.upcoming(schedule.cron, schedule.timezone, after=now, count=count)
    tz = timing.zone(schedule.timezone)
    return [RunTime(utc=t, local=t.astimezone(tz)) for t in times]


def to_read(schedule: Schedule) -> ScheduleRead:
    return ScheduleRead(**_fields(schedule))


def to_detail(session: Session, schedule: Schedule, *, now: datetime | None = None,
              jobs_limit: int = JOBS_LISTED) -> ScheduleDetail:
    jobs, total = schedule_jobs(session, schedule_id=schedule.id, limit=jobs_limit)
    return ScheduleDetail(
        **_fields(schedule), upcoming=upcoming_runs(schedule, now=now),
        jobs=[ScheduledJob(id=j.id, name=j.name, status=j.status,
                           scheduled_for=j.scheduled_for, error=j.error,
                           created_at=j.created_at, started_at=j.started_at,
                           finished_at=j.finished_at) for j in jobs],
        jobs_total=total)


def _fields(schedule: Schedule) -> dict[str, Any]:
    return dict(id=schedule.id, name=schedule.name, cron=schedule.cron,
                timezone=schedule.timezone, job_template=dict(schedule.job_template or {}),
                misfire_policy=schedule.misfire_policy, status=schedule.status,
                next_run_at=schedule.next_run_at, last_run_at=schedule.last_run_at,
                created_at=schedule.created_at, updated_at=schedule.updated_at)


# -- checks ----------------------------------------------------------------------------

def _changeable(session: Session, *, schedule_id: int) -> Schedule:
    schedule = get_schedule(session, schedule_id=schedule_id)
    if schedule.status == "archived":
        raise Conflict(f"schedule {schedule.name!r} is deleted (archived) and cannot change",
                       details={"schedule_id": schedule_id, "status": schedule.status})
    return schedule


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise Unprocessable("name must not be blank", details={"field": "name"})
    return name


def _timezone(name: str) -> str:
    timing.zone(name)
    return name


def _ensure_name_free(session: Session, *, name: str) -> None:
    taken = session.scalar(select(Schedule).where(Schedule.name == name))
    if taken is not None:
        raise _name_taken(name, taken.id, taken.status)


def _name_taken(name: str, schedule_id: int | None, status: str | None) -> Conflict:
    return Conflict(f"a schedule named {name!r} exists (id {schedule_id}, {status}); "
                    "names stay taken after deleting",
                    details={"field": "name", "schedule_id": schedule_id, "status": status})


def _flush(session: Session, *, name: str) -> None:
    try:
        session.flush()
    except IntegrityError:
        # Two requests raced past the name check.
        session.rollback()
        raise _name_taken(name, None, None) from None


def _under(exc: AppError, field: str) -> AppError:
    return type(exc)(exc.message, details={**(exc.details or {}), "field": field})
