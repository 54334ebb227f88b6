"""``ragbench worker``: a Celery worker that runs batch tasks.

Start as many as you like, on any machine that reaches the same database
(``RAGBENCH_DATABASE_URL``, PostgreSQL), the same broker (``RAGBENCH_BROKER_URL``,
Redis) and the same data folder (``RAGBENCH_DATA_DIR``: datasets are read and run
files written there). The server migrates the database; start it once first.

The worker uses Celery's **threads** pool, ``--concurrency`` threads in one
process:

- A task spends its time waiting on the system under test (HTTP) and the
  database; scoring is numpy. Threads share one process's memory, imports and
  connection pools, which on a 2-core machine leaves the cores to the systems,
  the database and Redis; forked children would each load the whole stack.
- ``kill -9`` of the worker takes all its tasks down at once, with nothing left
  behind: no orphaned child finishing a task for a dead parent, no half-alive
  pool. Recovery does not rely on the broker noticing: each running task holds a
  lease in the database that its worker renews; once it expires, a reaper (every
  worker runs one, so does the server) sets the task back to ``pending`` and
  sends it again, and its evaluation resumes from the queries already stored.
  The unacknowledged message itself comes back from Redis after the visibility
  timeout and then finds the task finished.
"""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer


def worker(
    concurrency: Annotated[int | None, typer.Option(
        help="Batch tasks run at once by this worker (default: settings.batch_workers, "
             "RAGBENCH_BATCH_WORKERS)", min=1, max=64)] = None,
    loglevel: Annotated[str, typer.Option(
        help="debug | info | warning | error")] = "info",
) -> None:
    """Run batch tasks from the broker (Celery worker; needs RAGBENCH_BROKER_URL)."""
    from ragbench.batch.celery_app import make_celery
    from ragbench.batch.celery_engine import (
        Reaper,
        TaskSender,
        broker_watch,
        reap_interval_s,
        spread_by_system,
    )
    from ragbench.config import get_settings
    from ragbench.database import get_database

    settings = get_settings()
    if not settings.broker_url:
        typer.echo("error: RAGBENCH_BROKER_URL is not set: a worker takes batch tasks from "
                   "a Redis broker (e.g. redis://127.0.0.1:6379/0); without one, "
                   "`ragbench serve` runs them itself", err=True)
        raise typer.Exit(2)
    concurrency = concurrency or settings.batch_workers
    if loglevel.lower() != "debug":
        # One line per request to a system under test would drown the task log.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    app = make_celery(settings)
    database = get_database(settings.sqlalchemy_url)
    sender = TaskSender(app, order=lambda ids: spread_by_system(database, ids))
    reaper = Reaper(database=database, send=sender.send, interval_s=reap_interval_s(settings),
                    watch=broker_watch(settings.broker_url))
    sender.start()
    reaper.start()
    try:
        code = app.start(argv=[
            "worker", "--pool=threads", f"--concurrency={concurrency}",
            f"--loglevel={loglevel}", f"--hostname=ragbench-{os.getpid()}@%h",
            # Workers share nothing but the database: no start-up synchronisation
            # or liveness chatter between them (each costs seconds or traffic).
            "--without-mingle", "--without-gossip", "--without-heartbeat"])
    finally:
        reaper.stop()
        sender.stop()
    if code:
        raise typer.Exit(code)


if __name__ == "__main__":  # pragma: no cover
    typer.run(worker)
