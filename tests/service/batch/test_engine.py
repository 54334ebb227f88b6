"""The embedded engine: global and per-system concurrency limits, and the
server-sent-events stream of a job's progress, against real HTTP servers."""

from __future__ import annotations

import itertools
import json
import threading

import httpx
import pytest
from servers import serve_app

from ragbench.main import create_app

from .conftest import add_system, calls_for, create_job, ranker, stored_rows, tasks_of, wait_job


class InFlight:
    """Counts retrieve requests in flight (ASGI middleware), per system and
    over every system sharing ``total``."""

    def __init__(self, app, total: InFlight | None = None) -> None:
        self.app, self.total = app, total
        self.now = self.max = 0
        self.lock = threading.Lock()

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.max = max(self.max, self.now)
        if self.total is not None:
            self.total.enter()

    def leave(self) -> None:
        with self.lock:
            self.now -= 1
        if self.total is not None:
            self.total.leave()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].endswith("/retrieve"):
            return await self.app(scope, receive, send)
        self.enter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.leave()


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"batch_workers": 3})


@pytest.fixture
def counted(serve, database, collections, queries):
    """``counted(name, total) -> (InFlight, system_id)``: a system answering in
    30 ms whose requests in flight are counted."""
    from fake_systems import system_app

    def make(name: str, total: InFlight):
        app = InFlight(system_app(ranker(collections, queries, 2), latency_s=0.03), total)
        return app, add_system(database, name=name, base_url=serve(app), max_concurrency=4)
    return make


def overlapping(tasks) -> bool:
    """Whether two of the tasks ran at the same time (by their stored times)."""
    spans = sorted((t.started_at, t.finished_at) for t in tasks)
    return any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))


def test_each_system_runs_one_task_at_a_time_and_the_pool_three(api, database, dataset_ids,
                                                                counted):
    total = InFlight(None)
    systems = [counted(f"s{n}", total) for n in range(4)]
    job = create_job(api, system_ids=[sid for _, sid in systems], dataset_ids=dataset_ids,
                     concurrency=1)
    assert wait_job(api, job["id"])["status"] == "completed"
    # One request in flight per task (concurrency 1): a system seeing two at once
    # would have had two tasks running.
    assert [app.max for app, _ in systems] == [1, 1, 1, 1]
    assert 2 <= total.max <= 3  # the pool has three workers
    tasks = tasks_of(database, job["id"])
    for _, sid in systems:
        assert not overlapping([t for t in tasks if t.system_id == sid])
    assert overlapping(tasks)

    # Two per system: both datasets of a system at once.
    api.app.state.batch_engine.max_running_per_system = 2
    app, sid = systems[0]
    app.max = 0
    job = create_job(api, system_ids=[sid], dataset_ids=dataset_ids, concurrency=1)
    assert wait_job(api, job["id"])["status"] == "completed"
    assert app.max == 2


def read_events(response: httpx.Response) -> list[tuple[str, dict]]:
    events, name, data = [], None, []
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data.append(line.split(":", 1)[1].strip())
        elif not line and name:
            events.append((name, json.loads("\n".join(data))))
            name, data = None, []
            if events[-1][0] == "end":
                break
    return events


def test_the_events_stream_sends_progress_then_end(settings, database, dataset_ids, system):
    _, slow = system("slow", latency_s=0.05, max_concurrency=1)
    with serve_app(create_app(settings)) as url, httpx.Client(base_url=url,
                                                               timeout=30) as client:
        assert client.get("/api/v1/batch/jobs/99/events").status_code == 404
        job = create_job(client, system_ids=[slow], dataset_ids=dataset_ids, concurrency=1)
        with client.stream("GET", f"/api/v1/batch/jobs/{job['id']}/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = read_events(response)
    names = [name for name, _ in events]
    assert names[-1] == "end" and set(names[:-1]) == {"progress"} and len(names) >= 4
    assert events[-1][1] == {"job_id": job["id"], "status": "completed"}
    percents = [body["percent"] for name, body in events if name == "progress"]
    assert percents == sorted(percents) and percents[-1] == 100.0 and percents[0] < 100.0
    last = events[-2][1]
    assert last["status"] == "completed" and last["queries_done"] == last["queries_total"] == 24
    assert [i["status"] for i in last["items"]] == ["completed", "completed"]
    # Sent on change only: no two consecutive snapshots alike.
    bodies = [json.dumps({k: v for k, v in body.items() if k not in ("at", "eta_s")} |
                         {"items": [{k: v for k, v in i.items() if k != "eta_s"}
                                    for i in body["items"]]}, sort_keys=True)
              for name, body in events if name == "progress"]
    assert all(a != b for a, b in itertools.pairwise(bodies))


def test_a_stopping_server_hands_its_task_back_and_the_next_start_resumes_it(
        settings, database, dataset_ids, system, collections):
    from fastapi.testclient import TestClient

    app, sid = system("slow", latency_s=0.15, max_concurrency=1)
    with TestClient(create_app(settings)) as api:
        job = create_job(api, system_ids=[sid], dataset_ids=dataset_ids[:1], concurrency=1)
        wait_job(api, job["id"], until=lambda _job: any(
            i["queries_done"] >= 3 for i in api.get(
                f"/api/v1/batch/jobs/{job['id']}/progress").json()["items"]))
    (task,) = tasks_of(database, job["id"])
    assert (task.status, task.lease_owner, task.lease_expires_at) == ("pending", None, None)
    stored = stored_rows(database, task.evaluation_id)
    assert 3 <= len(stored) < 12

    with TestClient(create_app(settings)) as api:  # no lease to wait for
        assert wait_job(api, job["id"], timeout=20)["status"] == "completed"
    (done,) = tasks_of(database, job["id"])
    assert (done.evaluation_id, done.attempts) == (task.evaluation_id, 2)
    judged = collections[0].qrels.query_ids.unique().to_pylist()
    assert stored_rows(database, done.evaluation_id) == {q: 1 for q in judged}
    calls = calls_for(app, collections[0])
    assert all(calls[q] == 1 for q in stored) and sum(calls.values()) < 2 * len(judged)
