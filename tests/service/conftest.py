"""Fixtures for tests of the service: settings on a temporary data folder, the API
through FastAPI's TestClient (lifespan included: migrations, background services).

``RAGBENCH_TEST_DATABASE_URL`` (set by scripts/test.sh once it has started a
PostgreSQL server) makes every service test also run against PostgreSQL: the
``database_url`` fixture is parametrised over the engines available.
"""

from __future__ import annotations

import os
import uuid

import pytest

ENGINES = ["sqlite"] + (["postgresql"] if os.environ.get("RAGBENCH_TEST_DATABASE_URL") else [])


def _fresh_postgres_database(admin_url: str) -> tuple[str, callable]:
    import sqlalchemy as sa

    name = f"rb_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = admin_url.rsplit("/", 1)[0]

    def drop() -> None:
        from ragbench.database import _databases
        db = _databases.pop(f"{base}/{name}", None)
        if db is not None:
            db.dispose()
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    return f"{base}/{name}", drop


@pytest.fixture(params=ENGINES)
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ragbench.db'}"
        return
    url, drop = _fresh_postgres_database(os.environ["RAGBENCH_TEST_DATABASE_URL"])
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def settings(tmp_path, database_url):
    from ragbench.config import Settings

    return Settings(_env_file=None, environment="test", data_dir=tmp_path / "data",
                    database_url=database_url, health_check_interval_s=0,
                    secret_key="", ssrf_allow=[])


@pytest.fixture
def api(settings):
    """A TestClient over create_app(settings), lifespan started."""
    from fastapi.testclient import TestClient

    from ragbench.main import create_app

    with TestClient(create_app(settings)) as client:
        yield client
