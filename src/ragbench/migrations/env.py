"""Alembic environment: the URL comes from the caller (``ragbench.database.migrate``)
or, for ``alembic`` on the command line, from RAGBENCH settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from ragbench.tables import metadata

config = context.config


def _url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        from ragbench.config import get_settings
        url = get_settings().sqlalchemy_url
    return url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
