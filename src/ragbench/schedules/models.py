from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from ragbench.database import Base, utcnow


class Schedule(Base):
    """A cron-timed batch job template.

    ``next_run_at`` is the next due time (UTC). A scheduler that finds it due
    advances it with a compare-and-set (``UPDATE … WHERE next_run_at = <seen>``) in
    the same transaction that inserts the job, and the job's unique
    (schedule_id, scheduled_for) backs that up: one due time, one job.
    """

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    cron: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    #: name, description, system_ids, dataset_ids, evaluation_config (as a job).
    job_template: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: What to do with due times missed while nothing was running: "run_once"
    #: (one job for the most recent missed time, then carry on) or "skip".
    misfire_policy: Mapped[str] = mapped_column(String(16), default="run_once")
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | paused | archived
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)
