"""``/api/v1/evaluations``: start (runs in the background), list, read, per-query
results, the run as a TREC file, cancel."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Annotated, Literal
from weakref import WeakKeyDictionary

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session

from ragbench.database import Database
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


# The two hot reads get their body already encoded by the service (the bytes the
# response model would write, without building it) and render it on the event loop
# on SQLite, in one worker-thread hop on other engines.
# A SQLite read costs a fraction of a millisecond of CPU with nothing to wait for,
# and a thread costs more than it saves: the driver releases the GIL for every row,
# and each release bounces the GIL between the worker and the busy loop. Under
# bench/bench_api.py's load (50 clients, 1,000 evaluations) a 50-row page took
# 1.61 ms of server CPU through a thread and 1.20 ms on the loop. The price: while
# the loop is saturated, uvloop accepts new connections slowly (the first answers
# to a burst of 50 new connections took up to about 2 s, against 0.3 s through a
# thread); open keep-alive connections are unaffected. Pages over INLINE_ROWS rows
# go to a thread, so that no request holds the loop for long.
# PostgreSQL reads wait on the network and stay off the loop. At most READ_THREADS
# renders run in threads at once: more only contend for the GIL (forty threads
# tripled the CPU time of a list request).
READ_THREADS = 2
INLINE_ROWS = 100
_read_limiters: WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = (
    WeakKeyDictionary())


async def _read(database: Database, render: Callable[[Session], bytes], *,
                rows: int) -> Response:
    """``render(session)`` in a new session, as a JSON response: on the loop on SQLite
    for at most INLINE_ROWS ``rows``, else in a worker thread (READ_THREADS at once)."""
    def run() -> bytes:
        with database.session() as session:
            return render(session)

    if rows <= INLINE_ROWS and database.engine.dialect.name == "sqlite":
        body = run()
    else:
        loop = asyncio.get_running_loop()  # a limiter belongs to one event loop
        limiter = _read_limiters.get(loop)
        if limiter is None:
            limiter = _read_limiters[loop] = CapacityLimiter(READ_THREADS)
        body = await to_thread.run_sync(run, limiter=limiter)
    return Response(body, media_type="application/json")


@router.get("", response_model=EvaluationPage)
async def list_evaluations(request: Request, _: Viewer, system_id: int | None = None,
                           dataset_id: int | None = None,
                           status: EvaluationStatus | None = None,
                           offset: Annotated[int, Query(ge=0)] = 0,
                           limit: Annotated[int, Query(ge=1, le=1000)] = 50):
    """Evaluations, newest first, filtered by system, dataset and status."""
    return await _read(request.app.state.database, functools.partial(
        service.evaluation_page_json, system_id=system_id, dataset_id=dataset_id,
        status=status, offset=offset, limit=limit), rows=limit)


@router.get("/{evaluation_id}", response_model=EvaluationDetail)
async def get_evaluation(evaluation_id: int, request: Request, _: Viewer):
    """Status, progress, aggregates, latency, throughput and the failed queries."""
    return await _read(request.app.state.database, functools.partial(
        service.evaluation_detail_json, evaluation_id=evaluation_id), rows=1)


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
