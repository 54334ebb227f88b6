"""Faults under the Celery engine: workers killed with SIGKILL in the middle of a
job, and systems under test that flap. Each test asserts exact counts: every task
finished once, one evaluation per task, every judged query stored once, and
which requests the systems saw."""

from __future__ import annotations

import asyncio
import functools
import random
from collections import Counter
from dataclasses import dataclass

from fake_systems import system_app
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from . import checks
from .collections import MEASURES, pytrec_scores, ranker
from .conftest import COLLECTIONS

#: Seconds each system takes per query, so that a task runs for about a second.
LATENCY_S = 0.08
KILLS = 3


@dataclass
class Kill:
    """What the database and the systems held when a worker was killed."""

    pid: int
    #: task id -> its evaluation, for the tasks the worker was running
    victims: dict[int, int]
    #: evaluation id -> query ids stored before the worker died
    stored: dict[int, list[str]]
    #: (system index, query text) -> requests seen, for the stored queries
    calls: dict[tuple[int, str], int]
    #: task id -> (evaluation id, finished_at) of the tasks already finished
    finished: dict[int, tuple[int, object]]


def test_killed_workers_lose_nothing_and_redo_nothing(workers, dataset_ids, serve):
    ranks = [ranker(COLLECTIONS, seed=s) for s in (21, 22, 23)]
    apps = [system_app(rank, latency_s=LATENCY_S) for rank in ranks]
    system_ids = [workers.register(serve(app), name=f"slow-{i}", max_concurrency=2)
                  for i, app in enumerate(apps)]
    used = [0, 1, 3]  # c0, c1, c3: 24 + 30 + 40 judged queries
    collection_of = {dataset_ids[d]: COLLECTIONS[d] for d in used}
    system_of = {sid: i for i, sid in enumerate(system_ids)}
    database = workers.database

    worker = workers.start_worker(concurrency=2)
    job = workers.create_job(system_ids, [dataset_ids[d] for d in used],
                             measures=MEASURES, top_k=20, concurrency=2, retries=0)

    totals = {d: len(c.query_ids) for d, c in collection_of.items()}
    kills: list[Kill] = []
    for _ in range(KILLS):
        running = checks.wait_until(functools.partial(checks.mid_evaluation, database,
                                                      job["id"], worker.pid, totals),
                                    timeout_s=60,
                                    what=f"worker {worker.pid} in the middle of a task",
                                    logs=workers.logs)
        worker.kill9()
        victims = checks.victims(database, job["id"], worker.pid, running)
        after = {r.id: r for r in checks.tasks(database, job["id"])}
        stored = {e: checks.stored_queries(database, e) for e in victims.values()}
        texts = {}
        for task_id, evaluation_id in victims.items():
            row = after[task_id]
            collection = collection_of[row.dataset_id]
            for query_id in stored[evaluation_id]:
                texts[(system_of[row.system_id], collection.texts[query_id])] = None
        kills.append(Kill(
            worker.pid, victims, stored,
            {(i, t): apps[i].state.calls[f"q:{t}"] for i, t in texts},
            {r.id: (r.evaluation_id, checks.evaluation(database, r.evaluation_id).finished_at)
             for r in after.values() if r.status == "completed"}))
        worker = workers.start_worker(concurrency=2)

    done = workers.wait_job(job["id"], timeout_s=120)

    assert done["status"] == "completed", workers.logs()
    assert done["tasks"] == {"total": 9, "pending": 0, "running": 0, "completed": 9,
                             "failed": 0, "cancelled": 0}
    rows = {r.id: r for r in checks.tasks(database, job["id"])}
    assert all(r.status == "completed" for r in rows.values())
    # One evaluation per task, ever: a resumed task kept its evaluation.
    assert checks.evaluations_of(database, list(rows)) == \
        {r.id: [r.evaluation_id] for r in rows.values()}
    # Every judged query stored exactly once per evaluation.
    for row in rows.values():
        stored = checks.stored_queries(database, row.evaluation_id)
        assert sorted(stored) == collection_of[row.dataset_id].query_ids

    interrupted = {t for kill in kills for t in kill.victims}
    assert all(kill.victims for kill in kills), kills
    # Some kill caught an evaluation with queries stored (each kill waited for one).
    assert any(kill.stored[e] for kill in kills for e in kill.victims.values())
    for kill in kills:
        for task_id, evaluation_id in kill.victims.items():
            # Resumed: same evaluation, claimed again.
            assert rows[task_id].evaluation_id == evaluation_id
            assert rows[task_id].attempts >= 2
        for key, seen in kill.calls.items():
            # A query stored before the kill was never asked again.
            i, text = key
            assert apps[i].state.calls[f"q:{text}"] == seen, (kill.pid, key)
        for task_id, (evaluation_id, finished_at) in kill.finished.items():
            # A finished task was not run again.
            assert rows[task_id].evaluation_id == evaluation_id
            assert checks.evaluation(database, evaluation_id).finished_at == finished_at

    for row in rows.values():
        collection = collection_of[row.dataset_id]
        i = system_of[row.system_id]
        calls = [apps[i].state.calls[f"q:{t}"] for t in collection.texts.values()]
        if row.id in interrupted:
            # Only requests lost in flight were repeated: far fewer than a restart.
            assert min(calls) >= 1 and sum(calls) < 2 * len(calls), (row, calls)
        else:
            assert row.attempts == 1 and calls == [1] * len(calls), (row, calls)
        expected = pytrec_scores(collection, ranks[i])
        stored = workers.query_metrics(row.evaluation_id)
        for query_id, values in expected.items():
            assert stored[query_id]["status"] == "ok"
            for measure, value in values.items():
                assert abs(stored[query_id]["metrics"][measure] - value) < 1e-9


# -- a system that flaps ---------------------------------------------------------------

FAIL_RATE = 0.20   # answers 503
HANG_RATE = 0.05   # answers after the request timeout
TIMEOUT_S = 0.5
RETRIES = 2


def attempt_outcome(salt: str, text: str, attempt: int) -> str:
    """``503``, ``hang`` or ``ok`` for the ``attempt``-th request of ``text``
    (1-based): fixed by salt, text and attempt, whatever order requests come in."""
    u = random.Random(f"{salt}:{text}:{attempt}").random()
    return "503" if u < FAIL_RATE else "hang" if u < FAIL_RATE + HANG_RATE else "ok"


def expected_attempts(salt: str, text: str) -> tuple[int, bool]:
    """(requests the runner sends, answered?) with ``RETRIES`` retries."""
    for attempt in range(1, RETRIES + 2):
        if attempt_outcome(salt, text, attempt) == "ok":
            return attempt, True
    return RETRIES + 1, False


def flapping_app(rank, *, salt: str, texts: set[str], hang_s: float = 1.5) -> FastAPI:
    """A system whose answers to the dataset queries (``texts``) follow
    :func:`attempt_outcome`; anything else (validation probes) is answered."""
    app = FastAPI()
    app.state.calls = Counter()

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.post("/api/v1/retrieve")
    async def retrieve(request: Request):
        body = await request.json()
        text = body["query"]
        outcome = "ok"
        if text in texts:
            app.state.calls[text] += 1
            outcome = attempt_outcome(salt, text, app.state.calls[text])
        if outcome == "503":
            return JSONResponse({"detail": "unavailable"}, status_code=503)
        if outcome == "hang":
            await asyncio.sleep(hang_s)
        hits = rank(text)[:body.get("top_k", 10)]
        return {"results": [{"doc_id": d, "score": s} for d, s in hits]}

    return app


def _failures(salt: str, texts: list[str]) -> int:
    return sum(not expected_attempts(salt, t)[1] for t in texts)


def _hangs(salt: str, texts: list[str]) -> bool:
    return any(attempt_outcome(salt, t, a) == "hang"
               for t in texts for a in range(1, expected_attempts(salt, t)[0] + 1))


def _salt(good: list[str], bad: list[str]) -> str:
    """A salt under which some query of ``bad`` fails all its attempts, none of
    ``good`` does, and some request of each hangs (found by search, so the test
    covers what it says whatever the draws)."""
    for n in range(10_000):
        salt = f"flap-{n}"
        if (_failures(salt, bad) >= 1 and _failures(salt, good) == 0
                and _hangs(salt, good) and _hangs(salt, bad)):
            return salt
    raise AssertionError("no salt gives the outcomes the test needs")


def test_flapping_system_fails_only_its_task_with_exact_retries(workers, dataset_ids, serve):
    good_collection, bad_collection = COLLECTIONS[2], COLLECTIONS[0]  # 20 and 24 queries
    salt = _salt(list(good_collection.texts.values()), list(bad_collection.texts.values()))
    flap_rank, steady_rank = ranker(COLLECTIONS, seed=31), ranker(COLLECTIONS, seed=32)
    texts = set(good_collection.texts.values()) | set(bad_collection.texts.values())
    flapping = flapping_app(flap_rank, salt=salt, texts=texts)
    steady = system_app(steady_rank)
    flapping_id = workers.register(serve(flapping), name="flapping")
    steady_id = workers.register(serve(steady), name="steady")
    workers.start_worker(concurrency=2)
    workers.start_worker(concurrency=2)
    good_id, bad_id = dataset_ids[2], dataset_ids[0]

    job = workers.create_job([flapping_id, steady_id], [good_id, bad_id], measures=MEASURES,
                             top_k=20, timeout_s=TIMEOUT_S, retries=RETRIES,
                             max_failed_fraction=0.0)
    done = workers.wait_job(job["id"], timeout_s=90)

    # Any query failing after its retries fails its task (max_failed_fraction 0);
    # the other tasks carry on and complete.
    assert done["status"] == "failed", workers.logs()
    assert done["tasks"] == {"total": 4, "pending": 0, "running": 0, "completed": 3,
                             "failed": 1, "cancelled": 0}
    rows = {(r.system_id, r.dataset_id): r for r in checks.tasks(workers.database, job["id"])}
    failed = rows[(flapping_id, bad_id)]
    assert failed.status == "failed" and failed.error
    assert all(r.status == "completed" for k, r in rows.items() if k != (flapping_id, bad_id))
    assert checks.evaluations_of(workers.database, [r.id for r in rows.values()]) == \
        {r.id: [r.evaluation_id] for r in rows.values()}

    for (system_id, dataset_id), row in rows.items():
        collection = good_collection if dataset_id == good_id else bad_collection
        stored = workers.query_metrics(row.evaluation_id)
        assert sorted(stored) == collection.query_ids
        if system_id == steady_id:
            assert {q: r["attempts"] for q, r in stored.items()} == \
                {q: 1 for q in collection.query_ids}
            assert all(steady.state.calls[f"q:{t}"] == 1 for t in collection.texts.values())
            expected = pytrec_scores(collection, steady_rank)
        else:
            plan = {q: expected_attempts(salt, t) for q, t in collection.texts.items()}
            # Each query was asked exactly as often as the runner says it tried,
            # which is what the outcomes dictate: retried on 503 and on timeouts.
            assert {q: r["attempts"] for q, r in stored.items()} == \
                {q: n for q, (n, _) in plan.items()}
            assert {q: flapping.state.calls[t] for q, t in collection.texts.items()} == \
                {q: n for q, (n, _) in plan.items()}
            assert {q: r["status"] for q, r in stored.items()} == \
                {q: "ok" if answered else "failed" for q, (_, answered) in plan.items()}
            expected = pytrec_scores(collection, flap_rank, failed=frozenset(
                q for q, (_, answered) in plan.items() if not answered))
            assert checks.evaluation(workers.database, row.evaluation_id).errors_count == \
                sum(not answered for _, answered in plan.values())
        for query_id, values in expected.items():
            for measure, value in values.items():
                assert abs(stored[query_id]["metrics"][measure] - value) < 1e-9
