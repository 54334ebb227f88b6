"""Fixtures for the systems tests: real HTTP servers for the systems under test."""

from __future__ import annotations

import contextlib

import pytest

from servers import serve_app  # tests/servers.py (tests/ is on sys.path via its conftest)

#: The default settings.probe_queries, each with a fixed ranking.
RANKINGS = {
    "what is retrieval": [("d1", 3.5), ("d2", 2.25), ("d3", 1.0)],
    "evaluation of search systems": [("d2", 0.9), ("d4", 0.5)],
    "neural ranking models": [("d5", 12.0)],
}


@pytest.fixture
def serve():
    """``serve(app) -> base URL``; every server stops when the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda app: stack.enter_context(serve_app(app))


@pytest.fixture
def client_settings(tmp_path):
    """Settings for tests that call systems without the service (one engine is enough)."""
    from ragbench.config import Settings

    return Settings(_env_file=None, environment="test", data_dir=tmp_path / "data",
                    health_check_interval_s=0)


def register(api, base_url: str, *, name: str = "bm25", expect: int = 201, **fields) -> dict:
    """POST /api/v1/systems and check the status code; the response body."""
    response = api.post("/api/v1/systems", json={"name": name, "base_url": base_url, **fields})
    assert response.status_code == expect, response.text
    return response.json()


def checks_by_name(report: dict) -> dict[str, dict]:
    return {check["name"]: check for check in report["checks"]}
