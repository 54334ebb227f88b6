"""The Celery application of the scale-out engine: one task, ``ragbench.batch.run_task``.

A Celery message carries nothing but a batch task id. The database is the source
of truth: the task reloads its state there, takes a lease, and runs the shared
task code (:func:`ragbench.batch.execution.execute_task`), which is idempotent --
a message delivered twice, or a task re-sent after its worker died, never
evaluates anything twice. So there is no result backend.

Delivery settings, and why:

- ``task_acks_late``: a message is acknowledged when its task returns, not when a
  worker receives it, so a message held by a worker that dies is not lost.
- ``task_reject_on_worker_lost``: with a process pool, a child killed mid-task
  sends its message back to the queue at once instead of acknowledging it.
- ``worker_prefetch_multiplier=1``: a worker reserves no more messages than it
  has free slots, so queued tasks go to whichever worker frees up first (tasks
  are long; a deep prefetch would pin them to a busy worker).
- Redis ``visibility_timeout`` (:func:`visibility_timeout_s`): how long a
  delivered, unacknowledged message waits before Redis hands it to another
  worker. A task that took its lease does not need it -- when its worker dies,
  the lease expires and a reaper sends it again within about a lease -- so it
  only has to cover a message whose worker died before taking the lease, or
  while holding a task whose system was busy (below). It is short (four leases),
  and the workers look for such messages as often (``unacked_restore_*``). A
  task running longer than that is delivered a second time; the copy finds the
  live lease and returns at once.

As in the embedded engine, one task per system runs at a time (across every
worker): a task whose system is busy is sent again after a second or two
(:data:`SYSTEM_BUSY_RETRY_S`), which frees the worker's slot for another
system's task meanwhile.

Nothing is configured at import time: :func:`make_celery` builds the application
from a :class:`~ragbench.config.Settings`. ``celery -A ragbench.batch.celery_app``
also works: the module attribute ``app`` is built from the environment's settings
on first access.
"""

from __future__ import annotations

import os
import random
import socket
import threading
from typing import Any

from celery import Celery

from ragbench.config import Settings, get_settings

#: Name of the one task; the server sends it by name and imports no task code.
TASK_NAME = "ragbench.batch.run_task"
#: Queue of the batch tasks (its own name, so another Celery application on the
#: same Redis database does not consume them).
QUEUE = "ragbench.batch"
#: Seconds (times 1 to 2, at random) before a task whose system is busy is tried again.
SYSTEM_BUSY_RETRY_S = 1.0
#: Seconds a blocking Redis socket operation (a publish, a connect) may take, so
#: that a broker that vanished without closing the connection fails a send instead
#: of hanging it.
BROKER_SOCKET_TIMEOUT_S = 10.0


def visibility_timeout_s(settings: Settings) -> float:
    """Seconds before Redis re-delivers an unacknowledged message: four leases,
    within [10 s, 300 s] (120 s with the default 30 s lease). Always well above
    :data:`SYSTEM_BUSY_RETRY_S`, the longest a message waits in a worker on purpose."""
    return min(300.0, max(10.0, 4.0 * settings.task_lease_s))


def make_celery(settings: Settings) -> Celery:
    """A Celery application on ``settings.broker_url`` with the task registered.

    The task runs :func:`~ragbench.batch.execution.execute_task` with these
    ``settings`` and the process's :class:`~ragbench.database.Database` for
    ``settings.sqlalchemy_url``; its worker id is ``<hostname>:<pid>:<thread>``.
    """
    if not settings.broker_url:
        raise ValueError("settings.broker_url is empty: set RAGBENCH_BROKER_URL "
                         "(e.g. redis://127.0.0.1:6379/0) to use Celery workers")
    # Every feature's tables: the tasks' rows reference other features' tables,
    # which a worker process would otherwise never import.
    import ragbench.tables  # noqa: F401

    visibility = visibility_timeout_s(settings)
    app = Celery("ragbench", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        result_backend=None,
        task_default_queue=QUEUE,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": visibility,
            # Look for such messages every quarter of it (kombu's default: a scan
            # every 10 rounds of 10 s, too rare for a short timeout).
            "unacked_restore_interval": max(1, min(10, int(visibility / 4))),
            "unacked_restore_throttle": 1,
            "socket_timeout": BROKER_SOCKET_TIMEOUT_S,
            "socket_connect_timeout": BROKER_SOCKET_TIMEOUT_S,
        },
        # No broadcast commands, no task events: workers coordinate through the
        # database, and each of these costs Redis traffic on every worker.
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        enable_utc=True,
    )

    @app.task(name=TASK_NAME, bind=True, ignore_result=True, max_retries=None)
    def run_task(self, task_id: int) -> str:
        from ragbench.batch.execution import execute_task
        from ragbench.database import get_database

        status = execute_task(int(task_id), settings=settings,
                              database=get_database(settings.sqlalchemy_url),
                              worker_id=worker_id(),
                              max_running_per_system=settings.batch_max_running_per_system)
        if status == "pending":
            # Its system already runs as many tasks as it may (this job's or
            # another's): ask again a little later, freeing this slot meanwhile.
            raise self.retry(countdown=SYSTEM_BUSY_RETRY_S * (1.0 + random.random()))
        return status

    return app


def worker_id() -> str:
    """``<hostname>:<pid>:<thread name>``: who holds a lease, down to the thread."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


def __getattr__(name: str) -> Any:
    # ``celery -A ragbench.batch.celery_app worker``: the application is built on
    # first access, from the settings of the environment, never at import.
    if name == "app":
        global app
        app = make_celery(get_settings())
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
