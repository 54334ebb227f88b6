from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ragbench.database import Base, utcnow


class Comparison(Base):
    """A stored multi-system comparison on one dataset and measure."""

    __tablename__ = "comparisons"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    measure: Mapped[str] = mapped_column(String(100))            # canonical, e.g. nDCG@10
    test: Mapped[str] = mapped_column(String(32))
    correction: Mapped[str] = mapped_column(String(32))
    alpha: Mapped[float] = mapped_column(Float)
    system_ids: Mapped[list[int]] = mapped_column(JSON)
    evaluation_ids: Mapped[list[int]] = mapped_column(JSON)
    #: The full response body (ranking, CIs, pairwise tests, groups).
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
