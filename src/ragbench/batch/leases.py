"""Leases on batch tasks: who may run a task, and for how long.

A task is claimed with a compare-and-set ``UPDATE`` (``status = 'pending'`` in
its ``WHERE``), held by ``lease_owner`` until ``lease_expires_at``, renewed by
its worker's heartbeat, and, when that worker died (the lease expired), put
back to ``pending`` by :func:`requeue_expired` for anyone to claim again.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Integer, cast, func, or_, select, true, update
from sqlalchemy.orm import Session, aliased

from ragbench.batch.models import JobTask
from ragbench.database import Database, utcnow

#: Pending tasks :func:`claim_next` considers per call (oldest first).
CLAIM_CANDIDATES = 32
#: First key of PostgreSQL advisory locks that serialise claims per system.
SYSTEM_LOCK_NAMESPACE = 0x72626231


def others_running(system_id: int, task_id: int):
    """SQL: how many other tasks of ``system_id`` are running."""
    other = aliased(JobTask)
    return (select(func.count()).select_from(other)
            .where(other.system_id == system_id, other.status == "running",
                   other.id != task_id).scalar_subquery())


def lock_system(session: Session, system_id: int) -> None:
    """PostgreSQL: take the transaction's advisory lock on claims for
    ``system_id``, so that counting its running tasks and claiming one happen as
    one step; a claim transaction is one ``UPDATE``, so waiting for it is brief.
    SQLite runs writers one at a time anyway."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(
            cast(SYSTEM_LOCK_NAMESPACE, Integer), cast(system_id, Integer))))


def renew_lease(database: Database, task_id: int, worker_id: str, lease_s: float) -> bool:
    """Extend ``worker_id``'s lease on a running task by ``lease_s`` seconds from
    now; False when it no longer holds it (the task was cancelled, or its lease
    expired and another worker took it)."""
    with database.session() as session:
        renewed = session.execute(
            update(JobTask).where(JobTask.id == task_id, JobTask.lease_owner == worker_id,
                                  JobTask.status == "running")
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_s))
            .execution_options(synchronize_session=False))
        return renewed.rowcount == 1


def release(database: Database, task_id: int, worker_id: str) -> None:
    """Hand a running task back (``pending``, no lease) for the next worker."""
    with database.session() as session:
        session.execute(update(JobTask).where(JobTask.id == task_id,
                                              JobTask.lease_owner == worker_id,
                                              JobTask.status == "running")
                        .values(status="pending", lease_owner=None, lease_expires_at=None)
                        .execution_options(synchronize_session=False))


def requeue_expired(database: Database) -> list[int]:
    """Running tasks whose lease expired (their worker died) -> ``pending``, lease
    cleared; their evaluations stay as they are and resume from the queries
    stored. Returns the ids of those tasks (to dispatch them again).

    Of several processes requeueing at once, each task goes to exactly one (the
    ``UPDATE`` re-checks the expiry). On PostgreSQL the rows are first locked in
    id order with ``SKIP LOCKED``: a task another transaction is changing (a
    cancel, say) is left for the next round instead of waited for."""
    with database.session() as session:
        expired = (JobTask.status == "running",
                   or_(JobTask.lease_expires_at.is_(None), JobTask.lease_expires_at < utcnow()))
        ids = list(session.scalars(select(JobTask.id).where(*expired).order_by(JobTask.id)
                                   .with_for_update(skip_locked=True)))
        if not ids:
            return []
        return sorted(session.scalars(
            update(JobTask).where(JobTask.id.in_(ids), *expired)
            .values(status="pending", lease_owner=None, lease_expires_at=None)
            .returning(JobTask.id)
            .execution_options(synchronize_session=False)))


def claim_next(database: Database, *, worker_id: str, lease_s: float,
               max_running_per_system: int = 1) -> int | None:
    """Claim the oldest pending task whose system has fewer than
    ``max_running_per_system`` tasks running, leasing it to ``worker_id`` for
    ``lease_s`` seconds; its id, or None when nothing can start now.

    Each attempt is one conditional ``UPDATE … WHERE id = ? AND status = 'pending'
    AND (running tasks of its system) < max``, so two workers never claim one task
    and a system never gets one task too many: SQLite runs writers one at a time;
    on PostgreSQL a transaction-level advisory lock per system serialises the
    claims of one system (under READ COMMITTED, two concurrent updates would
    each count the other one's claim as not yet there)."""
    with database.session() as session:
        busy = {system_id for system_id, n in session.execute(
            select(JobTask.system_id, func.count()).where(JobTask.status == "running")
            .group_by(JobTask.system_id)) if n >= max_running_per_system}
        candidates = session.execute(
            select(JobTask.id, JobTask.system_id)
            .where(JobTask.status == "pending",
                   JobTask.system_id.not_in(busy) if busy else true())
            .order_by(JobTask.id).limit(CLAIM_CANDIDATES)).all()
    full: set[int] = set()  # systems found at their limit
    for task_id, system_id in candidates:
        if system_id in full:
            continue
        with database.session() as session:
            lock_system(session, system_id)
            now = utcnow()
            claimed = session.execute(
                update(JobTask)
                .where(JobTask.id == task_id, JobTask.status == "pending",
                       others_running(system_id, task_id) < max_running_per_system)
                .values(status="running", lease_owner=worker_id,
                        lease_expires_at=now + timedelta(seconds=lease_s),
                        attempts=JobTask.attempts + 1,
                        started_at=func.coalesce(JobTask.started_at, now))
                .execution_options(synchronize_session=False))
            if claimed.rowcount == 1:
                return task_id
            # Still pending: its system is full. Else another worker took this one
            # and the system's next task may still fit.
            if session.scalar(select(JobTask.status).where(JobTask.id == task_id)) == "pending":
                full.add(system_id)
    return None
