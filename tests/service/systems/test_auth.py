"""Roles on the systems API: viewers read, editors register and change."""

from __future__ import annotations

from fastapi.testclient import TestClient

from fake_systems import system_app

from .conftest import RANKINGS


def test_viewers_read_and_editors_write(settings, serve):
    from ragbench.auth.service import create_key
    from ragbench.main import create_app

    url = serve(system_app(RANKINGS))
    secured = settings.model_copy(update={"auth_enabled": True})
    with TestClient(create_app(secured)) as api:
        with api.app.state.database.session() as session:
            _, viewer = create_key(session, name="dashboard", role="viewer")
            _, editor = create_key(session, name="ci", role="editor")
        body = {"name": "bm25", "base_url": url}

        anonymous = api.post("/api/v1/systems", json=body)
        as_viewer = api.post("/api/v1/systems", json=body,
                             headers={"Authorization": f"Bearer {viewer}"})
        viewer_validates = api.post("/api/v1/systems/validate", json=body,
                                    headers={"Authorization": f"Bearer {viewer}"})
        as_editor = api.post("/api/v1/systems", json=body, headers={"X-API-Key": editor})
        system_id = as_editor.json()["id"]
        listed = api.get("/api/v1/systems", headers={"Authorization": f"Bearer {viewer}"})
        viewer_archives = api.delete(f"/api/v1/systems/{system_id}",
                                     headers={"Authorization": f"Bearer {viewer}"})
        viewer_checks = api.get(f"/api/v1/systems/{system_id}/health",
                                headers={"Authorization": f"Bearer {viewer}"})
        anonymous_reads = api.get("/api/v1/systems")

    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert as_viewer.status_code == 403
    assert as_viewer.json()["error"]["message"] == (
        "this needs the editor role; key 'dashboard' is viewer")
    assert viewer_validates.status_code == 403
    assert as_editor.status_code == 201
    assert listed.status_code == 200 and [s["name"] for s in listed.json()] == ["bm25"]
    assert viewer_archives.status_code == 403
    assert viewer_checks.status_code == 200 and viewer_checks.json()["ok"] is True
    assert anonymous_reads.status_code == 401
