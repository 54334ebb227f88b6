"""``jobs.run_evaluation`` is resumable and idempotent, and the executor picks up
what a crash left behind."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fake_systems import system_app
from ragbench.database import utcnow
from ragbench.evaluations import jobs
from ragbench.evaluations import service as evaluations_service
from ragbench.evaluations.models import Evaluation, EvaluationQuery
from ragbench.evaluations.schemas import EvaluationCreate
from ragbench.main import create_app

from .conftest import wait_for
from .toy_collection import MEASURES, QUERY_IDS, QUERY_TEXTS, RANKINGS, pytrec_scores, returned_run

DONE = QUERY_IDS[:5]  # stored before the run (as by a run that crashed)


def _half_done(database, *, system_id: int, dataset_id: int, status: str = "running") -> int:
    """An evaluation (not submitted to any executor) with DONE already stored:
    their rankings as the system returns them, q1 truncated to its top 3."""
    with database.session() as session:
        evaluation = evaluations_service.create_evaluation(session, data=EvaluationCreate(
            system_id=system_id, dataset_id=dataset_id, measures=MEASURES))
        evaluation.status = status
        evaluation.started_at = evaluation.heartbeat_at = utcnow() - timedelta(hours=1)
        for q in DONE:
            docs = list(returned_run([q])[q].items())[: 3 if q == "q1" else None]
            session.add(EvaluationQuery(evaluation_id=evaluation.id, query_id=q, status="ok",
                                        latency_ms=7.0, attempts=1,
                                        ranking=[[d, s] for d, s in docs]))
        return evaluation.id


def _snapshot(database, evaluation_id: int) -> tuple[dict, list[tuple]]:
    with database.session() as session:
        row = session.get(Evaluation, evaluation_id)
        evaluation = {c.name: getattr(row, c.name) for c in Evaluation.__table__.columns}
        queries = session.execute(
            select(EvaluationQuery.id, EvaluationQuery.query_id, EvaluationQuery.status,
                   EvaluationQuery.latency_ms, EvaluationQuery.attempts,
                   EvaluationQuery.metrics, EvaluationQuery.ranking)
            .where(EvaluationQuery.evaluation_id == evaluation_id)
            .order_by(EvaluationQuery.id)).all()
        return evaluation, [tuple(r) for r in queries]


def _expected() -> dict[str, dict[str, float]]:
    run = returned_run()
    run["q1"] = dict(list(run["q1"].items())[:3])
    return pytrec_scores(run)


@pytest.fixture
def system(serve, register):
    app = system_app(RANKINGS)
    return app, register(serve(app), max_concurrency=4)


def test_resumed_run_asks_only_the_remaining_queries(settings, database, dataset_id, system,
                                                      query_rows):
    app, registered = system
    evaluation_id = _half_done(database, system_id=registered["id"], dataset_id=dataset_id)
    before = app.state.calls.copy()

    assert jobs.run_evaluation(evaluation_id, settings=settings, database=database) == \
        "completed"

    asked = {q: app.state.calls[f"q:{QUERY_TEXTS[q]}"] - before[f"q:{QUERY_TEXTS[q]}"]
             for q in QUERY_IDS}
    assert asked == {q: 0 if q in DONE else 1 for q in QUERY_IDS}
    assert app.state.calls["retrieve"] - before["retrieve"] == len(QUERY_IDS) - len(DONE)
    with database.session() as session:
        counts = session.execute(
            select(EvaluationQuery.query_id, func.count())
            .where(EvaluationQuery.evaluation_id == evaluation_id)
            .group_by(EvaluationQuery.query_id)).all()
    assert sorted(counts) == sorted((q, 1) for q in QUERY_IDS)

    # The stored rankings are scored as stored (q1: its top 3 only).
    rows = query_rows(evaluation_id)
    expected = _expected()
    for q in QUERY_IDS:
        assert rows[q]["metrics"] == pytest.approx(expected[q], abs=1e-12), q
    assert rows["q1"]["latency_ms"] == 7.0

    # Again on the completed evaluation: nothing is asked, nothing changes.
    snapshot = _snapshot(database, evaluation_id)
    calls = app.state.calls.copy()
    assert jobs.run_evaluation(evaluation_id, settings=settings, database=database) == \
        "completed"
    assert app.state.calls == calls
    assert _snapshot(database, evaluation_id) == snapshot


def test_executor_resumes_evaluations_left_running_on_start(settings, database, dataset_id,
                                                            system, query_rows):
    app, registered = system
    running = _half_done(database, system_id=registered["id"], dataset_id=dataset_id)
    pending = _half_done(database, system_id=registered["id"], dataset_id=dataset_id,
                         status="pending")
    before = app.state.calls["retrieve"]

    # A second app on the same database starts as the service would after a crash.
    with TestClient(create_app(settings)) as restarted:
        for evaluation_id in (running, pending):
            done = wait_for(restarted, evaluation_id)
            assert done["status"] == "completed", done
            assert done["progress"]["done"] == len(QUERY_IDS)
    assert app.state.calls["retrieve"] - before == 2 * (len(QUERY_IDS) - len(DONE))
    expected = _expected()
    for evaluation_id in (running, pending):
        rows = query_rows(evaluation_id)
        for q in QUERY_IDS:
            assert rows[q]["metrics"] == pytest.approx(expected[q], abs=1e-12), q


def test_a_cancelled_evaluation_is_not_run(settings, database, dataset_id, system):
    app, registered = system
    evaluation_id = _half_done(database, system_id=registered["id"], dataset_id=dataset_id,
                               status="cancelled")
    before = app.state.calls.copy()
    snapshot = _snapshot(database, evaluation_id)
    assert jobs.run_evaluation(evaluation_id, settings=settings, database=database) == \
        "cancelled"
    assert app.state.calls == before
    assert _snapshot(database, evaluation_id) == snapshot
