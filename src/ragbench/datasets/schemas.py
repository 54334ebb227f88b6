from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ragbench.schemas import UtcDatetime


class DatasetRead(BaseModel):
    """One dataset version. ``stats`` is described in :mod:`ragbench.datasets.stats`."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    #: sha256 (hex) of the normalised corpus, queries and qrels.
    version: str
    source_format: Literal["beir", "trec"]
    split: str
    num_documents: int
    num_queries: int
    num_judgments: int
    stats: dict[str, Any]
    created_at: UtcDatetime
    deleted_at: UtcDatetime | None
