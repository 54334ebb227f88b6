"""FastAPI dependencies as ``Annotated`` aliases: routers declare what they need.

``SessionDep`` is a session that commits when the request succeeds. ``Viewer``,
``Editor`` and ``Admin`` resolve the caller's :class:`Principal` and refuse
(401/403) a missing key or a role too low; with auth off the caller is admin.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from ragbench.auth import service as auth_service
from ragbench.auth.service import Principal
from ragbench.config import Settings
from ragbench.database import Database


# Plain lookups are ``async def``: FastAPI runs a sync dependency in a worker thread,
# a hop that costs more than the lookup on every request.
async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_database_dep(request: Request) -> Database:
    return request.app.state.database


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.database.session() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_database_dep)]
SessionDep = Annotated[Session, Depends(get_session)]


def _key_from(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def _authenticate(request: Request, role: str) -> Principal:
    with request.app.state.database.session() as session:
        principal = auth_service.authenticate(session, key=_key_from(request))
    principal.require(role)
    return principal


def _principal(role: str):
    async def resolve(request: Request) -> Principal:
        if not request.app.state.settings.auth_enabled:
            return auth_service.ANONYMOUS_ADMIN
        return await run_in_threadpool(_authenticate, request, role)
    return resolve


Viewer = Annotated[Principal, Depends(_principal("viewer"))]
Editor = Annotated[Principal, Depends(_principal("editor"))]
Admin = Annotated[Principal, Depends(_principal("admin"))]
