"""Schedulers racing for the same due schedule, as threads (each with its own engine
and connections, like separate servers) and as separate processes: every due time
makes exactly one job. Every racer reads the due state before any of them writes,
so the compare-and-set itself is what decides."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from ragbench.batch.models import JobTask
from ragbench.database import Database
from ragbench.schedules import jobs
from ragbench.schedules.timing import as_utc
from ragbench.systems import service as systems_service

THREADS = 6
RACER = Path(__file__).with_name("racer.py")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


class Dispatched:
    def __init__(self) -> None:
        self.task_ids: list[int] = []
        self._lock = threading.Lock()

    def dispatch(self, task_ids) -> None:
        with self._lock:
            self.task_ids.extend(task_ids)


def test_threads_racing_make_one_job_per_due_time(world, schedule, settings, monkeypatch):
    schedule_id = schedule("*/5 * * * *", now=utc(2024, 5, 1, 9, 58))
    due_times = [utc(2024, 5, 1, 10, 5 * k) for k in range(4)]
    databases = [Database(settings.sqlalchemy_url) for _ in range(THREADS)]
    engine = Dispatched()
    barrier = threading.Barrier(THREADS, timeout=30)
    attempts = Counter()
    first_attempt = threading.local()
    original = jobs._advance

    def gated(session, plan):
        # every thread has read the due schedule before any compare-and-set runs
        if getattr(first_attempt, "round", None) != plan.due:
            first_attempt.round = plan.due
            barrier.wait()
        attempts[plan.due] += 1
        return original(session, plan)

    monkeypatch.setattr(jobs, "_advance", gated)

    def race(now: datetime) -> list[list[int]]:
        results: list[list[int]] = [[] for _ in range(THREADS)]
        errors: list[BaseException] = []

        def one(i: int) -> None:
            try:
                results[i] = jobs.fire_due(databases[i], now=now, engine=engine)
            except Exception as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        return results

    try:
        for k, due in enumerate(due_times[:3]):
            results = race(due + timedelta(seconds=1))
            assert sorted(len(r) for r in results) == [0] * (THREADS - 1) + [1]
            assert attempts[due] == THREADS
            assert world.job_count(schedule_id, due) == 1
            assert world.job_count(schedule_id) == k + 1
        # the last due time with the system archived: exactly one failed job records it
        with world.database.session() as session:
            systems_service.archive_system(session, system_id=world.system_id)
        results = race(due_times[3] + timedelta(seconds=1))
        assert sorted(len(r) for r in results) == [0] * (THREADS - 1) + [1]
    finally:
        for database in databases:
            database.dispose()

    made = world.jobs(schedule_id)
    assert [as_utc(j.scheduled_for) for j in made] == due_times
    assert [j.status for j in made] == ["pending"] * 3 + ["failed"]
    with world.database.session() as session:
        task_ids = sorted(session.scalars(select(JobTask.id)))
    assert len(task_ids) == 3 and sorted(engine.task_ids) == task_ids  # each dispatched once


def test_processes_racing_make_one_job_per_due_time(world, schedule, settings, tmp_path):
    schedule_id = schedule("0 * * * *", now=utc(2024, 5, 1, 0, 30))
    due_times = [utc(2024, 5, 1, hour) for hour in (1, 2, 3)]
    nows = [(due + timedelta(seconds=2)).isoformat() for due in due_times]
    go = tmp_path / "go"
    go.mkdir()
    racers = [subprocess.Popen([sys.executable, str(RACER), settings.sqlalchemy_url, str(go),
                                *nows], stdout=subprocess.PIPE, text=True)
              for _ in range(2)]
    made: list[list[int]] = []
    try:
        for racer in racers:
            assert racer.stdout.readline().strip() == "ready"
        for k in range(len(due_times)):
            (go / f"round-{k}").touch()
            for racer in racers:
                assert racer.stdout.readline().split() == ["at-cas", str(k)]
            (go / f"cas-{k}").touch()
            lines = [racer.stdout.readline().split(maxsplit=2) for racer in racers]
            assert [line[:2] for line in lines] == [["done", str(k)]] * 2
            made.append(sorted(job_id for line in lines for job_id in json.loads(line[2])))
            assert world.job_count(schedule_id, due_times[k]) == 1
    finally:
        for racer in racers:
            try:
                racer.wait(30)
            except subprocess.TimeoutExpired:
                racer.kill()
                racer.wait()
            racer.stdout.close()

    jobs_made = world.jobs(schedule_id)
    assert [as_utc(j.scheduled_for) for j in jobs_made] == due_times
    assert made == [[j.id] for j in jobs_made]  # each round: one racer made it, once
