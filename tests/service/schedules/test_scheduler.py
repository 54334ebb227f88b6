"""The scheduler running inside the service: a due schedule becomes one job, whose
task the batch engine runs to a completed evaluation."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import pytrec_eval
from fastapi.testclient import TestClient

from ragbench.main import create_app
from ragbench.schedules import service as schedules_service
from ragbench.schedules.schemas import ScheduleCreate

from .conftest import COLLECTION, DOC_IDS, make_world


@pytest.fixture
def fast_api(settings):
    """The service with a scheduler round every 0.2 s."""
    with TestClient(create_app(settings.model_copy(update={"scheduler_interval_s": 0.2}))) as api:
        yield api


def poll(read, until, *, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"still {value!r}")
        time.sleep(0.05)


def test_a_due_schedule_runs_once_in_the_service(fast_api, settings, system_url,
                                                 collection_dir):
    api = fast_api
    world = make_world(api.app.state.database, settings, system_url, collection_dir)
    # created as of 6 minutes ago, so its first due time (a 5-minute mark) has passed
    data = ScheduleCreate(name="every five minutes", cron="*/5 * * * *",
                          job_template=world.template())
    with api.app.state.database.session() as session:
        schedule_id = schedules_service.create_schedule(
            session, data=data, now=datetime.now(UTC) - timedelta(minutes=6)).id
    path = f"/api/v1/schedules/{schedule_id}"

    detail = poll(lambda: api.get(path).json(), lambda d: d["jobs"])
    (job,) = detail["jobs"]
    finished = poll(lambda: api.get(f"/api/v1/batch/jobs/{job['id']}").json(),
                    lambda j: j["status"] in ("completed", "failed", "cancelled"))
    rounds = api.app.state.scheduler.rounds
    poll(lambda: api.app.state.scheduler.rounds, lambda r: r >= rounds + 3)
    detail = api.get(path).json()

    assert detail["jobs_total"] == 1  # later rounds made no second job
    assert parse(detail["last_run_at"]) == parse(job["scheduled_for"])
    assert parse(job["scheduled_for"]).minute % 5 == 0
    assert parse(detail["next_run_at"]) > datetime.now(UTC)
    assert finished["status"] == "completed", finished
    (evaluation_id,) = finished["evaluation_ids"]
    evaluation = api.get(f"/api/v1/evaluations/{evaluation_id}").json()
    assert evaluation["status"] == "completed"
    assert evaluation["queries_done"] == evaluation["queries_total"] == 4
    # every query was answered d1 > d2 > d3 (the conftest's system)
    qrels = COLLECTION.qrels.to_dict()
    run = {q: {doc: 3.0 - i for i, doc in enumerate(DOC_IDS[:3])} for q in qrels}
    scores = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10"}).evaluate(run)
    expected = sum(s["ndcg_cut_10"] for s in scores.values()) / len(qrels)
    assert evaluation["aggregates"]["nDCG@10"] == pytest.approx(expected, abs=1e-12)


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)
