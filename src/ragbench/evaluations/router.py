"""``/api/v1/evaluations``: start (runs in the background), list, read, per-query
results, the run as a TREC file, cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Literal
from weakref import WeakKeyDictionary

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Query, Request, Response, status
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


# The two hot reads return their body already validated and encoded by the service
# (one validation instead of three), and do their database work in one worker-thread
# hop instead of one for the session dependency and one for the endpoint. At most
# READ_THREADS of those hops run at once: more threads only contend for the GIL
# (SQLite's driver releases it for every row), and at 50 concurrent requests that
# contention tripled the CPU time of a list request (4.7 ms with one thread, 16 ms
# with forty, measured with bench/bench_api.py's load on 1,000 evaluations).
READ_THREADS = 2
_read_limiters: WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = (
    WeakKeyDictionary())


async def _read(render: Callable[[], bytes]) -> Response:
    """``render()`` in a worker thread (at most READ_THREADS at once), as a JSON response."""
    loop = asyncio.get_running_loop()  # a limiter belongs to one event loop
    limiter = _read_limiters.get(loop)
    if limiter is None:
        limiter = _read_limiters[loop] = CapacityLimiter(READ_THREADS)
    body = await to_thread.run_sync(render, limiter=limiter)
    return Response(body, media_type="application/json")


@router.get("", response_model=EvaluationPage)
async def list_evaluations(request: Request, _: Viewer, system_id: int | None = None,
                           dataset_id: int | None = None,
                           status: EvaluationStatus | None = None,
                           offset: Annotated[int, Query(ge=0)] = 0,
                           limit: Annotated[int, Query(ge=1, le=1000)] = 50):
    """Evaluations, newest first, filtered by system, dataset and status."""
    database = request.app.state.database

    def render() -> bytes:
        with database.session() as session:
            return service.evaluation_page_json(session, system_id=system_id,
                                                dataset_id=dataset_id, status=status,
                                                offset=offset, limit=limit)

    return await _read(render)


@router.get("/{evaluation_id}", response_model=EvaluationDetail)
async def get_evaluation(evaluation_id: int, request: Request, _: Viewer):
    """Status, progress, aggregates, latency, throughput and the failed queries."""
    database = request.app.state.database

    def render() -> bytes:
        with database.session() as session:
            return service.evaluation_detail_json(session, evaluation_id=evaluation_id)

    return await _read(render)


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
