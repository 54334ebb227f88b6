"""``/api/v1/systems``: register (validated first), list, read, change, archive,
validate without registering, and health checks with their history.

Routes are plain functions: FastAPI runs them in worker threads, where the service
may block on its calls to the system without holding up the event loop.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from ragbench.dependencies import Editor, SessionDep, SettingsDep, Viewer
from ragbench.systems import service
from ragbench.systems.schemas import (HealthCheckRead, SystemCreate, SystemRead, SystemUpdate,
                                      SystemValidate, ValidationReportRead)

router = APIRouter(prefix="/api/v1/systems", tags=["systems"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SystemRead)
def register_system(body: SystemCreate, session: SessionDep, settings: SettingsDep,
                    _: Editor):
    """Validate the system (url, connectivity, endpoints, format, performance) and
    register it; 422 with ``details.checks`` when a check fails, 409 when the name is taken."""
    system = service.register_system(session, data=body, settings=settings)
    return service.to_read(system, settings=settings)


@router.post("/validate", response_model=ValidationReportRead)
def validate_system(body: SystemValidate, settings: SettingsDep, _: Editor):
    """Run the registration checks without registering; 200 with ``ok: false`` when
    a check fails."""
    return service.validate_system(data=body, settings=settings).to_dict()


@router.get("", response_model=list[SystemRead])
def list_systems(session: SessionDep, settings: SettingsDep, _: Viewer,
                 status: Literal["active", "archived"] | None = None,
                 tag: str | None = None, include_archived: bool = False):
    systems = service.list_systems(session, status=status, tag=tag,
                                   include_archived=include_archived)
    return [service.to_read(system, settings=settings) for system in systems]


@router.get("/{system_id}", response_model=SystemRead)
def get_system(system_id: int, session: SessionDep, settings: SettingsDep, _: Viewer):
    return service.to_read(service.get_system(session, system_id=system_id),
                           settings=settings)


@router.patch("/{system_id}", response_model=SystemRead)
def update_system(system_id: int, body: SystemUpdate, session: SessionDep,
                  settings: SettingsDep, _: Editor):
    """Change fields; a new base_url, adapter, adapter_config or api_key is validated
    before anything is saved."""
    system = service.update_system(session, system_id=system_id, data=body, settings=settings)
    return service.to_read(system, settings=settings)


@router.delete("/{system_id}", response_model=SystemRead)
def archive_system(system_id: int, session: SessionDep, settings: SettingsDep, _: Editor):
    """Archive the system: hidden from the list, not evaluated again; history stays."""
    return service.to_read(service.archive_system(session, system_id=system_id),
                           settings=settings)


@router.get("/{system_id}/health", response_model=HealthCheckRead)
def check_health(system_id: int, session: SessionDep, settings: SettingsDep, _: Viewer):
    """Check the system now; the result is stored in its health history."""
    return service.check_health(session, system_id=system_id, settings=settings)


@router.get("/{system_id}/health/history", response_model=list[HealthCheckRead])
def health_history(system_id: int, session: SessionDep, _: Viewer,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 50):
    """Stored health checks, newest first."""
    return service.health_history(session, system_id=system_id, limit=limit)
