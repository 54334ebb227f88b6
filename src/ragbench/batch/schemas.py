"""Request and response bodies of the batch API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ragbench.evaluations.schemas import QuerySettings
from ragbench.schemas import UtcDatetime

JobStatus = Literal["pending", "running", "completed", "failed", "cancelled"]
TaskStatus = Literal["pending", "running", "completed", "failed", "cancelled"]


class EvaluationConfig(QuerySettings):
    """How every evaluation of a job runs: the query settings of one evaluation
    (:class:`ragbench.evaluations.schemas.QuerySettings`; ``concurrency`` applies
    within one task) plus the batch's own limits."""

    #: Requests per second one task may send to its system (a token bucket with no
    #: burst, retries included); None: no limit beyond ``concurrency``.
    rate_limit_qps: float | None = Field(None, gt=0, le=10_000)
    #: A task fails when more than this share of its queries still failed after
    #: their retries (0: any failed query fails the task).
    max_failed_fraction: float = Field(0.0, ge=0, le=1)


class JobCreate(BaseModel):
    """Evaluate every system on every dataset: one task per (system, dataset)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    system_ids: list[int] = Field(min_length=1, max_length=1000)
    dataset_ids: list[int] = Field(min_length=1, max_length=1000)
    evaluation_config: EvaluationConfig = Field(default_factory=EvaluationConfig)


class TaskCounts(BaseModel):
    total: int = 0
    pending: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0


class JobRead(BaseModel):
    id: int
    name: str
    description: str
    status: JobStatus
    system_ids: list[int]
    dataset_ids: list[int]
    evaluation_config: dict[str, Any]
    schedule_id: int | None
    scheduled_for: UtcDatetime | None
    #: Why the job failed (how many tasks, and the first task's reason).
    error: str | None
    #: The evaluations made so far, in task order.
    evaluation_ids: list[int]
    tasks: TaskCounts
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    cancel_requested_at: UtcDatetime | None


class JobPage(BaseModel):
    items: list[JobRead]
    total: int
    offset: int
    limit: int


class TaskProgress(BaseModel):
    task_id: int
    system_id: int
    system_name: str
    dataset_id: int
    dataset_name: str
    status: TaskStatus
    evaluation_id: int | None
    #: Judged queries settled (answered or failed) and in all.
    queries_done: int
    queries_total: int
    #: Queries that still failed after their retries.
    errors_count: int
    #: Seconds left at the evaluation's rate so far: (total - done) / (done / seconds
    #: since it started); None until a query is done, and once finished.
    eta_s: float | None
    attempts: int
    error: str | None
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None


class JobProgress(BaseModel):
    job_id: int
    status: JobStatus
    #: 100 * done / total over all tasks, a finished task counting as fully done.
    percent: float
    queries_done: int
    queries_total: int
    #: Queries left over the summed rate of the running tasks; None without a rate.
    eta_s: float | None
    tasks: TaskCounts
    items: list[TaskProgress]
    error: str | None
    #: When this snapshot was read.
    at: UtcDatetime
