"""``/api/v1/batch``: batch jobs (systems × datasets) — create, list, read,
progress (also as a server-sent-events stream), cancel, retry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from sse_starlette.sse import EventSourceResponse

from ragbench.batch import service
from ragbench.batch.schemas import JobCreate, JobPage, JobProgress, JobRead, JobStatus
from ragbench.database import Database
from ragbench.dependencies import DatabaseDep, Editor, SessionDep, Viewer

router = APIRouter(prefix="/api/v1/batch", tags=["batch"])

#: Seconds between looks at the database while streaming a job's progress.
EVENTS_POLL_S = 0.5


@router.post("/jobs", status_code=status.HTTP_201_CREATED, response_model=JobRead)
def create_job(body: JobCreate, request: Request, session: SessionDep, _: Editor):
    """Create a job with one task per (system, dataset) and start it. 404 for a
    missing system or dataset, 409 for an archived system, 422 for an unknown
    measure or a rate limit too low for the request timeout."""
    job = service.create_job(session, data=body)
    task_ids = [task.id for task in service.job_tasks(session, job_id=job.id)]
    session.commit()  # workers read the tasks from their own sessions
    request.app.state.batch_engine.dispatch(task_ids)
    return service.to_read(session, job)


@router.get("/jobs", response_model=JobPage)
def list_jobs(session: SessionDep, _: Viewer, status: JobStatus | None = None,
              schedule_id: int | None = None,
              offset: Annotated[int, Query(ge=0)] = 0,
              limit: Annotated[int, Query(ge=1, le=1000)] = 50):
    """Jobs, newest first, filtered by status (and by the schedule that made them)."""
    items, total = service.list_jobs(session, status=status, schedule_id=schedule_id,
                                     offset=offset, limit=limit)
    return JobPage(items=[service.to_read(session, job) for job in items], total=total,
                   offset=offset, limit=limit)


@router.get("/jobs/{job_id}", response_model=JobRead)
def get_job(job_id: int, session: SessionDep, _: Viewer):
    """Status, timestamps, error, evaluation ids and task counts."""
    return service.to_read(session, service.get_job(session, job_id=job_id))


@router.get("/jobs/{job_id}/progress", response_model=JobProgress)
def job_progress(job_id: int, session: SessionDep, _: Viewer):
    """Per task: status, queries done / total, ETA; for the job: percent done."""
    return service.job_progress(session, job_id=job_id)


@router.post("/jobs/{job_id}/cancel", response_model=JobRead)
def cancel_job(job_id: int, session: SessionDep, _: Editor):
    """Cancel the job and its unfinished tasks; running evaluations stop within
    about a second. Finished tasks keep their results. 409 once the job finished."""
    job = service.cancel_job(session, job_id=job_id)
    return service.to_read(session, job)


@router.post("/jobs/{job_id}/retry", response_model=JobRead)
def retry_job(job_id: int, request: Request, session: SessionDep, _: Editor):
    """Run the failed tasks again (only those). 409 when the job is cancelled or
    has no failed task."""
    job, task_ids = service.retry_job(session, job_id=job_id)
    session.commit()
    request.app.state.batch_engine.dispatch(task_ids)
    return service.to_read(session, job)


@router.get("/jobs/{job_id}/events", response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`progress` events (JobProgress JSON) as "
                                            "the job advances, then one `end` event"}})
async def job_events(job_id: int, request: Request, database: DatabaseDep, _: Viewer):
    """Server-sent events: a ``progress`` event (the JobProgress JSON) whenever
    the progress changes, looked at every half second, and a final ``end`` event
    (``{"job_id", "status"}``) once the job is finished."""
    await run_in_threadpool(_progress, database, job_id)  # 404 before the stream starts
    return EventSourceResponse(_events(request, database, job_id))


def _progress(database: Database, job_id: int) -> JobProgress:
    with database.session() as session:
        return service.job_progress(session, job_id=job_id)


async def _events(request: Request, database: Database, job_id: int) -> AsyncIterator[dict]:
    last = None
    while True:
        progress = await run_in_threadpool(_progress, database, job_id)
        # The ETA and the read time move on their own: only real changes are sent.
        fingerprint = progress.model_dump(mode="json", exclude={
            "at": True, "eta_s": True, "items": {"__all__": {"eta_s"}}})
        if fingerprint != last:
            last = fingerprint
            yield {"event": "progress", "data": progress.model_dump_json()}
        if progress.status in service.FINISHED:
            yield {"event": "end",
                   "data": json.dumps({"job_id": job_id, "status": progress.status})}
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(EVENTS_POLL_S)
