"""Listing, reading, changing (validated again) and archiving systems."""

from __future__ import annotations

from datetime import datetime

import pytest

from fake_systems import system_app

from .conftest import RANKINGS, checks_by_name, register


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_list_filters_by_status_and_tag_and_hides_archived(api, serve):
    url = serve(system_app(RANKINGS))
    a = register(api, url, name="a", tags=["sparse"])
    b = register(api, url, name="b", tags=["dense"])
    c = register(api, url, name="c", tags=["sparse", "tuned"])

    archived = api.delete(f"/api/v1/systems/{a['id']}")

    assert archived.status_code == 200
    assert archived.json()["status"] == "archived" and archived.json()["archived_at"]

    def names(**params) -> list[str]:
        response = api.get("/api/v1/systems", params=params)
        assert response.status_code == 200
        return [s["name"] for s in response.json()]

    assert names() == ["b", "c"]
    assert names(include_archived="true") == ["a", "b", "c"]
    assert names(status="archived") == ["a"]
    assert names(status="active") == ["b", "c"]
    assert names(tag="sparse") == ["c"]
    assert names(tag="sparse", include_archived="true") == ["a", "c"]
    assert names(tag="nothing") == []
    assert api.get("/api/v1/systems", params={"status": "gone"}).status_code == 422
    # Still readable by id, with its history; archiving twice changes nothing.
    assert api.get(f"/api/v1/systems/{a['id']}").json()["status"] == "archived"
    again = api.delete(f"/api/v1/systems/{a['id']}").json()
    assert again["archived_at"] == archived.json()["archived_at"]
    assert b["id"] < c["id"]


def test_an_archived_system_keeps_its_name_refuses_changes_and_cannot_be_evaluated(api, serve):
    from ragbench.errors import Conflict
    from ragbench.systems import service

    url = serve(system_app(RANKINGS))
    system = register(api, url, name="old")
    api.get(f"/api/v1/systems/{system['id']}/health")
    api.delete(f"/api/v1/systems/{system['id']}")

    assert api.post("/api/v1/systems", json={"name": "old", "base_url": url}).status_code == 409
    patched = api.patch(f"/api/v1/systems/{system['id']}", json={"description": "x"})
    assert patched.status_code == 409
    history = api.get(f"/api/v1/systems/{system['id']}/health/history").json()
    assert len(history) == 1
    with api.app.state.database.session() as session, pytest.raises(Conflict) as refused:
        service.get_active_system(session, system_id=system["id"])
    assert "archived" in refused.value.message


def test_unknown_ids_are_404(api):
    for method, path in [("get", "/api/v1/systems/999"), ("delete", "/api/v1/systems/999"),
                         ("get", "/api/v1/systems/999/health"),
                         ("get", "/api/v1/systems/999/health/history")]:
        response = getattr(api, method)(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    assert api.patch("/api/v1/systems/999", json={"description": "x"}).status_code == 404


def test_patch_of_how_a_system_is_reached_is_validated_before_saving(api, serve):
    good = system_app(RANKINGS)
    system = register(api, serve(good), name="s")
    broken_url = serve(system_app(RANKINGS, mode="error500"))
    moved = system_app(RANKINGS, embedding=None)
    moved_url = serve(moved)

    refused = api.patch(f"/api/v1/systems/{system['id']}", json={"base_url": broken_url})

    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["failed"] == ["endpoints"]
    unchanged = api.get(f"/api/v1/systems/{system['id']}").json()
    assert unchanged["base_url"] == system["base_url"]
    assert unchanged["validation"] == system["validation"]

    accepted = api.patch(f"/api/v1/systems/{system['id']}",
                         json={"base_url": moved_url, "description": "moved"})

    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["base_url"] == moved_url and body["description"] == "moved"
    assert body["supports_embed"] is False  # the new server has no embed endpoint
    assert checks_by_name(body["validation"])["endpoints"]["items"]["embed"] == "skipped"
    assert moved.state.calls["retrieve"] == 4
    assert _at(body["validation"]["checked_at"]) > _at(system["validation"]["checked_at"])


def test_patch_of_other_fields_does_not_call_the_system(api, serve):
    app = system_app(RANKINGS)
    system = register(api, serve(app), name="s")
    calls = dict(app.state.calls)

    response = api.patch(f"/api/v1/systems/{system['id']}", json={
        "name": "renamed", "description": "d", "tags": ["x"], "timeout_s": 3,
        "max_concurrency": 2})

    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["description"], body["tags"]) == ("renamed", "d", ["x"])
    assert (body["timeout_s"], body["max_concurrency"]) == (3.0, 2)
    assert dict(app.state.calls) == calls
    assert _at(body["updated_at"]) > _at(system["updated_at"])


def test_patch_refuses_a_taken_name_and_null_for_required_fields(api, serve):
    url = serve(system_app(RANKINGS))
    register(api, url, name="a")
    b = register(api, url, name="b")

    assert api.patch(f"/api/v1/systems/{b['id']}", json={"name": "a"}).status_code == 409
    nulled = api.patch(f"/api/v1/systems/{b['id']}", json={"base_url": None})
    assert nulled.status_code == 422
    assert nulled.json()["error"]["details"] == {"field": "base_url"}


def test_patch_to_the_generic_json_adapter_needs_its_config(api, serve):
    url = serve(system_app(RANKINGS))
    system = register(api, url, name="s")

    refused = api.patch(f"/api/v1/systems/{system['id']}", json={"adapter": "generic-json"})
    accepted = api.patch(f"/api/v1/systems/{system['id']}", json={
        "adapter": "generic-json",
        "adapter_config": {"path": "/api/v1/retrieve", "results_path": "results",
                           "doc_id_path": "doc_id", "health_path": "/health"}})

    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["field"] == "adapter_config.path"
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["adapter"] == "generic-json"
    assert accepted.json()["adapter_config"] == {
        "path": "/api/v1/retrieve", "results_path": "results", "doc_id_path": "doc_id",
        "health_path": "/health"}
