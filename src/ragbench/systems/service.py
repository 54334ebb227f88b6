"""Registering, changing, archiving and health-checking systems under test.

Functions are keyword-only with the session first. Those that call the system
(:func:`register_system`, :func:`update_system`, :func:`validate_system`,
:func:`check_health`) are blocking: they run their calls on an event loop of their
own, so call them from a worker thread or a script, never from a running loop (async
code uses :func:`ragbench.systems.validation.validate_spec` and :func:`probe_health`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ragbench.database import utcnow
from ragbench.errors import Conflict, NotFound, Unprocessable
from ragbench.systems import secrets
from ragbench.systems.adapters import GenericJsonConfig
from ragbench.systems.client import SystemSpec, connect_spec, spec_of
from ragbench.systems.models import HealthCheck, System
from ragbench.systems.schemas import (SystemCreate, SystemRead, SystemSpecIn, SystemUpdate,
                                      SystemValidate)
from ragbench.systems.transport import HealthResult
from ragbench.systems.validation import ValidationReport, validate_spec

T = TypeVar("T")

STATUSES = ("active", "archived")
#: Changing one of these validates the system again before saving.
REVALIDATED = ("base_url", "adapter", "adapter_config", "api_key")
MAX_TAG_LENGTH = 64


# -- reading ---------------------------------------------------------------------------

def get_system(session: Session, *, system_id: int) -> System:
    """The system (archived included); NotFound if there is none."""
    system = session.get(System, system_id)
    if system is None:
        raise NotFound(f"no system with id {system_id}", details={"system_id": system_id})
    return system


def get_active_system(session: Session, *, system_id: int) -> System:
    """The system if it may be evaluated; Conflict when it is archived."""
    system = get_system(session, system_id=system_id)
    if system.status != "active":
        raise Conflict(f"system {system.name!r} is archived and cannot be evaluated",
                       details={"system_id": system_id, "status": system.status})
    return system


def list_systems(session: Session, *, status: str | None = None, tag: str | None = None,
                 include_archived: bool = False) -> list[System]:
    """Systems by id; archived ones only with ``include_archived`` or ``status``."""
    query = select(System).order_by(System.id)
    if status is not None:
        if status not in STATUSES:
            raise Unprocessable(f"status must be one of {', '.join(STATUSES)}, got {status!r}",
                                details={"field": "status"})
        query = query.where(System.status == status)
    elif not include_archived:
        query = query.where(System.status == "active")
    systems = list(session.scalars(query))
    # Tags are a JSON list; filtering here keeps SQLite and PostgreSQL alike.
    return [s for s in systems if tag in (s.tags or [])] if tag is not None else systems


def to_read(system: System, *, settings) -> SystemRead:
    """The response body of ``system``: its API key masked, never in plaintext."""
    masked = None
    if system.api_key_encrypted:
        try:
            masked = secrets.mask(secrets.decrypt(system.api_key_encrypted, settings=settings))
        except secrets.SecretUnreadable:
            masked = "****"
    return SystemRead.model_validate({
        **{column: getattr(system, column) for column in SystemRead.model_fields
           if hasattr(System, column)},
        "has_api_key": system.api_key_encrypted is not None, "api_key_masked": masked,
        "validation": system.validation or {}, "probe": system.probe or {},
        "tags": system.tags or [], "adapter_config": system.adapter_config or {}})


# -- validation and registration -------------------------------------------------------

def validate_system(*, data: SystemValidate, settings) -> ValidationReport:
    """Run the checks on an unsaved system; the report says what failed."""
    return _wait(validate_spec(_spec(data, settings=settings), settings=settings))


def register_system(session: Session, *, data: SystemCreate, settings) -> System:
    """Validate, then save. Conflict if the name is taken (archived systems keep theirs);
    Unprocessable with ``details.checks`` if a check fails."""
    name = _name(data.name)
    _ensure_name_free(session, name=name)
    spec = _spec(data, settings=settings)
    report = _refuse_unless_valid(spec, name=name, settings=settings)
    system = System(name=name, base_url=spec.base_url, adapter=spec.adapter,
                    adapter_config=spec.adapter_config,
                    api_key_encrypted=_encrypt(spec.api_key, settings=settings),
                    timeout_s=spec.timeout_s, max_concurrency=spec.max_concurrency,
                    description=data.description, tags=_tags(data.tags))
    _apply_report(system, report)
    session.add(system)
    _flush(session, name=name)
    return system


def update_system(session: Session, *, system_id: int, data: SystemUpdate,
                  settings) -> System:
    """Change the fields given; changes to how the system is reached are validated
    first and nothing is saved unless every check passes."""
    system = get_system(session, system_id=system_id)
    if system.status != "active":
        raise Conflict(f"system {system.name!r} is archived; archived systems do not change",
                       details={"system_id": system_id})
    given = data.model_fields_set
    for field in given - {"api_key"}:
        if getattr(data, field) is None:
            raise Unprocessable(f"{field} cannot be null", details={"field": field})
    if "name" in given and _name(data.name) != system.name:
        _ensure_name_free(session, name=_name(data.name))

    if given & set(REVALIDATED):
        adapter = data.adapter if "adapter" in given else system.adapter
        config = (data.adapter_config if "adapter_config" in given
                  else {} if adapter != system.adapter else system.adapter_config)
        merged = SystemSpecIn(
            base_url=data.base_url if "base_url" in given else system.base_url,
            adapter=adapter, adapter_config=config or {},
            api_key=(data.api_key if "api_key" in given
                     else spec_of(system, settings=settings).api_key),
            timeout_s=data.timeout_s if "timeout_s" in given else system.timeout_s,
            max_concurrency=(data.max_concurrency if "max_concurrency" in given
                             else system.max_concurrency))
        spec = _spec(merged, settings=settings)
        report = _refuse_unless_valid(spec, name=system.name, settings=settings)
        system.base_url, system.adapter = spec.base_url, spec.adapter
        system.adapter_config = spec.adapter_config
        if "api_key" in given:
            system.api_key_encrypted = _encrypt(spec.api_key, settings=settings)
        _apply_report(system, report)

    if "name" in given:
        system.name = _name(data.name)
    for field in ("timeout_s", "max_concurrency", "description"):
        if field in given:
            setattr(system, field, getattr(data, field))
    if "tags" in given:
        system.tags = _tags(data.tags)
    system.updated_at = utcnow()
    _flush(session, name=system.name)
    return system


def archive_system(session: Session, *, system_id: int) -> System:
    """Archive: hidden from the list, never evaluated again; its history stays.
    Archiving an archived system changes nothing."""
    system = get_system(session, system_id=system_id)
    if system.status != "archived":
        system.status = "archived"
        system.archived_at = utcnow()
        system.updated_at = system.archived_at
    return system


# -- health ----------------------------------------------------------------------------

async def probe_health(spec: SystemSpec, *, settings) -> HealthResult:
    """Check the system described by ``spec`` now (async; never raises for the system)."""
    async with connect_spec(spec, settings=settings) as client:
        return await client.health()


def check_health(session: Session, *, system_id: int, settings,
                 trigger: str = "manual") -> HealthCheck:
    """Check the system now and store the result as a :class:`HealthCheck`."""
    system = get_system(session, system_id=system_id)
    try:
        result = _wait(probe_health(spec_of(system, settings=settings), settings=settings))
    except secrets.SecretUnreadable as exc:
        result = HealthResult(False, None, 0.0, exc.message)
    return record_health(session, system=system, result=result, trigger=trigger)


def record_health(session: Session, *, system: System, result: HealthResult,
                  trigger: str) -> HealthCheck:
    """Store ``result`` and note it on the system as its last health."""
    row = HealthCheck(system_id=system.id, ok=result.ok, status_code=result.status_code,
                      latency_ms=result.latency_ms, error=result.error, trigger=trigger,
                      checked_at=utcnow())
    session.add(row)
    system.last_health_ok, system.last_health_at = result.ok, row.checked_at
    session.flush()
    return row


def health_history(session: Session, *, system_id: int, limit: int = 50) -> list[HealthCheck]:
    """The ``limit`` newest health checks of the system, newest first."""
    get_system(session, system_id=system_id)
    query = (select(HealthCheck).where(HealthCheck.system_id == system_id)
             .order_by(HealthCheck.checked_at.desc(), HealthCheck.id.desc()).limit(limit))
    return list(session.scalars(query))


def active_system_ids(session: Session) -> list[int]:
    return list(session.scalars(select(System.id).where(System.status == "active")
                                .order_by(System.id)))


# -- internals -------------------------------------------------------------------------

def _wait(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise Unprocessable("name must not be blank", details={"field": "name"})
    return name


def _ensure_name_free(session: Session, *, name: str) -> None:
    taken = session.scalar(select(System).where(System.name == name))
    if taken is not None:
        raise Conflict(f"a system named {name!r} exists (id {taken.id}, {taken.status}); "
                       "names stay taken after archiving", details={
                           "field": "name", "system_id": taken.id, "status": taken.status})


def _spec(data: SystemSpecIn, *, settings) -> SystemSpec:
    base_url = data.base_url.strip().rstrip("/")
    if not base_url:
        raise Unprocessable("base_url must not be blank", details={"field": "base_url"})
    config: dict[str, Any] = dict(data.adapter_config or {})
    if data.adapter == "generic-json":
        try:
            config = GenericJsonConfig.model_validate(config).model_dump(exclude_defaults=True)
        except ValidationError as exc:
            errors = [{"field": ".".join(["adapter_config", *map(str, e["loc"])]),
                       "message": e["msg"]} for e in exc.errors()]
            raise Unprocessable(f"{errors[0]['field']}: {errors[0]['message']}",
                                details={"field": errors[0]["field"], "errors": errors}
                                ) from None
    elif config:
        raise Unprocessable("adapter_config applies to the generic-json adapter only",
                            details={"field": "adapter_config"})
    api_key = data.api_key.get_secret_value() if data.api_key is not None else None
    return SystemSpec(base_url=base_url, adapter=data.adapter, adapter_config=config,
                      api_key=api_key or None,
                      timeout_s=data.timeout_s or settings.system_timeout_s,
                      max_concurrency=data.max_concurrency)


def _refuse_unless_valid(spec: SystemSpec, *, name: str, settings) -> ValidationReport:
    report = _wait(validate_spec(spec, settings=settings))
    if not report.ok:
        raise Unprocessable(f"system {name!r} failed validation: {report.summary()}",
                            details=report.to_dict())
    return report


def _apply_report(system: System, report: ValidationReport) -> None:
    system.validation = report.to_dict()
    system.probe = dict(report.probe)
    system.supports_embed = report.supports_embed
    # The connectivity check was a health check.
    system.last_health_ok, system.last_health_at = True, utcnow()


def _encrypt(api_key: str | None, *, settings) -> str | None:
    return secrets.encrypt(api_key, settings=settings) if api_key else None


def _tags(tags: list[str]) -> list[str]:
    out: list[str] = []
    for i, tag in enumerate(tags):
        tag = tag.strip()
        if not tag or len(tag) > MAX_TAG_LENGTH:
            raise Unprocessable(f"tags[{i}] must be 1 to {MAX_TAG_LENGTH} characters",
                                details={"field": f"tags[{i}]"})
        if tag not in out:
            out.append(tag)
    return out


def _flush(session: Session, *, name: str) -> None:
    try:
        session.flush()
    except IntegrityError:
        # Two registrations raced past the name check.
        session.rollback()
        raise Conflict(f"a system named {name!r} exists", details={"field": "name"}) from None
