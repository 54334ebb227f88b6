"""Running evaluations in the background.

:func:`run_evaluation` is the whole job: it takes an evaluation id, reloads
everything from the database and is idempotent and resumable -- a completed,
failed or cancelled evaluation is left alone, queries already stored are not
asked again, and the rest are queried, stored in batches and scored. It keeps
no process state, so any worker that can reach the database and the data folder
can run it.

:class:`EvaluationExecutor` runs those jobs inside the API process, on an event
loop of its own in a dedicated thread (querying and scoring never hold up the
API's loop), at most ``max_running`` at a time. On start it resumes what a
crash left ``pending`` or ``running``; afterwards it periodically resumes
``running`` evaluations whose heartbeat went stale. Evaluations that belong to a
batch task (``batch_task_id`` set) are left to the batch queue, which resumes
them under the task's lease.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple

from sqlalchemy import JSON, String, bindparam, cast, or_, select, update
from sqlalchemy.orm import Session

from ragbench import json_codec
from ragbench.config import Settings
from ragbench.core import Qrels
from ragbench.database import Database, utcnow
from ragbench.datasets import service as datasets_service
from ragbench.errors import AppError
from ragbench.evaluations import artifacts, scoring
from ragbench.evaluations.models import Evaluation, EvaluationQuery
from ragbench.evaluations.ratelimit import paced
from ragbench.evaluations.recorder import OutcomeRecorder
from ragbench.evaluations.runner import Backoff, QueryingStats, QueryOutcome, run_queries
from ragbench.systems import service as systems_service
from ragbench.systems.client import connect

logger = logging.getLogger(__name__)

TERMINAL = frozenset({"completed", "failed", "cancelled"})
NO_TEXT = "the dataset has no text for this query"
#: Stored query rows read (and rankings decoded) at a time when scoring.
ROWS_PER_CHUNK = 1000


class _Row(NamedTuple):
    id: int
    query_id: str
    status: str
    latency_ms: float | None


@dataclass
class _Plan:
    """What a run needs, read in one transaction."""

    evaluation: Evaluation
    system: Any
    qrels: Qrels
    todo: list[tuple[str, str]]
    without_text: list[str]


def _begin(database: Database, settings: Settings, evaluation_id: int) -> _Plan | None:
    """Mark the evaluation running and list the queries still to ask; None when
    there is nothing to do (no such evaluation, or it is finished)."""
    with database.session() as session:
        evaluation = session.get(Evaluation, evaluation_id)
        if evaluation is None or evaluation.status in TERMINAL:
            return None
        system = systems_service.get_system(session, system_id=evaluation.system_id)
        collection = datasets_service.load_collection(session, dataset_id=evaluation.dataset_id,
                                                      settings=settings)
        judged = collection.qrels.query_ids.unique().to_pylist()
        queries = collection.judged_queries()
        texts = dict(zip(queries.ids.to_pylist(), queries.texts.to_pylist()))
        stored = set(session.scalars(select(EvaluationQuery.query_id)
                                     .where(EvaluationQuery.evaluation_id == evaluation_id)))
        started = session.execute(
            update(Evaluation)
            .where(Evaluation.id == evaluation_id, Evaluation.status.in_(("pending", "running")))
            .values(status="running", started_at=evaluation.started_at or utcnow(),
                    heartbeat_at=utcnow(), queries_total=len(judged), error=None))
        if started.rowcount != 1:
            return None
        session.refresh(evaluation)
        # Ask in the dataset's order; judged queries without text are recorded as failed.
        todo = [(q, t) for q, t in texts.items() if q not in stored]
        without_text = [q for q in judged if q not in texts and q not in stored]
        return _Plan(evaluation, system, collection.qrels, todo, without_text)


def _finish(database: Database, settings: Settings, plan: _Plan,
            querying: QueryingStats | None, fresh: scoring.RunBuilder) -> str:
    """Score the stored rankings, write the Parquet run, store per-query values
    and aggregates, and mark the evaluation completed (unless it was cancelled
    meanwhile). Returns the final status.

    ``fresh`` holds the rankings this run stored; only the others (stored by an
    earlier, interrupted run, or by another runner) are read back from the database.
    The stored rows decide what counts: a query whose row is not ``ok`` adds nothing."""
    evaluation_id = plan.evaluation.id
    with database.session() as session:
        rows = [_Row(*r) for r in session.execute(
            select(EvaluationQuery.id, EvaluationQuery.query_id, EvaluationQuery.status,
                   EvaluationQuery.latency_ms)
            .where(EvaluationQuery.evaluation_id == evaluation_id))]
        answered = {r.query_id for r in rows if r.status == "ok"}
        missing = answered - fresh.query_ids
        if missing:
            result = session.execute(
                select(EvaluationQuery.query_id, EvaluationQuery.ranking)
                .where(EvaluationQuery.evaluation_id == evaluation_id,
                       EvaluationQuery.status == "ok")
                .execution_options(yield_per=ROWS_PER_CHUNK))
            for chunk in result.partitions():
                fresh.add((r.query_id, r.ranking) for r in chunk if r.query_id in missing)
    run = fresh.build(name=artifacts.run_tag(plan.system.name),
                      keep=answered if fresh.query_ids - answered else None)
    # The Parquet file is written while the run is scored and the values stored
    # (both sides release the GIL for much of their work); the transaction that
    # completes the evaluation commits only once the file is in place.
    with ThreadPoolExecutor(1, thread_name_prefix="ragbench-artifact") as pool:
        writing = pool.submit(artifacts.write_run_artifact, settings.data_dir, evaluation_id,
                              run)
        scores = scoring.score_run(plan.qrels, run, plan.evaluation.measures)
        latency = scoring.latency_summary([r.latency_ms for r in rows if r.status == "ok"])
        with database.session() as session:
            values: dict[str, Any] = dict(
                status="completed", aggregates=scores.aggregates, latency=latency,
                run_path=artifacts.run_path(evaluation_id), queries_done=len(rows),
                errors_count=sum(r.status == "failed" for r in rows),
                finished_at=utcnow(), heartbeat_at=utcnow())
            if querying is not None and querying.throughput_qps is not None:
                values["throughput_qps"] = querying.throughput_qps
            done = session.execute(update(Evaluation).where(Evaluation.id == evaluation_id,
                                                            Evaluation.status == "running")
                                   .values(**values))
            if done.rowcount != 1:
                session.rollback()
                (settings.data_dir / writing.result()).unlink(missing_ok=True)
                return session.scalar(select(Evaluation.status)
                                      .where(Evaluation.id == evaluation_id)) or "cancelled"
            if rows:
                _store_metrics(session, [(r.id, scores.per_query.get(r.query_id, {}))
                                         for r in rows])
                # The Parquet run now holds the rankings: the JSON copies are dropped.
                session.execute(update(EvaluationQuery)
                                .where(EvaluationQuery.evaluation_id == evaluation_id)
                                .values(ranking=None)
                                .execution_options(synchronize_session=False))
            writing.result()  # raises (and rolls back) if the file could not be written
    return "completed"


def _store_metrics(session: Session, values: list[tuple[int, dict[str, Any]]]) -> None:
    """Set ``metrics`` of each ``(row id, metrics)``: one statement run for all rows
    by the driver, the JSON encoded here once (the ORM's bulk update spent ~50 us a
    row on bookkeeping; this is a few)."""
    table = EvaluationQuery.__table__
    value = bindparam("metrics_json", type_=String)
    if session.get_bind().dialect.name == "postgresql":
        value = cast(value, JSON)  # SQLite keeps JSON as text; a cast there would not
    session.execute(update(table).where(table.c.id == bindparam("row_id"))
                    .values(metrics=value),
                    [{"row_id": row_id, "metrics_json": json_codec.dumps(metrics)}
                     for row_id, metrics in values])


def _fail(database: Database, evaluation_id: int, message: str) -> None:
    with database.session() as session:
        session.execute(update(Evaluation)
                        .where(Evaluation.id == evaluation_id,
                               Evaluation.status.in_(("pending", "running")))
                        .values(status="failed", error=message, finished_at=utcnow()))


async def run_evaluation_async(evaluation_id: int, *, settings: Settings, database: Database,
                               backoff: Backoff = Backoff(), batch_size: int = 50,
                               flush_interval_s: float = 0.5,
                               rate_limit_qps: float | None = None) -> str | None:
    """The job (see the module doc), on the running event loop. Returns the
    evaluation's status afterwards (None when there is no such evaluation).
    ``rate_limit_qps``: at most that many requests per second to the system,
    retries included (:mod:`ragbench.batch.ratelimit`); None: no limit.

    Raises only ``asyncio.CancelledError`` (the caller is stopping: the
    evaluation stays ``running``, answered queries are stored, and a later run
    resumes it); any other failure marks the evaluation ``failed`` with the
    message."""
    try:
        plan = await asyncio.to_thread(_begin, database, settings, evaluation_id)
        if plan is None:
            return await asyncio.to_thread(_status, database, evaluation_id)
        fresh = scoring.RunBuilder()
        querying = await _query(plan, settings=settings, database=database, backoff=backoff,
                                batch_size=batch_size, flush_interval_s=flush_interval_s,
                                rate_limit_qps=rate_limit_qps, fresh=fresh)
        if querying is None:
            return "cancelled"
        return await asyncio.to_thread(_finish, database, settings, plan, querying, fresh)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if isinstance(exc, AppError):
            message = exc.message
        else:
            logger.exception("evaluation %s failed", evaluation_id)
            message = f"{type(exc).__name__}: {exc}"
        await asyncio.to_thread(_fail, database, evaluation_id, message)
        return "failed"


async def _query(plan: _Plan, *, settings: Settings, database: Database, backoff: Backoff,
                 batch_size: int, flush_interval_s: float,
                 fresh: scoring.RunBuilder,
                 rate_limit_qps: float | None = None) -> QueryingStats | None:
    """Ask the queries still to do; None if the evaluation was cancelled. The
    rankings stored meanwhile are added to ``fresh`` (for scoring without reading
    them back)."""
    evaluation = plan.evaluation
    querying: asyncio.Task | None = None
    adding = threading.Lock()  # a batch written at cancellation may overlap the last one

    def stop_querying() -> None:
        if querying is not None:
            querying.cancel()

    def keep(outcomes: list[QueryOutcome]) -> None:
        with adding:
            fresh.add((o.query_id, o.hits) for o in outcomes if o.ok)

    async with OutcomeRecorder(database, evaluation.id, batch_size=batch_size,
                               interval_s=flush_interval_s, on_cancelled=stop_querying,
                               on_stored=keep) as recorder:
        for query_id in plan.without_text:
            recorder.add(QueryOutcome(query_id, False, (), None, 0, NO_TEXT))
        if not plan.todo:
            return QueryingStats(0, len(plan.without_text), 0.0)
        async with connect(plan.system, settings=settings,
                           max_connections=evaluation.concurrency,
                           timeout_s=evaluation.timeout_s) as client:
            querying = asyncio.create_task(run_queries(
                [paced(client, rate_limit_qps)], plan.todo, top_k=evaluation.top_k,
                concurrency=evaluation.concurrency,
                timeout_s=evaluation.timeout_s, retries=evaluation.retries,
                on_outcome=recorder.add, backoff=backoff,
                # Seeded by the id: the same evaluation draws the same jitter.
                rng=random.Random(evaluation.id)))
            try:
                return await querying
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():
                    raise  # our caller is stopping, not a cancelled evaluation
                return None


def _status(database: Database, evaluation_id: int) -> str | None:
    with database.session() as session:
        return session.scalar(select(Evaluation.status).where(Evaluation.id == evaluation_id))


def run_evaluation(evaluation_id: int, *, settings: Settings, database: Database,
                   rate_limit_qps: float | None = None) -> str | None:
    """Run the job to the end on a fresh event loop (for workers and scripts;
    see :func:`run_evaluation_async`). Returns the final status."""
    return asyncio.run(run_evaluation_async(evaluation_id, settings=settings,
                                            database=database, rate_limit_qps=rate_limit_qps))


class EvaluationExecutor:
    """Runs evaluations in this process (see the module doc).

    ``submit`` and ``cancel`` may be called from any thread; ``start`` and
    ``stop`` from the API's event loop."""

    def __init__(self, *, settings: Settings, database: Database, max_running: int = 4,
                 sweep_interval_s: float = 30.0, stale_after_s: float = 120.0) -> None:
        self.settings = settings
        self.database = database
        self.max_running = max_running
        self.sweep_interval_s = sweep_interval_s
        self.stale_after_s = stale_after_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: dict[int, asyncio.Task] = {}
        self._slots: asyncio.Semaphore | None = None  # made by start(), on its loop
        self._sweeper: asyncio.Task | None = None

    async def start(self) -> None:
        if self._loop is not None:
            return
        self._slots = asyncio.Semaphore(self.max_running)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name="ragbench-evaluations", daemon=True)
        self._thread.start()
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._boot(), self._loop))

    async def stop(self) -> None:
        """Cancel what runs (it stays ``running``, answered queries stored, and is
        resumed at the next start) and end the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._shutdown(), loop))
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join, 30)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = None

    def submit(self, evaluation_id: int) -> None:
        """Run ``evaluation_id`` soon (a no-op if it already runs here)."""
        self._require_loop().call_soon_threadsafe(self._spawn, evaluation_id)

    def cancel(self, evaluation_id: int) -> None:
        """Stop querying ``evaluation_id`` now, if it runs here. The stored status
        (set to ``cancelled`` beforehand) is what keeps it from resuming."""
        self._require_loop().call_soon_threadsafe(self._cancel_task, evaluation_id)

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the evaluation executor is not started")
        return self._loop

    async def _boot(self) -> None:
        for evaluation_id in await asyncio.to_thread(self._unfinished, None):
            self._spawn(evaluation_id)
        self._sweeper = asyncio.create_task(self._sweep())

    async def _shutdown(self) -> None:
        tasks = [t for t in (self._sweeper, *self._tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.get_running_loop().shutdown_default_executor()

    def _unfinished(self, stale_after_s: float | None) -> list[int]:
        """Pending and running evaluations; with ``stale_after_s``, only running
        ones whose heartbeat is older than that (another runner may own the rest).
        Never those of a batch task: the batch queue runs them."""
        query = (select(Evaluation.id).where(Evaluation.batch_task_id.is_(None))
                 .order_by(Evaluation.id))
        if stale_after_s is None:
            query = query.where(Evaluation.status.in_(("pending", "running")))
        else:
            cutoff = utcnow() - timedelta(seconds=stale_after_s)
            query = query.where(Evaluation.status == "running",
                                or_(Evaluation.heartbeat_at.is_(None),
                                    Evaluation.heartbeat_at < cutoff))
        with self.database.session() as session:
            return list(session.scalars(query))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval_s)
            try:
                for evaluation_id in await asyncio.to_thread(self._unfinished,
                                                             self.stale_after_s):
                    self._spawn(evaluation_id)
            except Exception:
                logger.exception("looking for stale evaluations failed")

    def _spawn(self, evaluation_id: int) -> None:
        if evaluation_id in self._tasks:
            return
        task = asyncio.create_task(self._guarded(evaluation_id),
                                   name=f"evaluation-{evaluation_id}")
        self._tasks[evaluation_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(evaluation_id, None))

    def _cancel_task(self, evaluation_id: int) -> None:
        task = self._tasks.get(evaluation_id)
        if task is not None:
            task.cancel()

    async def _guarded(self, evaluation_id: int) -> None:
        async with self._slots:
            try:
                await run_evaluation_async(evaluation_id, settings=self.settings,
                                           database=self.database)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("evaluation %s could not be run", evaluation_id)
