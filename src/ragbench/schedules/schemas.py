"""Request and response bodies of the schedules API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ragbench.batch.schemas import JobCreate, JobStatus
from ragbench.schemas import UtcDatetime

MisfirePolicy = Literal["run_once", "skip"]
ScheduleStatus = Literal["active", "paused", "archived"]


class ScheduleCreate(BaseModel):
    """A batch job made at every time the cron expression matches, read in
    ``timezone``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    #: Five fields (minute hour day-of-month month day-of-week) or a macro such as
    #: ``@daily``; e.g. ``0 2 * * *`` is every night at 02:00 in ``timezone``.
    cron: str = Field(min_length=1, max_length=200)
    #: IANA time zone name (``UTC``, ``Europe/Berlin``, ``Asia/Seoul``).
    timezone: str = Field("UTC", min_length=1, max_length=64)
    #: The job each due time creates (as ``POST /api/v1/batch/jobs``).
    job_template: JobCreate
    #: Due times missed while no scheduler ran: ``run_once`` makes one job for the
    #: most recent of them; ``skip`` makes none (see ``ragbench.schedules.jobs``).
    misfire_policy: MisfirePolicy = "run_once"


class ScheduleUpdate(BaseModel):
    """Fields to change; omitted fields stay. A new cron or time zone recomputes
    the next run from now."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    cron: str | None = Field(None, min_length=1, max_length=200)
    timezone: str | None = Field(None, min_length=1, max_length=64)
    job_template: JobCreate | None = None
    misfire_policy: MisfirePolicy | None = None


class ScheduleRead(BaseModel):
    id: int
    name: str
    cron: str
    timezone: str
    job_template: dict[str, Any]
    misfire_policy: MisfirePolicy
    #: ``active``; ``paused`` (never fires until resumed); ``archived`` (deleted:
    #: never fires again, kept with its jobs).
    status: ScheduleStatus
    #: The next due time; None while paused or archived.
    next_run_at: UtcDatetime | None
    #: The due time of the most recent job this schedule made.
    last_run_at: UtcDatetime | None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class RunTime(BaseModel):
    """One due time, in UTC and as the wall-clock time of the schedule's zone."""

    utc: UtcDatetime
    #: ISO 8601 with the zone's offset at that instant, e.g. ``2024-03-31T03:00:00+02:00``.
    local: datetime


class ScheduledJob(BaseModel):
    """A job a schedule made (``failed`` with ``error`` when it could not be created,
    e.g. because a system of the template was archived)."""

    id: int
    name: str
    status: JobStatus
    scheduled_for: UtcDatetime | None
    error: str | None
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None


class ScheduleDetail(ScheduleRead):
    #: The next due times (empty while paused or archived).
    upcoming: list[RunTime]
    #: Its jobs, newest due time first (at most ``jobs_limit``), and how many in all.
    jobs: list[ScheduledJob]
    jobs_total: int
