from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ragbench.database import Base, utcnow


class Dataset(Base):
    """One version of a test collection; the version is the content hash.

    Re-uploading a collection whose content differs (e.g. new qrels) makes a new
    row; evaluations keep the id of the version they used.
    """

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_datasets_name_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    #: sha256 over the normalised corpus, queries and qrels (hex).
    version: Mapped[str] = mapped_column(String(64))
    source_format: Mapped[str] = mapped_column(String(16))      # "beir" | "trec"
    split: Mapped[str] = mapped_column(String(64), default="test")
    num_documents: Mapped[int] = mapped_column(Integer, default=0)
    num_queries: Mapped[int] = mapped_column(Integer, default=0)
    num_judgments: Mapped[int] = mapped_column(Integer, default=0)
    #: Relevance-level histogram, judged depth, etc.
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Folder of the stored files, relative to settings.data_dir.
    storage_path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
