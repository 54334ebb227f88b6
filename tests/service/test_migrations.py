"""The Alembic migrations build exactly the schema the models describe, on SQLite and
PostgreSQL, and migrating twice is harmless."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from ragbench.database import migrate
from ragbench.tables import metadata


def test_migrated_schema_equals_the_models(database_url):
    migrate(database_url)
    migrate(database_url)  # already at head: nothing to do, nothing fails
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert diff == []
    assert {"systems", "health_checks", "datasets", "evaluations", "evaluation_queries",
            "comparisons", "api_keys", "alembic_version"} <= tables
