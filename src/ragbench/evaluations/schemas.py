"""Request and response bodies of the evaluations API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ragbench.schemas import UtcDatetime

DEFAULT_MEASURES = ("nDCG@10", "AP", "RR@10", "P@10", "R@100")

EvaluationStatus = Literal["pending", "running", "completed", "failed", "cancelled"]
QueryStatus = Literal["ok", "failed"]


class QuerySettings(BaseModel):
    """How an evaluation asks its queries and what it measures (shared by one
    evaluation and by every evaluation of a batch job)."""

    model_config = ConfigDict(extra="forbid")

    #: ragbench measures (``ragbench.core.measures``); stored in canonical spelling.
    measures: list[str] = Field(default_factory=lambda: list(DEFAULT_MEASURES),
                                min_length=1, max_length=100)
    #: Documents asked per query.
    top_k: int = Field(100, ge=1, le=1000)
    #: Requests in flight at once; default and ceiling: the system's max_concurrency.
    concurrency: int | None = Field(None, ge=1)
    #: Seconds per request; default: the system's timeout.
    timeout_s: float | None = Field(None, gt=0, le=600)
    #: Further attempts of a query after a retryable failure (5xx, 429, timeout,
    #: connection error), with exponential backoff.
    retries: int = Field(2, ge=0, le=10)


class EvaluationCreate(QuerySettings):
    """Start an evaluation of a system on a dataset version."""

    system_id: int
    dataset_id: int


class Progress(BaseModel):
    done: int
    total: int
    #: 100 * done / total (0 while the total is unknown).
    percent: float


class EvaluationRead(BaseModel):
    id: int
    system_id: int
    dataset_id: int
    status: EvaluationStatus
    measures: list[str]
    top_k: int
    concurrency: int
    timeout_s: float
    retries: int
    #: Judged queries of the dataset version, and those settled (answered or failed).
    queries_total: int
    queries_done: int
    progress: Progress
    #: {measure: mean over all judged queries, failed ones counting 0}
    aggregates: dict[str, float]
    #: {"p50", "p95", "p99", "mean", "max"} in ms over successful queries
    latency: dict[str, float]
    #: Answered queries per second of the querying phase.
    throughput_qps: float | None
    errors_count: int
    error: str | None
    #: The Parquet ranking, relative to the data folder.
    run_path: str | None
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    heartbeat_at: UtcDatetime | None


class EvaluationDetail(EvaluationRead):
    #: Ids of failed queries (the first 100, by query id).
    failed_query_ids: list[str]


class EvaluationPage(BaseModel):
    items: list[EvaluationRead]
    total: int
    offset: int
    limit: int


class QueryResultRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    query_id: str
    status: QueryStatus
    #: Wall time of the successful attempt, ms.
    latency_ms: float | None
    attempts: int
    #: The last failed attempt's message: why a query failed, or why it needed a retry.
    error: str | None
    #: {measure: value}, filled when the evaluation is scored.
    metrics: dict[str, float]


class QueryResultPage(BaseModel):
    items: list[QueryResultRead]
    total: int
    offset: int
    limit: int
