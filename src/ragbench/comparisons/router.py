"""``/api/v1/comparisons``: stored multi-system comparisons and per-dataset leaderboards."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from ragbench.comparisons import service
from ragbench.comparisons.schemas import (ComparisonCreate, ComparisonRead, ComparisonSummary,
                                          Correction, LeaderboardRead, Test)
from ragbench.dependencies import Editor, SessionDep, SettingsDep, Viewer

router = APIRouter(prefix="/api/v1/comparisons", tags=["comparisons"])


@router.post("/systems", status_code=status.HTTP_201_CREATED, response_model=ComparisonRead)
def compare_systems(body: ComparisonCreate, session: SessionDep, settings: SettingsDep,
                    _: Editor):
    """Compare systems on their latest completed evaluations of one dataset version."""
    return service.create_comparison(session, settings=settings, **body.model_dump())


@router.get("", response_model=list[ComparisonSummary])
def list_comparisons(session: SessionDep, _: Viewer, dataset_id: int | None = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                     offset: Annotated[int, Query(ge=0)] = 0):
    return service.list_comparisons(session, dataset_id=dataset_id, limit=limit,
                                    offset=offset)


@router.get("/leaderboard/{dataset_id}", response_model=LeaderboardRead)
async def leaderboard(dataset_id: int, request: Request, _: Viewer,
                      metric: Annotated[str, Query(min_length=1, max_length=100)] = "nDCG@10",
                      k: Annotated[int | None, Query(ge=1, le=100_000)] = None,
                      test: Test = "t", correction: Correction = "holm",
                      alpha: Annotated[float, Query(gt=0.0, lt=1.0)] = 0.05):
    """All active systems with a completed evaluation on the dataset, ranked (cached)."""
    # The hot read of the dashboards. A body still fresh (see comparisons.cache) is
    # served from memory, with no database read and no worker-thread hop. Otherwise one
    # hop for the database work instead of one per sync dependency (session, settings)
    # saves a quarter of the request's CPU time (~0.6 of 2.5 ms); the body comes
    # validated and encoded from the cache, so it is returned as is.
    database, settings = request.app.state.database, request.app.state.settings
    body = service.fresh_leaderboard_json(database.engine, dataset_id=dataset_id,
                                          metric=metric, k=k, test=test,
                                          correction=correction, alpha=alpha)
    if body is not None:
        return Response(body, media_type="application/json")

    def render() -> bytes:
        with database.session() as session:
            return service.leaderboard_json(session, settings=settings, dataset_id=dataset_id,
                                            metric=metric, k=k, test=test,
                                            correction=correction, alpha=alpha)

    return Response(await run_in_threadpool(render), media_type="application/json")


@router.get("/{comparison_id}", response_model=ComparisonRead)
def get_comparison(comparison_id: int, session: SessionDep, _: Viewer):
    return service.get_comparison(session, comparison_id=comparison_id)
