"""Evaluations: create, list, read, per-query results, cancel, the run file.

Functions are keyword-only with the session first; they never run an
evaluation themselves (see :mod:`ragbench.evaluations.jobs`) and never commit:
the caller's transaction does.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Select, Text, bindparam, cast, func, select
from sqlalchemy.orm import Session

from ragbench.config import Settings
from ragbench.core.errors import FormatError, MeasureError
from ragbench.core.measures import parse
from ragbench.database import utcnow
from ragbench.datasets import service as datasets_service
from ragbench.errors import Conflict, NotFound, Unprocessable
from ragbench.evaluations import artifacts
from ragbench.evaluations.models import Evaluation, EvaluationQuery
from ragbench.evaluations.schemas import (EvaluationCreate, EvaluationDetail, EvaluationRead,
                                          QueryResultRead)
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
    """:func:`list_evaluations` as the UTF-8 JSON of an :class:`EvaluationPage`, the
    same bytes as the model's ``model_dump_json()``.

    One statement returns the page and the total; the rows become the body without
    ORM objects or a validation pass (see :func:`_read_body`).
    """
    _check_status(status)
    params = {"system_id": system_id, "dataset_id": dataset_id, "status": status}
    key = (system_id is not None, dataset_id is not None, status is not None)
    # Core statements on the session's connection: the ORM's execute path costs as
    # much again as running them.
    connection = session.connection()
    rows = connection.execute(_page_statement(*key),
                              {**params, "offset": offset, "limit": limit}).all()
    if rows:
        total = rows[0][-1]
    else:  # past the end (or nothing matches): the total needs its own count
        total = connection.scalar(_count_statement(*key), params) if offset else 0
    page = {"items": [_read_body(row) for row in rows], "total": int(total or 0),
            "offset": offset, "limit": limit}
    return orjson.dumps(page, option=_BODY_OPTIONS)


def evaluation_detail_json(session: Session, *, evaluation_id: int) -> bytes:
    """The UTF-8 JSON of evaluation ``evaluation_id``'s :class:`EvaluationDetail`, the
    same bytes as the model's ``model_dump_json()`` (NotFound as
    :func:`get_evaluation`); two queries, no ORM objects."""
    connection = session.connection()
    row = connection.execute(_DETAIL, {"evaluation_id": evaluation_id}).first()
    if row is None:
        raise NotFound(f"no evaluation with id {evaluation_id}",
                       details={"evaluation_id": evaluation_id})
    body = _read_body(row)
    body["failed_query_ids"] = connection.execute(
        _FAILED, {"evaluation_id": evaluation_id, "limit": FAILED_LISTED}).scalars().all()
    return orjson.dumps(body, option=_BODY_OPTIONS)


def _check_status(status: str | None) -> None:
    if status is not None and status not in STATUSES:
        raise Unprocessable(f"status must be one of {', '.join(STATUSES)}, got {status!r}",
                            details={"field": "status"})


def _filters(columns: Any, system_id: int | None, dataset_id: int | None,
             status: str | None) -> list:
    """The conditions on ``columns`` (the model, or its table's columns)."""
    where = []
    if system_id is not None:
        where.append(columns.system_id == system_id)
    if dataset_id is not None:
        where.append(columns.dataset_id == dataset_id)
    if status is not None:
        _check_status(status)
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
_JSON_NAMES = ("measures", "aggregates", "latency")
# The hot reads select table columns (plain rows, no ORM entity machinery), with
# statements built once: building one costs about as much as running it. JSON
# columns come as their text (one orjson call per value instead of three layers of
# result processing, on PostgreSQL too, whose driver would otherwise decode them).
_TABLE = Evaluation.__table__
_QUERIES = EvaluationQuery.__table__
_READ_COLUMNS = tuple(cast(_TABLE.c[name], Text).label(name) if name in _JSON_NAMES
                      else _TABLE.c[name] for name in _READ_NAMES)
_DETAIL = select(*_READ_COLUMNS).where(_TABLE.c.id == bindparam("evaluation_id"))
_FAILED = (select(_QUERIES.c.query_id)
           .where(_QUERIES.c.evaluation_id == bindparam("evaluation_id"),
                  _QUERIES.c.status == "failed")
           .order_by(_QUERIES.c.query_id).limit(bindparam("limit")))
# What pydantic's model_dump_json() writes: datetimes in UTC with a "Z" (naive ones
# are UTC, as UtcDatetime reads them), floats in shortest form, NaN as null.
_BODY_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z


def _page_where(by_system: bool, by_dataset: bool, by_status: bool) -> list:
    where = []
    if by_system:
        where.append(_TABLE.c.system_id == bindparam("system_id"))
    if by_dataset:
        where.append(_TABLE.c.dataset_id == bindparam("dataset_id"))
    if by_status:
        where.append(_TABLE.c.status == bindparam("status"))
    return where


@functools.cache
def _page_statement(by_system: bool, by_dataset: bool, by_status: bool) -> Select:
    """A page of :data:`_READ_COLUMNS`, newest first, and the total as a last column
    (an uncorrelated subquery: both engines count once per statement)."""
    where = _page_where(by_system, by_dataset, by_status)
    total = select(func.count()).select_from(_TABLE).where(*where).scalar_subquery()
    return (select(*_READ_COLUMNS, total.label("total")).where(*where)
            .order_by(_TABLE.c.id.desc())
            .offset(bindparam("offset")).limit(bindparam("limit")))


@functools.cache
def _count_statement(by_system: bool, by_dataset: bool, by_status: bool) -> Select:
    where = _page_where(by_system, by_dataset, by_status)
    return select(func.count()).select_from(_TABLE).where(*where)


def _read_body(row: Sequence[Any]) -> dict[str, Any]:
    """The :class:`EvaluationRead` of a result row of :data:`_READ_COLUMNS` as the
    model would dump it (same keys, order, types and encodings), for orjson with
    :data:`_BODY_OPTIONS`. The columns are typed by the schema (integers, floats,
    strings), so only what the model would coerce is converted here."""
    (id_, system_id, dataset_id, status, measures, top_k, concurrency, timeout_s, retries,
     total, done, aggregates, latency, throughput_qps, errors_count, error, run_path,
     created_at, started_at, finished_at, heartbeat_at) = row[:21]
    total, done = total or 0, done or 0
    return {
        "id": id_, "system_id": system_id, "dataset_id": dataset_id, "status": status,
        "measures": _string_list(measures), "top_k": top_k,
        "concurrency": concurrency, "timeout_s": float(timeout_s), "retries": retries,
        "queries_total": total, "queries_done": done,
        "progress": {"done": done, "total": total, "percent": _percent(done, total)},
        "aggregates": _float_object(aggregates), "latency": _float_object(latency),
        "throughput_qps": None if throughput_qps is None else float(throughput_qps),
        "errors_count": errors_count or 0, "error": error, "run_path": run_path,
        "created_at": _utc(created_at), "started_at": _utc(started_at),
        "finished_at": _utc(finished_at), "heartbeat_at": _utc(heartbeat_at)}


def _percent(done: int, total: int) -> float:
    """``Progress.percent`` as :func:`_completed` computes it; round() is skipped
    where it changes nothing (it costs more than the rest of a row)."""
    if done == total:
        return 100.0 if total else 0.0
    return round(100.0 * done / total, 2) if total else 0.0


# The JSON columns are decoded and encoded once per distinct text: a finished
# evaluation's measures, aggregates and latency never change, and listings show the
# same rows again and again (this halves the cost of a row). A pure function of the
# text, so never stale; bounded (about 1 MB with five measures per evaluation).
@functools.lru_cache(maxsize=2048)
def _float_object(text: str | None) -> orjson.Fragment:
    """A JSON object column's text as the model writes its ``dict[str, float]``
    (integers stored as such become floats, as the model's validation makes them)."""
    values = (text and orjson.loads(text)) or {}
    return orjson.Fragment(orjson.dumps({key: float(value) for key, value in values.items()}))


@functools.lru_cache(maxsize=256)
def _string_list(text: str | None) -> orjson.Fragment:
    """A JSON array column's text as the model writes its ``list[str]``."""
    return orjson.Fragment(orjson.dumps((text and orjson.loads(text)) or []))


def _utc(value: datetime | None) -> datetime | None:
    """As :data:`ragbench.schemas.UtcDatetime`: aware values in UTC. Naive ones (SQLite)
    are UTC already, and so is any zero offset (PostgreSQL's ``Etc/UTC``): orjson
    writes both with a "Z" (``_BODY_OPTIONS``), as the model does after converting."""
    if value is None or value.tzinfo is None or not value.utcoffset():
        return value
    return value.astimezone(UTC)


def _fields(evaluation: Evaluation) -> dict[str, Any]:
    """The :class:`EvaluationRead` fields of an ``Evaluation``."""
    return _completed({name: getattr(evaluation, name) for name in _READ_NAMES})


def _completed(values: dict[str, Any]) -> dict[str, Any]:
    total, done = values["queries_total"] or 0, values["queries_done"] or 0
    values.update(
        measures=list(values["measures"] or []), queries_total=total, queries_done=done,
        progress={"done": done, "total": total, "percent": _percent(done, total)},
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
