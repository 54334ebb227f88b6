"""Stored systems, datasets and completed evaluations for the comparison tests.

Rows are written straight through the models (after the ``api`` fixture has
migrated the database), with per-query values chosen by the test, so every
statistic can be recomputed independently from the same vectors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ragbench.database import get_database
from ragbench.datasets.models import Dataset
from ragbench.evaluations.models import Evaluation, EvaluationQuery
from ragbench.systems.models import System

T0 = datetime(2025, 1, 1, tzinfo=UTC)


class Store:
    """Inserts rows in their own committed transactions; returns ids."""

    def __init__(self, database) -> None:
        self.database = database

    def system(self, name: str, *, status: str = "active") -> int:
        with self.database.session() as session:
            row = System(name=name, base_url=f"http://127.0.0.1:9/{name}", adapter="ragbench",
                         status=status)
            session.add(row)
            session.flush()
            return row.id

    def dataset(self, name: str = "toy", *, storage_path: str | None = None,
                num_queries: int = 0, deleted: bool = False) -> int:
        with self.database.session() as session:
            row = Dataset(name=name, version=f"{name}-v1", source_format="beir", split="test",
                          num_queries=num_queries, storage_path=storage_path or f"datasets/{name}",
                          deleted_at=T0 if deleted else None)
            session.add(row)
            session.flush()
            return row.id

    def evaluation(self, *, system_id: int, dataset_id: int,
                   values: Mapping[str, Mapping[str, float]] | None = None,
                   status: str = "completed", finished_minutes: float = 0.0,
                   measures: Sequence[str] | None = None, run_path: str | None = None) -> int:
        """``values[measure][query_id]``; ``finished_at`` is T0 + ``finished_minutes``."""
        values = values or {}
        measures = list(values) if measures is None else list(measures)
        query_ids = sorted({q for per_query in values.values() for q in per_query})
        with self.database.session() as session:
            row = Evaluation(system_id=system_id, dataset_id=dataset_id, status=status,
                             measures=measures, queries_total=len(query_ids),
                             queries_done=len(query_ids), run_path=run_path,
                             aggregates={m: float(np.mean(list(v.values())))
                                         for m, v in values.items() if v},
                             started_at=T0, finished_at=T0 + timedelta(minutes=finished_minutes))
            session.add(row)
            session.flush()
            session.add_all([
                EvaluationQuery(evaluation_id=row.id, query_id=q, status="ok",
                                metrics={m: float(v[q]) for m, v in values.items() if q in v})
                for q in query_ids])
            return row.id


@pytest.fixture
def store(api, settings) -> Store:
    return Store(get_database(settings.sqlalchemy_url))


def query_ids(n: int) -> list[str]:
    return [f"q{i:03d}" for i in range(n)]


def per_query(vector: Sequence[float], ids: Sequence[str] | None = None) -> dict[str, float]:
    ids = ids or query_ids(len(vector))
    return {q: float(v) for q, v in zip(ids, vector)}
