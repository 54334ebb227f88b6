"""Fixtures for the schedules tests: a migrated database with one registered system
(a real HTTP server) and one stored dataset, and schedules made through the service
at a chosen "now"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pytest
from sqlalchemy import func, select

from fake_systems import system_app
from ragbench.batch.models import Job
from ragbench.core.io.beir import write_beir
from ragbench.core.synthetic import make_collection
from ragbench.database import Database, get_database, migrate
from ragbench.datasets import service as datasets_service
from ragbench.schedules import service as schedules_service
from ragbench.schedules.schemas import ScheduleCreate
from ragbench.systems import service as systems_service
from ragbench.systems.schemas import SystemCreate
from servers import serve_app  # tests/servers.py (tests/ is on sys.path via its conftest)

COLLECTION = make_collection(5, num_docs=30, num_queries=4)
DOC_IDS = COLLECTION.corpus.ids.to_pylist()


def ranking(query: str) -> list[tuple[str, float]]:
    """The same three documents for every query, best first."""
    return [(doc_id, 3.0 - i) for i, doc_id in enumerate(DOC_IDS[:3])]


@pytest.fixture(scope="module")
def system_url():
    with serve_app(system_app(ranking)) as url:
        yield url


@pytest.fixture(scope="session")
def collection_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("schedules-collection")
    write_beir(folder, COLLECTION)
    return folder


@dataclass
class World:
    database: Database
    system_id: int
    dataset_id: int

    def template(self, **fields) -> dict:
        return {"name": "nightly", "system_ids": [self.system_id],
                "dataset_ids": [self.dataset_id],
                "evaluation_config": {"measures": ["nDCG@10"], "top_k": 10}, **fields}

    def jobs(self, schedule_id: int) -> list[Job]:
        """The schedule's jobs, oldest due time first."""
        with self.database.session() as session:
            return list(session.scalars(select(Job).where(Job.schedule_id == schedule_id)
                                        .order_by(Job.scheduled_for)))

    def job_count(self, schedule_id: int, scheduled_for: datetime | None = None) -> int:
        query = select(func.count()).select_from(Job).where(Job.schedule_id == schedule_id)
        if scheduled_for is not None:
            query = query.where(Job.scheduled_for == scheduled_for)
        with self.database.session() as session:
            return session.scalar(query)


def make_world(database: Database, settings, system_url: str, collection_dir) -> World:
    with database.session() as session:
        system = systems_service.register_system(
            session, data=SystemCreate(name="bm25", base_url=system_url), settings=settings)
        dataset = datasets_service.create_dataset_from_folder(
            session, name="toy", folder=collection_dir, settings=settings)
        return World(database=database, system_id=system.id, dataset_id=dataset.id)


@pytest.fixture
def world(settings, system_url, collection_dir) -> World:
    """A migrated database (no server running on it) with a system and a dataset."""
    migrate(settings.sqlalchemy_url)
    database = get_database(settings.sqlalchemy_url)
    return make_world(database, settings, system_url, collection_dir)


@pytest.fixture
def schedule(world) -> Callable[..., int]:
    """``schedule(cron, now=, timezone=, misfire_policy=, name=)``: a schedule created
    through the service at ``now``; its id."""
    counter = iter(range(1_000))

    def make(cron: str, *, now: datetime, timezone: str = "UTC",
             misfire_policy: str = "run_once", name: str | None = None, **template) -> int:
        data = ScheduleCreate(name=name or f"schedule-{next(counter)}", cron=cron,
                              timezone=timezone, misfire_policy=misfire_policy,
                              job_template=world.template(**template))
        with world.database.session() as session:
            return schedules_service.create_schedule(session, data=data, now=now).id
    return make
