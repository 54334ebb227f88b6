"""Where batch tasks run: :func:`make_engine` picks the engine from the settings.

* :class:`EmbeddedEngine` (``broker_url`` empty, the default): a pool of
  ``settings.batch_workers`` threads in the server process. Each claims the
  oldest pending task it may start (:func:`ragbench.batch.execution.claim_next`:
  at most ``max_running_per_system`` tasks of one system at once, across every
  process on the database) and runs it; a sweeper puts tasks whose lease
  expired back to ``pending``. The database is the queue, so a restarted server
  (or a second one on the same PostgreSQL) picks up whatever is left.
* ``CeleryEngine`` (``broker_url`` set, :mod:`ragbench.batch.celery_engine`):
  the server only enqueues; ``ragbench worker`` processes run the same
  :func:`~ragbench.batch.execution.execute_task`.

Every engine has ``async start()``, ``async stop()`` and ``dispatch(task_ids)``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading

from ragbench.batch.execution import claim_next, execute_task, requeue_expired
from ragbench.config import Settings
from ragbench.database import Database

logger = logging.getLogger(__name__)


def make_engine(*, settings: Settings, database: Database):
    """The engine the settings ask for (see the module doc)."""
    if settings.broker_url:
        from ragbench.batch.celery_engine import CeleryEngine

        return CeleryEngine(settings=settings, database=database)
    return EmbeddedEngine(settings=settings, database=database,
                          max_running_per_system=settings.batch_max_running_per_system)


def worker_ids(count: int) -> list[str]:
    """``<hostname>:<pid>:<n>`` for n < count: unique per worker thread, and a
    restarted process never reuses the ids of the one that died."""
    prefix = f"{socket.gethostname()}:{os.getpid()}"
    return [f"{prefix}:{n}" for n in range(count)]


class EmbeddedEngine:
    """The in-process worker pool (see the module doc).

    ``poll_interval_s``: how often an idle worker looks for work without being
    woken (by :meth:`dispatch`, or by another worker finishing a task, which may
    free its system's slot). ``sweep_interval_s``: how often expired leases are
    requeued (default: half a lease, at most 10 s)."""

    def __init__(self, *, settings: Settings, database: Database,
                 max_running_per_system: int = 1, poll_interval_s: float = 2.0,
                 sweep_interval_s: float | None = None) -> None:
        self.settings = settings
        self.database = database
        self.max_running_per_system = max_running_per_system
        self.poll_interval_s = poll_interval_s
        self.sweep_interval_s = sweep_interval_s or min(settings.task_lease_s / 2, 10.0)
        self._stopping = threading.Event()
        self._wakeup = threading.Condition()
        self._generation = 0
        self._threads: list[threading.Thread] = []

    async def start(self) -> None:
        if self._threads:
            return
        self._stopping.clear()
        for worker_id in worker_ids(self.settings.batch_workers):
            self._threads.append(threading.Thread(target=self._work, args=(worker_id,),
                                                  name=f"batch-worker-{worker_id}",
                                                  daemon=True))
        self._threads.append(threading.Thread(target=self._sweep, name="batch-sweeper",
                                              daemon=True))
        for thread in self._threads:
            thread.start()

    async def stop(self) -> None:
        """Stop the workers; a task they were running goes back to ``pending``
        with its evaluation's stored queries, for the next start."""
        self._stopping.set()
        self._wake()
        threads, self._threads = self._threads, []
        for thread in threads:
            await asyncio.to_thread(thread.join, 30)

    def dispatch(self, task_ids: list[int]) -> None:
        """Wake the workers: the tasks are in the database already."""
        if task_ids:
            self._wake()

    def _wake(self) -> None:
        with self._wakeup:
            self._generation += 1
            self._wakeup.notify_all()

    def _idle(self, seen: int, timeout_s: float) -> None:
        with self._wakeup:
            if self._generation == seen and not self._stopping.is_set():
                self._wakeup.wait(timeout_s)

    def _work(self, worker_id: str) -> None:
        while not self._stopping.is_set():
            seen = self._generation
            try:
                task_id = claim_next(self.database, worker_id=worker_id,
                                     lease_s=self.settings.task_lease_s,
                                     max_running_per_system=self.max_running_per_system)
            except Exception:
                logger.exception("claiming a batch task failed")
                task_id = None
            if task_id is None:
                self._idle(seen, self.poll_interval_s)
                continue
            try:
                execute_task(task_id, settings=self.settings, database=self.database,
                             worker_id=worker_id, stop=self._stopping)
            except Exception:
                logger.exception("batch task %s could not be run", task_id)
            self._wake()

    def _sweep(self) -> None:
        while True:
            try:
                if requeue_expired(self.database):
                    self._wake()
            except Exception:
                logger.exception("requeueing expired batch tasks failed")
            if self._stopping.wait(self.sweep_interval_s):
                return
