"""Which evaluation stands for a system on a dataset version: its latest completed one.

"Latest" is :func:`ragbench.evaluations.service.latest_completed`'s choice: the newest
``finished_at``, then the highest id. For a leaderboard it is found in two steps, so
that the step run on every request is one cheap query:

1. :func:`newest_completions` — per active system, the newest ``finished_at`` and the
   number of completed evaluations (one GROUP BY over the dataset's completed
   evaluations, joined to the systems). This is the leaderboard's cache key: a newly
   completed evaluation changes one of the two numbers.
2. :func:`resolve_latest` — only when the statistics are not cached: the evaluation
   rows behind those times.

Joining the evaluation rows back in step 1 would read the dataset's evaluations a
second time (three times the cost at a thousand evaluations on SQLite); a window
function costs more still.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from ragbench.datasets.models import Dataset
from ragbench.errors import Conflict
from ragbench.evaluations.models import Evaluation
from ragbench.systems.models import System


@dataclass(frozen=True, slots=True)
class NewestCompletion:
    """An active system's newest completion time on a dataset, and how many it has."""

    system_id: int
    system_name: str
    finished_at: datetime
    completed: int


@dataclass(frozen=True, slots=True)
class LatestEvaluation:
    """A system's latest completed evaluation on one dataset version."""

    evaluation_id: int
    system_id: int
    system_name: str
    finished_at: datetime | None
    #: Canonical measures the evaluation scored (stored per query).
    measures: tuple[str, ...]
    #: Parquet ranking, relative to ``settings.data_dir``.
    run_path: str | None


def _newest_statement():
    newest = (select(Evaluation.system_id,
                     func.max(Evaluation.finished_at).label("finished_at"),
                     func.count().label("completed"))
              .where(Evaluation.dataset_id == bindparam("dataset_id"),
                     Evaluation.status == "completed", Evaluation.finished_at.is_not(None))
              .group_by(Evaluation.system_id)
              .subquery())
    return (select(newest.c.system_id, System.name, newest.c.finished_at, newest.c.completed)
            .join(System, System.id == newest.c.system_id)
            .join(Dataset, Dataset.id == bindparam("dataset_id"))
            .where(System.status == "active", Dataset.deleted_at.is_(None))
            .order_by(newest.c.system_id))


# Built once: it runs on every leaderboard request, and building a statement costs
# about as much as running this one.
_NEWEST = _newest_statement()


def newest_completions(session: Session, *, dataset_id: int) -> list[NewestCompletion]:
    """Every active system with a completed evaluation on ``dataset_id``, by id.

    Nothing for a deleted (or unknown) dataset: the caller tells them apart. A
    completed evaluation always has a ``finished_at``; one without is not counted.
    """
    rows = session.execute(_NEWEST, {"dataset_id": dataset_id})
    return [NewestCompletion(system_id=row.system_id, system_name=row.name,
                             finished_at=row.finished_at, completed=row.completed)
            for row in rows]


def resolve_latest(session: Session, *, dataset_id: int,
                   newest: Sequence[NewestCompletion]) -> list[LatestEvaluation]:
    """The evaluations behind ``newest`` (same order); equal times go to the higher id.

    Conflict if one has gone since ``newest`` was read (deleted meanwhile): the next
    request reads a new state.
    """
    wanted = {n.system_id: n for n in newest}
    rows = session.execute(
        select(Evaluation.id, Evaluation.system_id, Evaluation.finished_at,
               Evaluation.measures, Evaluation.run_path)
        .where(Evaluation.dataset_id == dataset_id, Evaluation.status == "completed",
               Evaluation.system_id.in_(list(wanted)),
               Evaluation.finished_at.in_({n.finished_at for n in newest}))
        .order_by(Evaluation.id.desc()))
    found: dict[int, LatestEvaluation] = {}
    for row in rows:
        entry = wanted[row.system_id]
        if row.system_id not in found and row.finished_at == entry.finished_at:
            found[row.system_id] = LatestEvaluation(
                evaluation_id=row.id, system_id=row.system_id, system_name=entry.system_name,
                finished_at=row.finished_at, measures=tuple(row.measures or ()),
                run_path=row.run_path)
    gone = [n.system_id for n in newest if n.system_id not in found]
    if gone:
        raise Conflict("evaluations changed while the leaderboard was read; try again",
                       details={"dataset_id": dataset_id, "system_ids": gone})
    return [found[n.system_id] for n in newest]


def from_evaluation(evaluation: Evaluation, *, system_name: str) -> LatestEvaluation:
    """The :class:`LatestEvaluation` of an evaluation row already loaded."""
    return LatestEvaluation(evaluation_id=evaluation.id, system_id=evaluation.system_id,
                            system_name=system_name, finished_at=evaluation.finished_at,
                            measures=tuple(evaluation.measures or ()),
                            run_path=evaluation.run_path)
