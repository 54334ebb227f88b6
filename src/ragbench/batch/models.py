from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (JSON, DateTime, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from ragbench.database import Base, utcnow
# Jobs point at schedules: their table must be known wherever jobs are.
from ragbench.schedules import models as _schedules_models  # noqa: F401


class Job(Base):
    """A batch: one task per (system, dataset) pair, all with one evaluation config.

    A job made by a schedule records which due time it is for; the unique
    (schedule_id, scheduled_for) is what makes a due time produce exactly one job,
    however many schedulers race for it.
    """

    __tablename__ = "batch_jobs"
    __table_args__ = (UniqueConstraint("schedule_id", "scheduled_for",
                                       name="uq_batch_jobs_schedule_due"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    #: pending | running | completed | failed | cancelled
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    system_ids: Mapped[list[int]] = mapped_column(JSON)
    dataset_ids: Mapped[list[int]] = mapped_column(JSON)
    #: measures, top_k, concurrency, timeout_s, retries (as for one evaluation) and
    #: rate_limit_qps (per task).
    evaluation_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id"), index=True)
    scheduled_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class JobTask(Base):
    """One (system, dataset) evaluation of a job, handed to executors by id.

    Whoever runs it holds a lease (``lease_owner`` until ``lease_expires_at``) and
    renews it while working; an expired lease means its worker died, and the task
    may be claimed again. ``evaluation_id`` is set once, so running a task twice
    never makes two evaluations.
    """

    __tablename__ = "batch_tasks"
    __table_args__ = (
        UniqueConstraint("job_id", "system_id", "dataset_id",
                         name="uq_batch_tasks_job_system_dataset"),
        Index("ix_batch_tasks_status_lease", "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("batch_jobs.id", ondelete="CASCADE"),
                                        index=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("systems.id"), index=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    #: pending | running | completed | failed | cancelled
    status: Mapped[str] = mapped_column(String(16), default="pending")
    evaluation_id: Mapped[int | None] = mapped_column(ForeignKey("evaluations.id"),
                                                      unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
