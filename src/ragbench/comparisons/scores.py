"""Per-query scores of stored evaluations, paired on the queries they share.

A system is represented by its latest completed evaluation on a dataset version
(:mod:`ragbench.comparisons.latest`). Its per-query values for a measure come from
``EvaluationQuery.metrics`` when the evaluation scored that measure, else they are
recomputed from the evaluation's Parquet run and the dataset's qrels with trec_eval
``-c`` semantics (a judged query the run did not answer scores 0), so any ragbench
measure can be compared after the fact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ragbench.comparisons.latest import LatestEvaluation
from ragbench.config import Settings
from ragbench.core import evaluate
from ragbench.core.errors import FormatError, MeasureError
from ragbench.core.io.parquet import read_run_parquet
from ragbench.core.measures import parse
from ragbench.datasets import service as datasets_service
from ragbench.errors import Conflict
from ragbench.evaluations.models import EvaluationQuery


@dataclass(frozen=True, slots=True)
class PairedScores:
    """``scores[system_id][i]``: the measure on ``query_ids[i]`` (same order for all)."""

    measure: str
    query_ids: tuple[str, ...]
    scores: dict[int, np.ndarray]
    #: Queries of each system's evaluation that are missing from some other one.
    dropped: dict[int, int]


def paired_scores(session: Session, *, settings: Settings, dataset_id: int,
                  evaluations: Sequence[LatestEvaluation], measure: str) -> PairedScores:
    """Per-query values of ``measure`` for each evaluation, on their common queries.

    Values stored by the evaluations come in one query over ``evaluation_queries``
    (only the requested measure is extracted from the JSON); the others are
    recomputed from their Parquet runs. Queries are sorted by id; a system's
    ``dropped`` count is ``|its queries| - |common queries|``.
    """
    if not evaluations:
        return PairedScores(measure=measure, query_ids=(), scores={}, dropped={})
    by_system: dict[int, dict[str, float]] = {}
    stored = [e for e in evaluations if measure in _canonical(e.measures)]
    if stored:
        by_evaluation = {e.evaluation_id: e.system_id for e in stored}
        for system_id in by_evaluation.values():
            by_system[system_id] = {}
        value = EvaluationQuery.metrics[measure].as_float()
        rows = session.execute(
            select(EvaluationQuery.evaluation_id, EvaluationQuery.query_id, value)
            .where(EvaluationQuery.evaluation_id.in_(list(by_evaluation))))
        for evaluation_id, query_id, metric in rows:
            if metric is not None:
                by_system[by_evaluation[evaluation_id]][query_id] = metric
    missing = [e for e in evaluations if e.system_id not in by_system]
    if missing:
        by_system.update(_recomputed(session, settings=settings, dataset_id=dataset_id,
                                     evaluations=missing, measure=measure))

    common = set.intersection(*(set(values) for values in by_system.values()))
    query_ids = tuple(sorted(common))
    scores = {e.system_id: np.fromiter((by_system[e.system_id][q] for q in query_ids),
                                       dtype=np.float64, count=len(query_ids))
              for e in evaluations}
    dropped = {e.system_id: len(by_system[e.system_id]) - len(query_ids) for e in evaluations}
    return PairedScores(measure=measure, query_ids=query_ids, scores=scores, dropped=dropped)


def _recomputed(session: Session, *, settings: Settings, dataset_id: int,
                evaluations: Sequence[LatestEvaluation],
                measure: str) -> dict[int, dict[str, float]]:
    qrels = datasets_service.load_collection(session, dataset_id=dataset_id,
                                             settings=settings).qrels
    out: dict[int, dict[str, float]] = {}
    for item in evaluations:
        if not item.run_path:
            raise Conflict(
                f"evaluation {item.evaluation_id} of system {item.system_name!r} did not "
                f"score {measure} and kept no run to recompute it from",
                details={"evaluation_id": item.evaluation_id, "measure": measure})
        path = settings.data_dir / item.run_path
        try:
            run = read_run_parquet(path)
        except FormatError as exc:
            raise Conflict(
                f"the run of evaluation {item.evaluation_id} cannot be read: {exc}",
                details={"evaluation_id": item.evaluation_id, "file": str(path)}) from None
        result = evaluate(qrels, run, [measure], complete=True)
        values = result.columns[0].per_query
        out[item.system_id] = {q: float(values[i]) for i, q in enumerate(result.query_ids)}
    return out


def _canonical(measures: Sequence[str]) -> set[str]:
    out = set()
    for text in measures:
        try:
            out.add(str(parse(text)))
        except MeasureError:
            continue  # a name this version no longer knows cannot match a parsed one
    return out

