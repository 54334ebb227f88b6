"""Fixtures for the evaluations tests: the toy collection stored as a dataset,
systems under test served over real HTTP and registered through the API, and
calls to the evaluations API."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence

import pytest

from ragbench.core.io.beir import write_beir
from ragbench.datasets import service as datasets_service
from servers import serve_app  # tests/servers.py (tests/ is on sys.path via its conftest)

from .toy_collection import COLLECTION

TERMINAL = ("completed", "failed", "cancelled")


@pytest.fixture
def serve():
    """``serve(app) -> base URL``; every server stops when the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda app: stack.enter_context(serve_app(app))


@pytest.fixture(scope="session")
def collection_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("collection")
    write_beir(folder, COLLECTION)
    return folder


@pytest.fixture
def database(api):
    return api.app.state.database


@pytest.fixture
def dataset_id(api, settings, database, collection_dir) -> int:
    with database.session() as session:
        return datasets_service.create_dataset_from_folder(
            session, name="synthetic", folder=collection_dir, settings=settings).id


@pytest.fixture
def register(api) -> Callable[..., dict]:
    """``register(base_url, name=..., **fields)``: POST /api/v1/systems, checked."""
    def register(base_url: str, *, name: str = "system", **fields) -> dict:
        response = api.post("/api/v1/systems",
                            json={"name": name, "base_url": base_url, **fields})
        assert response.status_code == 201, response.text
        return response.json()
    return register


@pytest.fixture
def start(api, dataset_id) -> Callable[..., dict]:
    """``start(system_id, **fields)``: POST /api/v1/evaluations, checked (202)."""
    def start(system_id: int, **fields) -> dict:
        response = api.post("/api/v1/evaluations",
                            json={"system_id": system_id, "dataset_id": dataset_id, **fields})
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "pending"
        return response.json()
    return start


@pytest.fixture
def wait(api) -> Callable[..., dict]:
    """``wait(evaluation_id, timeout=, until=)``: poll GET until a status in ``until``."""
    return lambda evaluation_id, **kw: wait_for(api, evaluation_id, **kw)


@pytest.fixture
def query_rows(api) -> Callable[..., dict[str, dict]]:
    """``query_rows(evaluation_id, **params)``: ``{query_id: row}`` of GET .../queries."""
    def query_rows(evaluation_id: int, **params) -> dict[str, dict]:
        response = api.get(f"/api/v1/evaluations/{evaluation_id}/queries",
                           params={"limit": 1000, **params})
        assert response.status_code == 200, response.text
        return {row["query_id"]: row for row in response.json()["items"]}
    return query_rows


def wait_for(api, evaluation_id: int, *, timeout: float = 60.0,
             until: Sequence[str] = TERMINAL) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(f"/api/v1/evaluations/{evaluation_id}").json()
        if body["status"] in until:
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"evaluation {evaluation_id} is still {body['status']}")
        time.sleep(0.05)
