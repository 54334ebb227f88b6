"""``/api/v1/schedules``: cron-timed batch jobs — create, list, read (next run times
and past jobs), change, pause, resume, delete (archive)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from ragbench.dependencies import Editor, SessionDep, Viewer
from ragbench.schedules import service
from ragbench.schedules.schemas import (ScheduleCreate, ScheduleDetail, ScheduleRead,
                                       ScheduleUpdate)

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ScheduleDetail)
def create_schedule(body: ScheduleCreate, session: SessionDep, _: Editor):
    """Create an active schedule; 422 naming ``cron`` / ``timezone`` / a template
    field, 404 or 409 naming ``job_template.system_ids[i]`` (missing / archived) or
    ``job_template.dataset_ids[i]``, 409 when the name is taken."""
    schedule = service.create_schedule(session, data=body)
    return service.to_detail(session, schedule)


@router.get("", response_model=list[ScheduleRead])
def list_schedules(session: SessionDep, _: Viewer,
                   status: Literal["active", "paused", "archived"] | None = None):
    """Schedules by name; deleted (archived) ones only with ``status=archived``."""
    return [service.to_read(s) for s in service.list_schedules(session, status=status)]


@router.get("/{schedule_id}", response_model=ScheduleDetail)
def get_schedule(schedule_id: int, session: SessionDep, _: Viewer,
                 jobs_limit: Annotated[int, Query(ge=0, le=1000)] = service.JOBS_LISTED):
    """The schedule, its next 5 run times (UTC and local) and its jobs, newest first."""
    return service.to_detail(session, service.get_schedule(session, schedule_id=schedule_id),
                             jobs_limit=jobs_limit)


@router.patch("/{schedule_id}", response_model=ScheduleDetail)
def update_schedule(schedule_id: int, body: ScheduleUpdate, session: SessionDep, _: Editor):
    """Change name, cron, time zone, job template or misfire policy; a new cron or
    time zone recomputes the next run from now."""
    schedule = service.update_schedule(session, schedule_id=schedule_id, data=body)
    return service.to_detail(session, schedule)


@router.post("/{schedule_id}/pause", response_model=ScheduleDetail)
def pause_schedule(schedule_id: int, session: SessionDep, _: Editor):
    """Stop firing until resumed."""
    return service.to_detail(session, service.pause_schedule(session, schedule_id=schedule_id))


@router.post("/{schedule_id}/resume", response_model=ScheduleDetail)
def resume_schedule(schedule_id: int, session: SessionDep, _: Editor):
    """Fire again from the next due time after now; times passed while paused are
    not made up for."""
    return service.to_detail(session, service.resume_schedule(session, schedule_id=schedule_id))


@router.delete("/{schedule_id}", response_model=ScheduleDetail)
def delete_schedule(schedule_id: int, session: SessionDep, _: Editor):
    """Archive: never fires again, hidden from the list; still readable with its
    jobs (they keep their schedule id); the name stays taken."""
    return service.to_detail(session, service.archive_schedule(session,
                                                               schedule_id=schedule_id))
