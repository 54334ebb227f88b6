"""``create_app(settings)``: the ragbench REST API.

The lifespan migrates the database (Alembic), then starts the background services
(periodic health checks, the evaluation executor) and stops them on shutdown.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ragbench import __version__
from ragbench.config import Settings, get_settings
from ragbench.database import get_database, migrate
from ragbench.errors import install_handler

DESCRIPTION = """\
Evaluate retrieval and RAG systems over HTTP with trec_eval-exact measures and real
paired statistics. Register a system (it is validated first), upload a dataset, start
an evaluation, compare systems. See the README for the `ragbench` system contract.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    database = get_database(settings.sqlalchemy_url)

    from ragbench.batch.engine import make_engine
    from ragbench.evaluations.jobs import EvaluationExecutor
    from ragbench.schedules.jobs import Scheduler
    from ragbench.systems.jobs import HealthMonitor

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(migrate, settings.sqlalchemy_url)
        app.state.executor = EvaluationExecutor(settings=settings, database=database)
        app.state.health_monitor = HealthMonitor(settings=settings, database=database)
        app.state.batch_engine = make_engine(settings=settings, database=database)
        app.state.scheduler = Scheduler(settings=settings, database=database,
                                        engine=app.state.batch_engine)
        await app.state.executor.start()
        await app.state.health_monitor.start()
        await app.state.batch_engine.start()
        await app.state.scheduler.start()
        try:
            yield
        finally:
            await app.state.scheduler.stop()
            await app.state.batch_engine.stop()
            await app.state.health_monitor.stop()
            await app.state.executor.stop()

    app = FastAPI(title="ragbench", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan)
    app.state.settings = settings
    app.state.database = database
    install_handler(app)

    from ragbench.auth.router import router as keys_router
    from ragbench.batch.router import router as batch_router
    from ragbench.comparisons.router import router as comparisons_router
    from ragbench.datasets.router import router as datasets_router
    from ragbench.evaluations.router import router as evaluations_router
    from ragbench.schedules.router import router as schedules_router
    from ragbench.systems.router import router as systems_router

    for router in (systems_router, datasets_router, evaluations_router,
                   comparisons_router, batch_router, schedules_router, keys_router):
        app.include_router(router)

    @app.get("/health", tags=["service"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
