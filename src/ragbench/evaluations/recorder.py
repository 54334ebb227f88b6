"""Storing query outcomes in batches while an evaluation runs.

One commit per query would cap an evaluation at a few hundred queries per
second on SQLite; the :class:`OutcomeRecorder` collects outcomes from the event
loop and writes them in one transaction every ``batch_size`` outcomes or every
``interval_s`` seconds, whichever comes first, in a worker thread so that the
loop keeps querying meanwhile. Each write also updates the evaluation's progress
(``queries_done``, ``errors_count``) and heartbeat, and reads its status back:
a ``cancelled`` status stops the querying.

Rows are inserted with ``ON CONFLICT DO NOTHING`` on (evaluation_id, query_id):
if two runners ever work on the same evaluation, the first stored outcome of a
query stays and no query gets two rows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from ragbench.database import Database, utcnow
from ragbench.evaluations.models import Evaluation, EvaluationQuery
from ragbench.evaluations.runner import QueryOutcome

logger = logging.getLogger(__name__)

#: Seconds between heartbeats while no outcome arrives (a slow system).
IDLE_HEARTBEAT_S = 2.0


def _insert_statement(session: Session):
    # On the table, not the model: a Core insert skips the ORM's bulk layer, which
    # cost more than the insert itself.
    table = EvaluationQuery.__table__
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        return insert(table)
    return dialect_insert(table).on_conflict_do_nothing(
        index_elements=["evaluation_id", "query_id"])


def outcome_row(evaluation_id: int, outcome: QueryOutcome) -> dict:
    return {"evaluation_id": evaluation_id, "query_id": outcome.query_id,
            "status": outcome.status, "latency_ms": outcome.latency_ms,
            "attempts": outcome.attempts, "error": outcome.error,
            "ranking": outcome.hits,  # stored as JSON: [[doc_id, score], ...]
            "metrics": {}}


def store_outcomes(database: Database, evaluation_id: int,
                   outcomes: Sequence[QueryOutcome]) -> tuple[str | None, set[str]]:
    """Insert ``outcomes`` (skipping queries already stored), add what was inserted
    to the evaluation's progress and refresh its heartbeat, in one transaction.

    Returns the evaluation's status (None if it is gone) and the ids of the
    queries this call stored (an outcome of a query stored before is dropped)."""
    inserted: set[str] = set()
    failed = 0
    with database.session() as session:
        if outcomes:
            # RETURNING lists only the rows inserted, so the counts stay exact when
            # another runner stored some of these queries first; counting them
            # instead would rescan the evaluation's rows at every flush.
            result = session.execute(
                _insert_statement(session).returning(EvaluationQuery.__table__.c.query_id,
                                                     EvaluationQuery.__table__.c.status),
                [outcome_row(evaluation_id, o) for o in outcomes])
            for query_id, status in result:
                inserted.add(query_id)
                failed += status == "failed"
        status = session.scalar(
            update(Evaluation).where(Evaluation.id == evaluation_id)
            .values(queries_done=Evaluation.queries_done + len(inserted),
                    errors_count=Evaluation.errors_count + failed, heartbeat_at=utcnow())
            .returning(Evaluation.status))
        return status, inserted


class OutcomeRecorder:
    """Buffers outcomes and stores them in batches (see the module doc).

    Use as ``async with OutcomeRecorder(...) as recorder:`` around the querying,
    passing :meth:`add` as the runner's ``on_outcome``; leaving the block stores
    what is left. ``on_cancelled`` is called (once) when the stored status turns
    out to be ``cancelled``. ``on_stored`` is called, in the writing thread, with the
    outcomes of each batch that this recorder stored (not those another runner had
    stored first)."""

    def __init__(self, database: Database, evaluation_id: int, *, batch_size: int = 50,
                 interval_s: float = 0.5, on_cancelled: Callable[[], None] | None = None,
                 on_stored: Callable[[list[QueryOutcome]], None] | None = None):
        self.database = database
        self.evaluation_id = evaluation_id
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.on_cancelled = on_cancelled
        self.on_stored = on_stored
        self.cancelled = False
        self.stored = 0
        self._buffer: list[QueryOutcome] = []
        self._full = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._loop_ref: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._last_write = time.monotonic()

    def add(self, outcome: QueryOutcome) -> None:
        self._buffer.append(outcome)
        if len(self._buffer) >= self.batch_size:
            self._full.set()

    async def __aenter__(self) -> OutcomeRecorder:
        self._loop_ref = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        self._closing = True
        self._full.set()
        if exc_type is None:
            await self._task  # lets a write in progress finish first
            await self.flush()
            return
        # Cancelled or failed: keep what was answered (a resumed run skips it),
        # written from this thread because the loop may be shutting down.
        self._task.cancel()
        try:
            self._write(self._take())
        except Exception:  # noqa: BLE001 - the exception in flight is the one to report
            logger.exception("storing the last outcomes of evaluation %s failed",
                             self.evaluation_id)

    async def _run(self) -> None:
        while not self._closing:
            try:
                await asyncio.wait_for(self._full.wait(), self.interval_s)
            except TimeoutError:
                pass
            if self._closing:
                return
            if self._buffer or time.monotonic() - self._last_write >= IDLE_HEARTBEAT_S:
                await self.flush()

    def _take(self) -> list[QueryOutcome]:
        batch, self._buffer = self._buffer, []
        self._full.clear()
        return batch

    async def flush(self) -> None:
        """Store the buffered outcomes now (in a worker thread)."""
        await asyncio.to_thread(self._write, self._take())

    def _write(self, batch: list[QueryOutcome]) -> None:
        status, inserted = store_outcomes(self.database, self.evaluation_id, batch)
        self.stored += len(inserted)
        if self.on_stored is not None and inserted:
            self.on_stored([o for o in batch if o.query_id in inserted])
        self._last_write = time.monotonic()
        if status == "cancelled" and not self.cancelled:
            self.cancelled = True
            if self.on_cancelled is not None and self._loop_ref is not None:
                self._loop_ref.call_soon_threadsafe(self.on_cancelled)
