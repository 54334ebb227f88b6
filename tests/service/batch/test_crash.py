"""``kill -9`` of ``ragbench serve`` in the middle of a job, then a restart: the
embedded engine finishes the job without redoing a finished task, storing a
query twice or losing one, and the interrupted evaluation resumes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from servers import free_port
from sqlalchemy import func, select

from ragbench.batch.models import JobTask
from ragbench.evaluations.models import Evaluation, EvaluationQuery

from .conftest import (PYTREC, add_system, calls_for, create_job, pytrec_metrics, ranker,
                       stored_metrics, stored_rows, tasks_of, wait_job)

RAGBENCH = Path(sys.executable).with_name("ragbench")
LEASE_S = 3


class Server:
    """``ragbench serve`` as a child process on the test's data folder and database."""

    def __init__(self, settings, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "RAGBENCH_DATA_DIR": str(settings.data_dir),
               "RAGBENCH_DATABASE_URL": settings.sqlalchemy_url,
               "RAGBENCH_TASK_LEASE_S": str(LEASE_S), "RAGBENCH_ENVIRONMENT": "test",
               "RAGBENCH_HEALTH_CHECK_INTERVAL_S": "0", "RAGBENCH_SCHEDULER_INTERVAL_S": "0",
               "RAGBENCH_BROKER_URL": ""}
        self.log = log.open("ab")
        self.process = subprocess.Popen([str(RAGBENCH), "serve", "--port", str(self.port)],
                                        env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ragbench serve did not start:\n{log.read_text()}")
            time.sleep(0.1)

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no shutdown code runs
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def rows_by_evaluation(database) -> dict[int, set[str]]:
    with database.session() as session:
        out: dict[int, set[str]] = {}
        for evaluation_id, query_id in session.execute(
                select(EvaluationQuery.evaluation_id, EvaluationQuery.query_id)):
            out.setdefault(evaluation_id, set()).add(query_id)
        return out


def test_kill_9_mid_job_then_restart_loses_nothing_and_redoes_nothing(
        tmp_path, settings, database, dataset_ids, serve, collections, queries):
    from fake_systems import system_app

    rankers, apps = {}, {}
    for name, quality, latency_s in (("fast", 1, 0.03), ("slow", 2, 0.1)):
        rank = ranker(collections, queries, quality)
        app = system_app(rank, latency_s=latency_s)
        system_id = add_system(database, name=name, base_url=serve(app), max_concurrency=1)
        rankers[system_id], apps[system_id] = rank, app
    log = tmp_path / "serve.log"
    server = Server(settings, log)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            job = create_job(client, system_ids=list(apps), dataset_ids=dataset_ids,
                             concurrency=1, measures=list(PYTREC))

        # Kill once a task has completed and another is part-way through its queries.
        deadline = time.monotonic() + 30
        while True:
            tasks = tasks_of(database, job["id"])
            rows = rows_by_evaluation(database)
            done = [t for t in tasks if t.status == "completed"]
            midway = [t for t in tasks if t.status == "running" and
                      0 < len(rows.get(t.evaluation_id, ())) < 12]
            if done and midway:
                break
            assert time.monotonic() < deadline, (tasks, log.read_text())
            time.sleep(0.02)
        server.kill()
    finally:
        server.stop()
    at_kill = {t.id: t for t in tasks_of(database, job["id"])}
    rows_at_kill = rows_by_evaluation(database)
    calls_at_kill = {(sid, i): calls_for(app, c) for sid, app in apps.items()
                     for i, c in enumerate(collections)}
    finished = {t.id for t in at_kill.values() if t.status == "completed"}
    interrupted = {t.id for t in at_kill.values() if t.status == "running"
                   and rows_at_kill.get(t.evaluation_id)}
    assert finished and interrupted

    server = Server(settings, log)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            final = wait_job(client, job["id"], timeout=60)
    finally:
        server.stop()
    assert final["status"] == "completed", (final, log.read_text())

    tasks = {t.id: t for t in tasks_of(database, job["id"])}
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Evaluation)) == 4
        assert session.scalar(select(func.count(func.distinct(JobTask.evaluation_id)))
                              .where(JobTask.job_id == job["id"])) == 4
    for task in tasks.values():
        index = dataset_ids.index(task.dataset_id)
        judged = collections[index].qrels.query_ids.unique().to_pylist()
        calls = calls_for(apps[task.system_id], collections[index])
        assert task.status == "completed"
        # Every judged query stored exactly once.
        assert stored_rows(database, task.evaluation_id) == {q: 1 for q in judged}
        if task.id in finished:
            # Not run again: same evaluation, no further request.
            assert task.evaluation_id == at_kill[task.id].evaluation_id
            assert task.attempts == 1
            assert calls == calls_at_kill[(task.system_id, index)] == {q: 1 for q in judged}
        if task.id in interrupted:
            # Resumed: the same evaluation, the stored queries not asked again (only
            # those in flight at the kill were asked twice).
            assert task.evaluation_id == at_kill[task.id].evaluation_id
            assert task.attempts == 2
            stored_before = rows_at_kill[task.evaluation_id]
            assert all(calls[q] == 1 for q in stored_before)
            assert len(judged) <= sum(calls.values()) < 2 * len(judged)

            # ... and scored as pytrec_eval scores the system's answers.
            expected = pytrec_metrics(collections[index], rankers[task.system_id], judged)
            stored = stored_metrics(database, task.evaluation_id)
            for q in judged:
                assert stored[q] == pytest.approx(expected[q], abs=1e-12), q
