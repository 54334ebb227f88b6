"""The schedules API: create, read (next run times, past jobs), change, pause,
resume, delete; errors that name the field; roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from fastapi.testclient import TestClient

from ragbench.auth.service import create_key
from ragbench.main import create_app
from ragbench.schedules.jobs import fire_due
from ragbench.systems import service as systems_service

from .conftest import World, make_world


@pytest.fixture
def world_api(api, settings, system_url, collection_dir) -> World:
    return make_world(api.app.state.database, settings, system_url, collection_dir)


def body(world: World, **fields) -> dict:
    return {"name": "nightly", "cron": "0 2 * * *", "timezone": "Asia/Seoul",
            "job_template": world.template(), **fields}


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_create_shows_the_next_five_runs_in_both_zones(api, world_api):
    before = datetime.now(UTC)
    created = api.post("/api/v1/schedules", json=body(world_api))
    assert created.status_code == 201, created.text
    schedule = created.json()

    # Asia/Seoul keeps UTC+9 all year: croniter on the local time is the reference
    steps = croniter("0 2 * * *", before.astimezone(ZoneInfo("Asia/Seoul")))
    expected = [steps.get_next(datetime) for _ in range(5)]
    assert [parse(r["utc"]) for r in schedule["upcoming"]] == expected
    assert [r["local"][-6:] for r in schedule["upcoming"]] == ["+09:00"] * 5
    assert [parse(r["local"]).hour for r in schedule["upcoming"]] == [2] * 5
    assert parse(schedule["next_run_at"]) == expected[0]
    assert (schedule["status"], schedule["misfire_policy"], schedule["last_run_at"]) == \
        ("active", "run_once", None)
    assert schedule["job_template"]["system_ids"] == [world_api.system_id]
    assert schedule["jobs"] == [] and schedule["jobs_total"] == 0

    listed = api.get("/api/v1/schedules").json()
    assert [(s["id"], s["name"]) for s in listed] == [(schedule["id"], "nightly")]
    assert api.get(f"/api/v1/schedules/{schedule['id']}").json()["upcoming"] == \
        schedule["upcoming"]


def test_get_lists_past_jobs_newest_first_with_their_status(api, world_api):
    schedule = api.post("/api/v1/schedules", json=body(world_api, cron="0 * * * *",
                                                       timezone="UTC")).json()
    first = parse(schedule["next_run_at"])
    database = api.app.state.database
    # rounds at the next two due times (ahead of the clock), then one with the
    # system archived
    made = [fire_due(database, now=first + timedelta(seconds=1)),
            fire_due(database, now=first + timedelta(hours=1, seconds=1))]
    with database.session() as session:
        systems_service.archive_system(session, system_id=world_api.system_id)
    made.append(fire_due(database, now=first + timedelta(hours=2, seconds=1)))

    detail = api.get(f"/api/v1/schedules/{schedule['id']}").json()

    assert [job["id"] for job in detail["jobs"]] == [ids[0] for ids in reversed(made)]
    assert [parse(job["scheduled_for"]) for job in detail["jobs"]] == \
        [first + timedelta(hours=h) for h in (2, 1, 0)]
    assert detail["jobs"][0]["status"] == "failed"
    assert "archived" in detail["jobs"][0]["error"]
    assert all(job["status"] in ("pending", "running", "completed")
               for job in detail["jobs"][1:])
    assert detail["jobs_total"] == 3
    assert parse(detail["last_run_at"]) == first + timedelta(hours=2)
    assert parse(detail["next_run_at"]) == first + timedelta(hours=3)
    limited = api.get(f"/api/v1/schedules/{schedule['id']}", params={"jobs_limit": 1})
    assert [job["id"] for job in limited.json()["jobs"]] == made[2]


def test_patch_pause_resume_and_delete(api, world_api):
    schedule = api.post("/api/v1/schedules", json=body(world_api)).json()
    path = f"/api/v1/schedules/{schedule['id']}"

    before = datetime.now(UTC)
    patched = api.patch(path, json={"cron": "15 3 * * *", "timezone": "Europe/Berlin"})
    assert patched.status_code == 200, patched.text
    berlin = ZoneInfo("Europe/Berlin")
    expected = croniter("15 3 * * *", before.astimezone(berlin)).get_next(datetime)
    assert parse(patched.json()["next_run_at"]) == expected
    assert [parse(r["local"]).astimezone(berlin).strftime("%H:%M")
            for r in patched.json()["upcoming"]] == ["03:15"] * 5

    template = api.patch(path, json={"misfire_policy": "skip",
                                     "job_template": world_api.template(name="weekly")})
    assert template.json()["next_run_at"] == patched.json()["next_run_at"]
    assert (template.json()["misfire_policy"], template.json()["job_template"]["name"]) == \
        ("skip", "weekly")

    paused = api.post(f"{path}/pause").json()
    assert (paused["status"], paused["next_run_at"], paused["upcoming"]) == ("paused", None, [])
    assert api.post(f"{path}/pause").json()["status"] == "paused"
    resumed = api.post(f"{path}/resume").json()
    assert resumed["status"] == "active" and parse(resumed["next_run_at"]) > before

    deleted = api.delete(path)
    assert deleted.status_code == 200 and deleted.json()["status"] == "archived"
    assert api.get("/api/v1/schedules").json() == []
    assert [s["id"] for s in api.get("/api/v1/schedules",
                                     params={"status": "archived"}).json()] == [schedule["id"]]
    assert api.get(path).json()["next_run_at"] is None
    assert api.patch(path, json={"cron": "0 4 * * *"}).status_code == 409
    assert api.post(f"{path}/resume").status_code == 409
    again = api.post("/api/v1/schedules", json=body(world_api))
    assert again.status_code == 409
    assert again.json()["error"]["details"]["field"] == "name"


def error_field(response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]["details"]["field"]


def test_errors_name_the_field(api, world_api):
    def post(**fields):
        return api.post("/api/v1/schedules", json=body(world_api, **fields))

    assert error_field(post(cron="0 2 * *"), 422) == "cron"
    assert error_field(post(cron="every night"), 422) == "cron"
    assert error_field(post(timezone="Mars/Olympus"), 422) == "timezone"
    assert error_field(post(job_template=world_api.template(system_ids=[world_api.system_id,
                                                                        999])),
                       404) == "job_template.system_ids[1]"
    assert error_field(post(job_template=world_api.template(dataset_ids=[999])),
                       404) == "job_template.dataset_ids[0]"
    assert error_field(post(job_template=world_api.template(
        evaluation_config={"measures": ["nDCG@10", "bogus@3"]})),
        422) == "job_template.evaluation_config.measures[1]"
    policy = post(misfire_policy="sometimes")
    assert policy.status_code == 422
    assert policy.json()["detail"][0]["loc"] == ["body", "misfire_policy"]
    assert api.get("/api/v1/schedules").json() == []  # nothing was stored

    schedule = post().json()
    path = f"/api/v1/schedules/{schedule['id']}"
    assert error_field(api.patch(path, json={"timezone": "Europe/Nowhere"}), 422) == "timezone"
    assert error_field(api.patch(path, json={"cron": "0 0 30 2 *"}), 422) == "cron"
    assert api.get(path).json()["timezone"] == "Asia/Seoul"
    assert api.get("/api/v1/schedules/999").status_code == 404

    with api.app.state.database.session() as session:
        systems_service.archive_system(session, system_id=world_api.system_id)
    assert error_field(post(name="other"), 409) == "job_template.system_ids[0]"


def test_viewers_read_and_editors_change(settings, system_url, collection_dir):
    secured = settings.model_copy(update={"auth_enabled": True, "scheduler_interval_s": 0})
    with TestClient(create_app(secured)) as api:
        world = make_world(api.app.state.database, secured, system_url, collection_dir)
        with api.app.state.database.session() as session:
            _, viewer = create_key(session, name="dashboard", role="viewer")
            _, editor = create_key(session, name="ci", role="editor")
        as_viewer = {"Authorization": f"Bearer {viewer}"}
        as_editor = {"Authorization": f"Bearer {editor}"}

        anonymous = api.get("/api/v1/schedules")
        viewer_creates = api.post("/api/v1/schedules", json=body(world), headers=as_viewer)
        created = api.post("/api/v1/schedules", json=body(world), headers=as_editor)
        path = f"/api/v1/schedules/{created.json()['id']}"
        reads = [api.get(p, headers=as_viewer).status_code for p in ("/api/v1/schedules", path)]
        viewer_changes = [
            api.patch(path, json={"cron": "0 3 * * *"}, headers=as_viewer).status_code,
            api.post(f"{path}/pause", headers=as_viewer).status_code,
            api.post(f"{path}/resume", headers=as_viewer).status_code,
            api.delete(path, headers=as_viewer).status_code]
        editor_changes = [
            api.patch(path, json={"cron": "0 3 * * *"}, headers=as_editor).status_code,
            api.post(f"{path}/pause", headers=as_editor).status_code,
            api.post(f"{path}/resume", headers=as_editor).status_code,
            api.delete(path, headers=as_editor).status_code]

    assert anonymous.status_code == 401
    assert viewer_creates.status_code == 403
    assert created.status_code == 201
    assert reads == [200, 200]
    assert viewer_changes == [403] * 4
    assert editor_changes == [200] * 4
