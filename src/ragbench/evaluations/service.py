"""Evaluations: create, list, read, per-query results, cancel, the run file.

Functions are keyword-only with the session first; they never run an
evaluation themselves (see :mod:`ragbench.evaluations.jobs`) and never commit:
the caller's transaction does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from ragbench.config import Settings
from ragbench.core.errors import FormatError, MeasureError
from ragbench.core.measures import parse
from ragbench.database import utcnow
from ragbench.datasets import service as datasets_service
from ragbench.errors import Conflict, NotFound, Unprocessable
from ragbench.evaluations import artifacts
from ragbench.evaluations.models import Evaluation, EvaluationQuery
from ragbench.evaluations.schemas import (EvaluationCreate, EvaluationDetail, EvaluationPage,
                                          EvaluationRead, QueryResultRead)
from ragbench.systems import service as systems_service

STATUSES = ("pending", "running", "completed", "failed", "cancelled")
QUERY_STATUSES = ("ok", "failed")
#: Per-query columns the query list can also be sorted by (besides measures).
QUERY_SORT_COLUMNS = ("query_id", "latency_ms", "attempts")
FAILED_LISTED = 100


def canonical_measures(measures: Sequence[str]) -> list[str]:
    """Each measure in its canonical spelling (``ndcg@10`` -> ``nDCG@10``),
    repeats dropped; Unprocessable naming the first measure that does not parse."""
    out: list[str] = []
    for i, text in enumerate(measures):
        try:
            name = str(parse(text))
        except MeasureError as exc:
            raise Unprocessable(f"unknown measure {text!r}: {exc}",
                                details={"field": f"measures[{i}]", "measure": text}) from None
        if name not in out:
            out.append(name)
    return out


def create_evaluation(session: Session, *, data: EvaluationCreate) -> Evaluation:
    """A ``pending`` evaluation (the caller submits it to an executor).

    NotFound: no such system, or the dataset is missing or deleted; Conflict: the
    system is archived. ``concurrency`` defaults to, and is capped at, the system's
    ``max_concurrency``; ``timeout_s`` defaults to the system's."""
    measures = canonical_measures(data.measures)
    system = systems_service.get_active_system(session, system_id=data.system_id)
    dataset = datasets_service.get_dataset(session, dataset_id=data.dataset_id)
    concurrency = min(data.concurrency or system.max_concurrency, system.max_concurrency)
    evaluation = Evaluation(system_id=system.id, dataset_id=dataset.id, status="pending",
                            measures=measures, top_k=data.top_k, concurrency=concurrency,
                            timeout_s=data.timeout_s or system.timeout_s,
                            retries=data.retries, queries_total=dataset.num_queries,
                            queries_done=0, errors_count=0, aggregates={}, latency={},
                            created_at=utcnow())
    session.add(evaluation)
    session.flush()
    return evaluation


def get_evaluation(session: Session, *, evaluation_id: int) -> Evaluation:
    evaluation = session.get(Evaluation, evaluation_id)
    if evaluation is None:
        raise NotFound(f"no evaluation with id {evaluation_id}",
                       details={"evaluation_id": evaluation_id})
    return evaluation


def list_evaluations(session: Session, *, system_id: int | None = None,
                     dataset_id: int | None = None, status: str | None = None,
                     offset: int = 0, limit: int = 50) -> tuple[list[Evaluation], int]:
    """``(page, total)``: evaluations matching every filter given, newest first."""
    query = select(Evaluation).where(*_filters(Evaluation, system_id, dataset_id, status))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    page = session.scalars(query.order_by(Evaluation.id.desc()).offset(offset).limit(limit))
    return list(page), int(total or 0)


def evaluation_page_json(session: Session, *, system_id: int | None = None,
                         dataset_id: int | None = None, status: str | None = None,
                         offset: int = 0, limit: int = 50) -> bytes:
    """:func:`list_evaluations` as the UTF-8 JSON of an :class:`EvaluationPage`.

    Reads only the columns the page shows (no ORM objects) and validates the body
    once: at 50 rows that is a third of the cost of building ORM rows, then models,
    then the response again.
    """
    where = _filters(_TABLE.c, system_id, dataset_id, status)
    total = session.scalar(select(func.count()).select_from(_TABLE).where(*where))
    rows = session.execute(select(*_READ_COLUMNS).where(*where)
                           .order_by(_TABLE.c.id.desc()).offset(offset).limit(limit))
    page = {"items": [_row_fields(row) for row in rows], "total": int(total or 0),
            "offset": offset, "limit": limit}
    return EvaluationPage.model_validate(page).model_dump_json().encode()


def evaluation_detail_json(session: Session, *, evaluation_id: int) -> bytes:
    """The UTF-8 JSON of evaluation ``evaluation_id``'s :class:`EvaluationDetail`
    (NotFound as :func:`get_evaluation`); two queries, no ORM objects."""
    row = session.execute(_DETAIL, {"evaluation_id": evaluation_id}).first()
    if row is None:
        raise NotFound(f"no evaluation with id {evaluation_id}",
                       details={"evaluation_id": evaluation_id})
    body = _row_fields(row)
    body["failed_query_ids"] = failed_query_ids(session, evaluation_id=evaluation_id)
    return EvaluationDetail.model_validate(body).model_dump_json().encode()


def _filters(columns: Any, system_id: int | None, dataset_id: int | None,
             status: str | None) -> list:
    """The conditions on ``columns`` (the model, or its table's columns)."""
    where = []
    if system_id is not None:
        where.append(columns.system_id == system_id)
    if dataset_id is not None:
        where.append(columns.dataset_id == dataset_id)
    if status is not None:
        if status not in STATUSES:
            raise Unprocessable(f"status must be one of {', '.join(STATUSES)}, got {status!r}",
                                details={"field": "status"})
        where.append(columns.status == status)
    return where


def latest_completed(session: Session, *, system_id: int, dataset_id: int) -> Evaluation | None:
    """The system's newest completed evaluation on the dataset version (latest
    ``finished_at``, then highest id), or None."""
    return session.scalars(
        select(Evaluation)
        .where(Evaluation.system_id == system_id, Evaluation.dataset_id == dataset_id,
               Evaluation.status == "completed")
        .order_by(Evaluation.finished_at.desc().nulls_last(), Evaluation.id.desc())
        .limit(1)).first()


def cancel_evaluation(session: Session, *, evaluation_id: int) -> Evaluation:
    """``pending`` or ``running`` -> ``cancelled`` (stored query results stay).
    Cancelling a cancelled evaluation changes nothing; a finished one is a Conflict."""
    evaluation = get_evaluation(session, evaluation_id=evaluation_id)
    if evaluation.status == "cancelled":
        return evaluation
    if evaluation.status not in ("pending", "running"):
        raise Conflict(f"evaluation {evaluation_id} is {evaluation.status} and cannot be "
                       "cancelled", details={"evaluation_id": evaluation_id,
                                             "status": evaluation.status})
    evaluation.status = "cancelled"
    evaluation.finished_at = utcnow()
    session.flush()
    return evaluation


def failed_query_ids(session: Session, *, evaluation_id: int,
                     limit: int = FAILED_LISTED) -> list[str]:
    """Ids of the evaluation's failed queries, the first ``limit`` by query id."""
    return list(session.scalars(_FAILED, {"evaluation_id": evaluation_id, "limit": limit}))


def to_read(evaluation: Evaluation) -> EvaluationRead:
    return EvaluationRead(**_fields(evaluation))


def to_detail(session: Session, evaluation: Evaluation) -> EvaluationDetail:
    return EvaluationDetail(**_fields(evaluation), failed_query_ids=failed_query_ids(
        session, evaluation_id=evaluation.id))


#: The columns of an :class:`EvaluationRead` (``progress`` is derived from two of them).
_READ_NAMES = ("id", "system_id", "dataset_id", "status", "measures", "top_k", "concurrency",
               "timeout_s", "retries", "queries_total", "queries_done", "aggregates",
               "latency", "throughput_qps", "errors_count", "error", "run_path", "created_at",
               "started_at", "finished_at", "heartbeat_at")
# The hot reads select table columns (plain rows, no ORM entity machinery), with
# statements built once: building one costs about as much as running it.
_TABLE = Evaluation.__table__
_QUERIES = EvaluationQuery.__table__
_READ_COLUMNS = tuple(_TABLE.c[name] for name in _READ_NAMES)
_DETAIL = select(*_READ_COLUMNS).where(_TABLE.c.id == bindparam("evaluation_id"))
_FAILED = (select(_QUERIES.c.query_id)
           .where(_QUERIES.c.evaluation_id == bindparam("evaluation_id"),
                  _QUERIES.c.status == "failed")
           .order_by(_QUERIES.c.query_id).limit(bindparam("limit")))


def _fields(evaluation: Evaluation) -> dict[str, Any]:
    """The :class:`EvaluationRead` fields of an ``Evaluation``."""
    return _completed({name: getattr(evaluation, name) for name in _READ_NAMES})


def _row_fields(row: Sequence[Any]) -> dict[str, Any]:
    """The :class:`EvaluationRead` fields of a result row of :data:`_READ_COLUMNS`."""
    return _completed(dict(zip(_READ_NAMES, row)))


def _completed(values: dict[str, Any]) -> dict[str, Any]:
    total, done = values["queries_total"] or 0, values["queries_done"] or 0
    values.update(
        measures=list(values["measures"] or []), queries_total=total, queries_done=done,
        progress={"done": done, "total": total,
                  "percent": round(100.0 * done / total, 2) if total else 0.0},
        aggregates=values["aggregates"] or {}, latency=values["latency"] or {},
        errors_count=values["errors_count"] or 0)
    return values


def list_query_results(session: Session, *, evaluation_id: int, offset: int = 0,
                       limit: int = 100, status: str | None = None,
                       sort: str = "query_id", order: str = "asc",
                       ) -> tuple[list[QueryResultRead], int]:
    """``(page, total)`` of per-query results. ``sort``: a measure of the
    evaluation (any spelling that parses to it) or one of
    :data:`QUERY_SORT_COLUMNS`; ``order``: ``asc`` | ``desc``. Missing values
    (a measure not scored yet, the latency of a failed query) sort last; ties
    by query id."""
    evaluation = get_evaluation(session, evaluation_id=evaluation_id)
    if status is not None and status not in QUERY_STATUSES:
        raise Unprocessable(f"status must be ok or failed, got {status!r}",
                            details={"field": "status"})
    if order not in ("asc", "desc"):
        raise Unprocessable(f"order must be asc or desc, got {order!r}",
                            details={"field": "order"})
    key = _sort_key(sort, evaluation)
    query = select(EvaluationQuery.query_id, EvaluationQuery.status,
                   EvaluationQuery.latency_ms, EvaluationQuery.attempts,
                   EvaluationQuery.error, EvaluationQuery.metrics).where(
        EvaluationQuery.evaluation_id == evaluation_id)
    if status is not None:
        query = query.where(EvaluationQuery.status == status)
    rows = [QueryResultRead(query_id=r.query_id, status=r.status, latency_ms=r.latency_ms,
                            attempts=r.attempts, error=r.error, metrics=r.metrics or {})
            for r in session.execute(query)]
    rows.sort(key=lambda r: r.query_id)
    present = [r for r in rows if key(r) is not None]
    present.sort(key=key, reverse=order == "desc")  # stable: ties stay by query id
    ordered = present + [r for r in rows if key(r) is None]
    return ordered[offset:offset + limit], len(rows)


def _sort_key(sort: str, evaluation: Evaluation):
    if sort in QUERY_SORT_COLUMNS:
        return lambda r: getattr(r, sort)
    try:
        measure = str(parse(sort))
    except MeasureError:
        measure = None
    if measure is None or measure not in (evaluation.measures or []):
        raise Unprocessable(
            f"cannot sort by {sort!r}: use one of the evaluation's measures "
            f"({', '.join(evaluation.measures or [])}) or {', '.join(QUERY_SORT_COLUMNS)}",
            details={"field": "sort", "measure": sort})
    return lambda r: r.metrics.get(measure)


def run_file(session: Session, *, evaluation_id: int, settings: Settings) -> str:
    """The evaluation's ranking as a TREC run file (``qid Q0 doc rank score
    ragbench-<system name>``); Conflict unless it is completed."""
    evaluation = get_evaluation(session, evaluation_id=evaluation_id)
    if evaluation.status != "completed" or not evaluation.run_path:
        raise Conflict(f"evaluation {evaluation_id} is {evaluation.status}: its run is "
                       "available once it is completed",
                       details={"evaluation_id": evaluation_id, "status": evaluation.status})
    system = systems_service.get_system(session, system_id=evaluation.system_id)
    path = settings.data_dir / evaluation.run_path
    try:
        run = artifacts.read_run_artifact(settings.data_dir, evaluation.run_path)
        return artifacts.trec_run_text(run, tag=artifacts.run_tag(system.name))
    except FormatError as exc:
        raise Conflict(f"the run of evaluation {evaluation_id} cannot be exported: {exc}",
                       details={"evaluation_id": evaluation_id, "file": str(path)}) from None
