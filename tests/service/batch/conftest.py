"""Fixtures for the batch tests: two small synthetic collections stored as
datasets, systems under test served over real HTTP (their rankings derived from
the qrels, so every measure has something to find), and calls to the batch API."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Sequence

import pytest
from servers import (
    serve_app,  # tests/servers.py (tests/ is on sys.path via its conftest)
)
from sqlalchemy import func, select

from ragbench.batch.models import JobTask
from ragbench.core.io.beir import write_beir
from ragbench.core.synthetic import make_collection
from ragbench.database import get_database, migrate, utcnow
from ragbench.datasets import service as datasets_service
from ragbench.evaluations.models import EvaluationQuery
from ragbench.systems.models import System

NUM_DOCS = 60
NUM_QUERIES = 12
SEEDS = (11, 12)
FINISHED = ("completed", "failed", "cancelled")


@pytest.fixture(scope="session")
def collections():
    """Two collections of 12 judged queries each, no query text in both."""
    return [make_collection(seed, num_docs=NUM_DOCS, num_queries=NUM_QUERIES) for seed in SEEDS]


@pytest.fixture(scope="session")
def collection_dirs(tmp_path_factory, collections):
    folders = []
    for seed, collection in zip(SEEDS, collections):
        folder = tmp_path_factory.mktemp(f"collection-{seed}")
        write_beir(folder, collection)
        folders.append(folder)
    return folders


@pytest.fixture(scope="session")
def queries(collections) -> dict[str, tuple[int, str]]:
    """query text -> (collection index, query id)."""
    out = {}
    for index, collection in enumerate(collections):
        for qid, text in zip(collection.queries.ids.to_pylist(),
                             collection.queries.texts.to_pylist()):
            assert text not in out
            out[text] = (index, qid)
    return out


def ranker(collections, queries, quality: int) -> Callable[[str], list[tuple[str, float]]]:
    """A system's ranking: its top 20 of the corpus by ``quality * grade + noise``
    (noise seeded by quality and query, so the same query always gets the same
    ranking)."""
    judged = [c.qrels.to_dict() for c in collections]

    def rank(text: str) -> list[tuple[str, float]]:
        if text not in queries:
            return []
        index, qid = queries[text]
        rng = random.Random(f"{quality}:{index}:{qid}")
        grades = judged[index].get(qid, {})
        scored = [(f"d{i}", round(quality * grades.get(f"d{i}", 0) + rng.random() * 3, 6))
                  for i in range(1, NUM_DOCS + 1)]
        scored.sort(key=lambda pair: (-pair[1], pair[0]))
        return scored[:20]
    return rank


#: ragbench measure -> pytrec_eval measure
PYTREC = {"nDCG@10": "ndcg_cut_10", "AP": "map", "P@5": "P_5"}


def pytrec_metrics(collection, rank: Callable[[str], list[tuple[str, float]]],
                   query_ids: Sequence[str]) -> dict[str, dict[str, float]]:
    """``{query id: {ragbench measure: value}}`` by pytrec_eval over ``rank``'s answers."""
    import pytrec_eval

    texts = dict(zip(collection.queries.ids.to_pylist(), collection.queries.texts.to_pylist()))
    run = {q: dict(rank(texts[q])) for q in query_ids}
    scores = pytrec_eval.RelevanceEvaluator(collection.qrels.to_dict(),
                                            set(PYTREC.values())).evaluate(run)
    return {q: {m: scores[q][name] for m, name in PYTREC.items()} for q in query_ids}


def stored_metrics(database, evaluation_id: int) -> dict[str, dict[str, float]]:
    with database.session() as session:
        return dict(session.execute(
            select(EvaluationQuery.query_id, EvaluationQuery.metrics)
            .where(EvaluationQuery.evaluation_id == evaluation_id)).all())


@pytest.fixture
def serve():
    """``serve(app) -> base URL``; every server stops when the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda app: stack.enter_context(serve_app(app))


def add_system(database, *, name: str, base_url: str, max_concurrency: int = 4,
               timeout_s: float = 5.0) -> int:
    """A registered system row (registration's own checks are the systems tests')."""
    with database.session() as session:
        system = System(name=name, base_url=base_url, adapter="ragbench", adapter_config={},
                        timeout_s=timeout_s, max_concurrency=max_concurrency, description="",
                        tags=[], supports_embed=False, validation={}, probe={},
                        status="active", created_at=utcnow(), updated_at=utcnow())
        session.add(system)
        session.flush()
        return system.id


def add_datasets(database, settings, collection_dirs) -> list[int]:
    with database.session() as session:
        return [datasets_service.create_dataset_from_folder(
            session, name=f"synthetic-{seed}", folder=folder, settings=settings).id
            for seed, folder in zip(SEEDS, collection_dirs)]


@pytest.fixture
def database(settings):
    """The migrated database of ``settings`` (the same object the ``api`` app uses);
    without ``api`` no engine runs, so tasks run only when a test runs them."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.sqlalchemy_url)
    return get_database(settings.sqlalchemy_url)


@pytest.fixture
def dataset_ids(settings, database, collection_dirs) -> list[int]:
    return add_datasets(database, settings, collection_dirs)


@pytest.fixture
def system(serve, database, collections, queries):
    """``system(name, quality=, **system_app options) -> (app, system_id)``."""
    from fake_systems import system_app

    def make(name: str, *, quality: int = 3, max_concurrency: int = 4,
             timeout_s: float = 5.0, **options):
        app = system_app(ranker(collections, queries, quality), **options)
        return app, add_system(database, name=name, base_url=serve(app),
                               max_concurrency=max_concurrency, timeout_s=timeout_s)
    return make


def create_job(api, *, system_ids: Sequence[int], dataset_ids: Sequence[int],
               name: str = "nightly", **config) -> dict:
    response = api.post("/api/v1/batch/jobs", json={
        "name": name, "system_ids": list(system_ids), "dataset_ids": list(dataset_ids),
        "evaluation_config": config})
    assert response.status_code == 201, response.text
    return response.json()


def wait_job(api, job_id: int, *, timeout: float = 60.0,
             until: Callable[[dict], bool] | None = None) -> dict:
    """Poll GET /jobs/{id} until ``until(job)`` (default: the job is finished)."""
    until = until or (lambda job: job["status"] in FINISHED)
    deadline = time.monotonic() + timeout
    while True:
        job = api.get(f"/api/v1/batch/jobs/{job_id}").json()
        if until(job):
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"batch job {job_id} is still {job['status']}: {job}")
        time.sleep(0.05)


def progress(api, job_id: int) -> dict:
    response = api.get(f"/api/v1/batch/jobs/{job_id}/progress")
    assert response.status_code == 200, response.text
    return response.json()


def stored_rows(database, evaluation_id: int) -> dict[str, int]:
    """query id -> rows stored for it."""
    with database.session() as session:
        return dict(session.execute(
            select(EvaluationQuery.query_id, func.count())
            .where(EvaluationQuery.evaluation_id == evaluation_id)
            .group_by(EvaluationQuery.query_id)).all())


def tasks_of(database, job_id: int) -> list[JobTask]:
    with database.session() as session:
        return list(session.scalars(select(JobTask).where(JobTask.job_id == job_id)
                                    .order_by(JobTask.id)))


def calls_for(app, collection, prefix: str = "q:") -> dict[str, int]:
    """query id -> retrieve calls ``app`` saw for that query's text."""
    return {qid: app.state.calls[f"{prefix}{text}"]
            for qid, text in zip(collection.queries.ids.to_pylist(),
                                 collection.queries.texts.to_pylist())}
