"""The scale-out engine: the server enqueues batch task ids on Celery (Redis), and
``ragbench worker`` processes run them.

The broker holds only ids; the database says what is left to do. Two things keep
every task moving whatever crashes:

- A **reaper** (in the server and in every worker, so scale-out works with no
  server up) looks every few seconds for ``running`` tasks whose lease expired --
  their worker died -- puts them back to ``pending``
  (:func:`ragbench.batch.execution.requeue_expired`, a compare-and-set, so of many
  reapers exactly one gets each task) and sends them again. Their evaluation
  resumes from the queries it had stored.
- On start the server sends every ``pending`` task again, so a task committed
  just before a crash, and never enqueued, is not left waiting. So does one of
  the reapers when Redis restarted (its ``run_id`` changed: the queue, kept in
  memory only, is gone). A task queued twice this way runs once: the second
  message finds it finished (or leased by a live worker) and returns at once.

Sending happens on a thread of its own (:class:`TaskSender`): :meth:`CeleryEngine.dispatch`
only appends ids to a queue, so the API's event loop never waits for Redis, and
ids that could not be sent (Redis down) are retried until they go.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Iterable

from celery import Celery
from sqlalchemy import select

from ragbench.batch.celery_app import TASK_NAME, make_celery
from ragbench.batch.models import JobTask
from ragbench.config import Settings
from ragbench.database import Database

logger = logging.getLogger(__name__)

#: Publish retries before a send is left for the sender's next round.
SEND_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.5,
                     "interval_max": 1.0}
#: Seconds between rounds of re-sending ids that failed to go out.
RESEND_INTERVAL_S = 2.0


def reap_interval_s(settings: Settings) -> float:
    """Seconds between the reaper's looks: a third of the lease, at most 5 s and at
    least 0.2 s, so a dead worker's task is re-sent within about 1.3 leases."""
    return max(0.2, min(5.0, settings.task_lease_s / 3.0))


def spread_by_system(database: Database, task_ids: list[int]) -> list[int]:
    """``task_ids`` reordered round-robin over their systems (first the first task
    of each system, then the second ...), so that consecutive messages hit
    different systems: a worker then rarely takes a task whose system is busy
    (one task per system runs at a time; see ``Settings.batch_max_running_per_system``)."""
    system_of: dict[int, int] = {}
    with database.session() as session:
        for start in range(0, len(task_ids), 1000):
            system_of.update(session.execute(
                select(JobTask.id, JobTask.system_id)
                .where(JobTask.id.in_(task_ids[start:start + 1000]))).all())
    queues: dict[int | None, list[int]] = {}
    for task_id in task_ids:
        queues.setdefault(system_of.get(task_id), []).append(task_id)
    ordered: list[int] = []
    for rank in range(max((len(q) for q in queues.values()), default=0)):
        ordered.extend(q[rank] for q in queues.values() if rank < len(q))
    return ordered


def pending_task_ids(database: Database) -> list[int]:
    """Ids of every ``pending`` batch task, oldest first."""
    with database.session() as session:
        return list(session.scalars(select(JobTask.id).where(JobTask.status == "pending")
                                    .order_by(JobTask.id)))


class TaskSender:
    """Publishes ``run_task(id)`` messages from a thread of its own.

    :meth:`send` never blocks: it queues the ids. A publish that fails after
    :data:`SEND_RETRY_POLICY` keeps its ids for a later round (every
    :data:`RESEND_INTERVAL_S`), so a broker outage delays tasks but drops none.
    """

    _STOP = object()

    def __init__(self, app: Celery, *,
                 order: Callable[[list[int]], list[int]] | None = None) -> None:
        self.app = app
        self.order = order
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._unsent: list[int] = []
        #: Messages published so far (for logs and measurements).
        self.sent = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ragbench-task-sender",
                                            daemon=True)
            self._thread.start()

    def send(self, task_ids: Iterable[int]) -> None:
        ids = [int(i) for i in task_ids]
        if ids:
            self._queue.put(ids)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Publish what is queued (for up to ``timeout_s``), then end the thread."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(self._STOP)
            thread.join(timeout_s)

    def _run(self) -> None:
        stopping = False
        while True:
            timeout = RESEND_INTERVAL_S if self._unsent else None
            try:
                item = self._queue.get(timeout=0 if stopping else timeout)
            except queue.Empty:
                item = None
            if item is self._STOP:
                stopping = True
            elif item is not None:
                self._unsent.extend(item)
                # Take whatever else is queued too: one connection for the lot.
                while True:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is self._STOP:
                        stopping = True
                    else:
                        self._unsent.extend(more)
            if self._unsent:
                self._publish()
            if stopping and (not self._unsent or item is None):
                if self._unsent:
                    logger.warning("stopping with %d batch tasks not sent (they stay "
                                   "pending and are sent at the next start): %s",
                                   len(self._unsent), self._unsent[:20])
                return

    def _publish(self) -> None:
        ids, self._unsent = self._unsent, []
        if self.order is not None and len(ids) > 1:
            try:
                ids = self.order(ids)
            except Exception as exc:  # noqa: BLE001 - the order is a nicety; the ids still go
                logger.warning("could not order batch tasks by system: %s", exc)
        done = 0
        try:
            with self.app.producer_or_acquire() as producer:
                for task_id in ids:
                    self.app.send_task(TASK_NAME, args=[task_id], producer=producer,
                                       retry=True, retry_policy=SEND_RETRY_POLICY)
                    done += 1
        except Exception as exc:  # noqa: BLE001 - kept for the next round, whatever broke
            logger.warning("could not send %d batch tasks to the broker (%s); retrying "
                           "in %.0f s", len(ids) - done, exc, RESEND_INTERVAL_S)
        finally:
            self.sent += done
            self._unsent = ids[done:] + self._unsent


class BrokerWatch:
    """Notices that the Redis broker restarted since the last look (its
    ``run_id`` changed), which loses every queued message."""

    def __init__(self, broker_url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(broker_url, socket_timeout=5.0,
                                           socket_connect_timeout=5.0)
        self.run_id: str | None = None

    def restarted(self) -> bool:
        """True once per restart across every process watching: only the first to
        claim the new ``run_id`` (``SET NX``) is told, so one of them re-sends."""
        run_id = self.client.info("server")["run_id"]
        previous, self.run_id = self.run_id, run_id
        if previous is None or previous == run_id:
            return False
        return bool(self.client.set(f"ragbench.batch.resent:{run_id}", "1", nx=True,
                                    ex=7 * 24 * 3600))

    def close(self) -> None:
        self.client.close()


def broker_watch(broker_url: str) -> BrokerWatch | None:
    """A :class:`BrokerWatch` for a Redis URL; None for other brokers."""
    if broker_url.split("://", 1)[0] in ("redis", "rediss", "unix"):
        return BrokerWatch(broker_url)
    return None


class Reaper:
    """Every ``interval_s``: expired leases back to ``pending``, their ids to
    ``send``; with a ``watch``, every pending task to ``send`` after the broker
    restarted."""

    def __init__(self, *, database: Database, send: Callable[[list[int]], None],
                 interval_s: float, watch: BrokerWatch | None = None) -> None:
        self.database = database
        self.send = send
        self.interval_s = interval_s
        self.watch = watch
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stopped.clear()
            self._thread = threading.Thread(target=self._run, name="ragbench-task-reaper",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopped.set()
            thread.join(timeout_s)

    def reap(self) -> list[int]:
        """One look; the ids put back to ``pending`` (and sent)."""
        from ragbench.batch.execution import requeue_expired

        ids = requeue_expired(self.database)
        if ids:
            logger.info("leases expired, sending again: batch tasks %s", ids)
            self.send(ids)
        return ids

    def resend_after_broker_restart(self) -> list[int]:
        """When the broker restarted (and this process is the one to act), send
        every pending task again; their ids."""
        if self.watch is None or not self.watch.restarted():
            return []
        ids = pending_task_ids(self.database)
        logger.warning("the broker restarted and lost its queue: sending the %d pending "
                       "batch tasks again", len(ids))
        self.send(ids)
        return ids

    def _run(self) -> None:
        try:
            if self.watch is not None:
                self.watch.restarted()  # the first look only notes the run_id
        except Exception as exc:  # noqa: BLE001 - the broker may be down: later rounds look
            logger.warning("the broker did not answer: %s", exc)
        while not self._stopped.wait(self.interval_s):
            try:
                self.reap()
            except Exception as exc:
                # The database may be briefly away (or not migrated yet: the server
                # migrates it); the next round tries again.
                logger.warning("looking for expired batch task leases failed: %s", exc,
                               exc_info=logger.isEnabledFor(logging.DEBUG))
            try:
                self.resend_after_broker_restart()
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                logger.debug("looking at the broker failed: %s", exc)
        if self.watch is not None:
            self.watch.close()


class CeleryEngine:
    """The batch engine when ``settings.broker_url`` is set: enqueue only.

    ``dispatch`` may be called from any thread and returns at once; ``start`` and
    ``stop`` from the API's event loop."""

    def __init__(self, *, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self.app = make_celery(settings)
        self.sender = TaskSender(self.app, order=lambda ids: spread_by_system(database, ids))
        self.reaper = Reaper(database=database, send=self.sender.send,
                             interval_s=reap_interval_s(settings),
                             watch=broker_watch(settings.broker_url))

    async def start(self) -> None:
        """Start sending, send every ``pending`` task, and start the reaper."""
        self.sender.start()
        pending = await asyncio.to_thread(pending_task_ids, self.database)
        if pending:
            logger.info("sending %d pending batch tasks", len(pending))
            self.sender.send(pending)
        self.reaper.start()

    async def stop(self) -> None:
        """Stop the reaper, publish what is still queued, close broker connections.
        Running tasks are the workers' and carry on."""
        await asyncio.to_thread(self.reaper.stop)
        await asyncio.to_thread(self.sender.stop)
        await asyncio.to_thread(self.app.close)

    def dispatch(self, task_ids: Iterable[int]) -> None:
        """Enqueue ``run_task`` for each id (non-blocking; sent by the sender thread)."""
        self.sender.send(task_ids)
