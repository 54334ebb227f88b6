"""``/api/v1/evaluations``: start (runs in the background), list, read, per-query
results, the run as a TREC file, cancel."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import PlainTextResponse

from ragbench.dependencies import Editor, SessionDep, SettingsDep, Viewer
from ragbench.evaluations import service
from ragbench.evaluations.schemas import (EvaluationCreate, EvaluationDetail, EvaluationPage,
                                          EvaluationStatus, QueryResultPage)

router = APIRouter(prefix="/api/v1/evaluations", tags=["evaluations"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=EvaluationDetail)
def start_evaluation(body: EvaluationCreate, request: Request, session: SessionDep,
                     _: Editor):
    """Queue an evaluation; it runs in the background (poll ``GET /{id}``). 404 for a
    missing system or dataset, 409 for an archived system, 422 for an unknown measure."""
    evaluation = service.create_evaluation(session, data=body)
    session.commit()  # the executor reads it from its own session
    request.app.state.executor.submit(evaluation.id)
    return service.to_detail(session, evaluation)


@router.get("", response_model=EvaluationPage)
def list_evaluations(session: SessionDep, _: Viewer, system_id: int | None = None,
                     dataset_id: int | None = None, status: EvaluationStatus | None = None,
                     offset: Annotated[int, Query(ge=0)] = 0,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 50):
    """Evaluations, newest first, filtered by system, dataset and status."""
    items, total = service.list_evaluations(session, system_id=system_id,
                                            dataset_id=dataset_id, status=status,
                                            offset=offset, limit=limit)
    return EvaluationPage(items=[service.to_read(e) for e in items], total=total,
                          offset=offset, limit=limit)


@router.get("/{evaluation_id}", response_model=EvaluationDetail)
def get_evaluation(evaluation_id: int, session: SessionDep, _: Viewer):
    """Status, progress, aggregates, latency, throughput and the failed queries."""
    return service.to_detail(session, service.get_evaluation(session,
                                                             evaluation_id=evaluation_id))


@router.get("/{evaluation_id}/queries", response_model=QueryResultPage)
def list_query_results(evaluation_id: int, session: SessionDep, _: Viewer,
                       status: Literal["ok", "failed"] | None = None,
                       sort: str = "query_id", order: Literal["asc", "desc"] = "asc",
                       offset: Annotated[int, Query(ge=0)] = 0,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100):
    """Per-query values; ``sort`` by a measure of the evaluation, ``query_id``,
    ``latency_ms`` or ``attempts``."""
    items, total = service.list_query_results(session, evaluation_id=evaluation_id,
                                              offset=offset, limit=limit, status=status,
                                              sort=sort, order=order)
    return QueryResultPage(items=items, total=total, offset=offset, limit=limit)


@router.get("/{evaluation_id}/run", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {}},
                             "description": "qid Q0 doc rank score ragbench-<system>"}})
def download_run(evaluation_id: int, session: SessionDep, settings: SettingsDep, _: Viewer):
    """The ranking as a TREC run file; 409 until the evaluation is completed."""
    text = service.run_file(session, evaluation_id=evaluation_id, settings=settings)
    return PlainTextResponse(text, headers={
        "Content-Disposition": f'attachment; filename="evaluation-{evaluation_id}.run"'})


@router.post("/{evaluation_id}/cancel", response_model=EvaluationDetail)
def cancel_evaluation(evaluation_id: int, request: Request, session: SessionDep, _: Editor):
    """Stop a pending or running evaluation; the query results stored so far stay."""
    evaluation = service.cancel_evaluation(session, evaluation_id=evaluation_id)
    session.commit()
    request.app.state.executor.cancel(evaluation_id)
    return service.to_detail(session, evaluation)
