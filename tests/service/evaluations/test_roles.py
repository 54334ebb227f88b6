"""Roles on the evaluations API: viewers read, editors start and cancel."""

from __future__ import annotations

from fastapi.testclient import TestClient

from fake_systems import system_app
from ragbench.auth.service import create_key
from ragbench.datasets import service as datasets_service
from ragbench.main import create_app

from .conftest import wait_for
from .toy_collection import RANKINGS


def test_viewers_read_and_editors_start_and_cancel(settings, serve, collection_dir):
    url = serve(system_app(RANKINGS))
    secured = settings.model_copy(update={"auth_enabled": True})
    with TestClient(create_app(secured)) as api:
        with api.app.state.database.session() as session:
            _, viewer = create_key(session, name="dashboard", role="viewer")
            _, editor = create_key(session, name="ci", role="editor")
            dataset_id = datasets_service.create_dataset_from_folder(
                session, name="synthetic", folder=collection_dir, settings=secured).id
        as_viewer = {"Authorization": f"Bearer {viewer}"}
        as_editor = {"Authorization": f"Bearer {editor}"}
        system = api.post("/api/v1/systems", json={"name": "bm25", "base_url": url},
                          headers=as_editor).json()
        body = {"system_id": system["id"], "dataset_id": dataset_id}

        anonymous = api.post("/api/v1/evaluations", json=body)
        viewer_starts = api.post("/api/v1/evaluations", json=body, headers=as_viewer)
        started = api.post("/api/v1/evaluations", json=body, headers=as_editor)
        evaluation_id = started.json()["id"]
        api.headers.update(as_viewer)
        done = wait_for(api, evaluation_id)
        reads = [api.get(path).status_code for path in (
            "/api/v1/evaluations", f"/api/v1/evaluations/{evaluation_id}",
            f"/api/v1/evaluations/{evaluation_id}/queries",
            f"/api/v1/evaluations/{evaluation_id}/run")]
        viewer_cancels = api.post(f"/api/v1/evaluations/{evaluation_id}/cancel")
        editor_cancels = api.post(f"/api/v1/evaluations/{evaluation_id}/cancel",
                                  headers=as_editor)

    assert anonymous.status_code == 401
    assert viewer_starts.status_code == 403
    assert started.status_code == 202 and done["status"] == "completed"
    assert reads == [200, 200, 200, 200]
    assert viewer_cancels.status_code == 403
    assert editor_cancels.status_code == 409  # allowed, but it is completed
