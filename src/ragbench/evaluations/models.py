from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from ragbench.database import Base, utcnow


class Evaluation(Base):
    """One system run over one dataset version: every query, scored by ragbench.core."""

    __tablename__ = "evaluations"
    # Serves "latest completed evaluation per system on a dataset" (leaderboards).
    __table_args__ = (Index("ix_evaluations_dataset_status_system_finished", "dataset_id",
                            "status", "system_id", "finished_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("systems.id"), index=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    #: pending | running | completed | failed | cancelled
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    measures: Mapped[list[str]] = mapped_column(JSON)          # canonical strings
    top_k: Mapped[int] = mapped_column(Integer, default=100)
    concurrency: Mapped[int] = mapped_column(Integer, default=8)
    timeout_s: Mapped[float] = mapped_column(Float, default=10.0)
    retries: Mapped[int] = mapped_column(Integer, default=2)
    queries_total: Mapped[int] = mapped_column(Integer, default=0)
    queries_done: Mapped[int] = mapped_column(Integer, default=0)
    errors_count: Mapped[int] = mapped_column(Integer, default=0)
    #: {measure: mean over all queries (failed ones score 0)}
    aggregates: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: {"p50": ms, "p95": ms, "p99": ms, "mean": ms, "max": ms}
    latency: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    throughput_qps: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    #: Parquet file of the ranking, relative to settings.data_dir.
    run_path: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Set when a batch task owns this evaluation: the batch queue runs and resumes
    #: it, not the service's own executor.
    batch_task_id: Mapped[int | None] = mapped_column(Integer, index=True)
    #: Last sign of life of whoever runs it (a lease, for crash recovery).
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EvaluationQuery(Base):
    """One query of an evaluation. At most one row per (evaluation, query): the
    runner skips queries already stored, so a resumed evaluation never redoes or
    duplicates them."""

    __tablename__ = "evaluation_queries"
    __table_args__ = (UniqueConstraint("evaluation_id", "query_id",
                                       name="uq_evaluation_queries_evaluation_query"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id",
                                                          ondelete="CASCADE"))
    query_id: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))              # ok | failed
    latency_ms: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(Text)
    #: [[doc_id, score], ...] as returned; kept until the Parquet run is written.
    ranking: Mapped[list[Any] | None] = mapped_column(JSON)
    #: {measure: value}, filled when the evaluation is scored.
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
