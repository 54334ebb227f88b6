"""Health checks: on demand (stored, trigger manual), their history, and the periodic monitor."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from fastapi.testclient import TestClient

from fake_systems import system_app
from servers import serve_app

from .conftest import RANKINGS, register


def test_a_manual_check_is_stored_and_updates_the_system(api, serve):
    app = system_app(RANKINGS)
    system = register(api, serve(app))
    before = app.state.calls["health"]

    response = api.get(f"/api/v1/systems/{system['id']}/health")

    assert response.status_code == 200
    check = response.json()
    assert check["ok"] is True and check["status_code"] == 200 and check["error"] is None
    assert check["trigger"] == "manual" and check["system_id"] == system["id"]
    assert 0 < check["latency_ms"] < 5000
    assert app.state.calls["health"] == before + 1
    after = api.get(f"/api/v1/systems/{system['id']}").json()
    assert after["last_health_ok"] is True and after["last_health_at"] == check["checked_at"]


def test_a_system_that_went_away_is_reported_unhealthy(api):
    with serve_app(system_app(RANKINGS)) as url:
        system = register(api, url, timeout_s=1)

    check = api.get(f"/api/v1/systems/{system['id']}/health").json()

    assert check["ok"] is False and check["status_code"] is None
    assert check["error"].startswith(f"health: cannot reach {url}/health")
    assert api.get(f"/api/v1/systems/{system['id']}").json()["last_health_ok"] is False


def test_history_is_newest_first_and_limited(api, serve):
    system = register(api, serve(system_app(RANKINGS)))
    made = [api.get(f"/api/v1/systems/{system['id']}/health").json() for _ in range(4)]

    history = api.get(f"/api/v1/systems/{system['id']}/health/history").json()
    two = api.get(f"/api/v1/systems/{system['id']}/health/history", params={"limit": 2}).json()

    assert [h["id"] for h in history] == [h["id"] for h in reversed(made)]
    stamps = [datetime.fromisoformat(h["checked_at"]) for h in history]
    assert stamps == sorted(stamps, reverse=True)
    assert two == history[:2]
    for bad in (0, 1001, "x"):
        response = api.get(f"/api/v1/systems/{system['id']}/health/history",
                           params={"limit": bad})
        assert response.status_code == 422


def test_the_monitor_checks_active_systems_periodically(settings, serve):
    from ragbench.main import create_app

    up_url = serve(system_app(RANKINGS))
    periodic = settings.model_copy(update={"health_check_interval_s": 0.2})

    with TestClient(create_app(periodic)) as api:

        def periodic_rows(system_id: int) -> list[dict]:
            rows = api.get(f"/api/v1/systems/{system_id}/health/history").json()
            return [row for row in rows if row["trigger"] == "periodic"]

        def wait_for(condition, what: str) -> None:
            deadline = time.monotonic() + 10
            while not condition():
                assert time.monotonic() < deadline, f"{what} within 10 s"
                time.sleep(0.05)

        healthy = register(api, up_url, name="up")
        archived = register(api, up_url, name="archived")
        api.delete(f"/api/v1/systems/{archived['id']}")
        with serve_app(system_app(RANKINGS)) as going_url:
            going = register(api, going_url, name="going")
            wait_for(lambda: len(periodic_rows(going["id"])) >= 2, "no periodic checks")
        # The server of "going" has stopped: the next rounds record it as down.
        wait_for(lambda: any(not row["ok"] for row in periodic_rows(going["id"])),
                 "the failure was not recorded")

        assert len(periodic_rows(healthy["id"])) >= 2
        assert all(row["ok"] and row["status_code"] == 200
                   for row in periodic_rows(healthy["id"]))
        failed = next(row for row in periodic_rows(going["id"]) if not row["ok"])
        assert failed["status_code"] is None
        assert failed["error"].startswith(f"health: cannot reach {going_url}/health")
        assert periodic_rows(archived["id"]) == []
        assert api.get(f"/api/v1/systems/{going['id']}").json()["last_health_ok"] is False
        monitor = api.app.state.health_monitor
        assert monitor.rounds >= 3

    rounds = monitor.rounds
    time.sleep(0.5)
    assert monitor.rounds == rounds  # stopped with the service


def test_one_round_checks_every_active_system_once(api, serve):
    from ragbench.systems.jobs import HealthMonitor

    up = system_app(RANKINGS)
    first = register(api, serve(up), name="up")
    with serve_app(system_app(RANKINGS)) as gone_url:
        second = register(api, gone_url, name="gone", timeout_s=1)
    third = register(api, serve(up), name="archived")
    api.delete(f"/api/v1/systems/{third['id']}")
    monitor = HealthMonitor(settings=api.app.state.settings, database=api.app.state.database)
    calls = up.state.calls["health"]

    checked = asyncio.run(monitor.run_once())

    assert checked == 2 and monitor.rounds == 1
    assert up.state.calls["health"] == calls + 1  # the archived one was not checked

    def history(system: dict) -> list[tuple]:
        rows = api.get(f"/api/v1/systems/{system['id']}/health/history").json()
        return [(h["ok"], h["status_code"], h["trigger"]) for h in rows]

    assert history(first) == [(True, 200, "periodic")]
    assert history(second) == [(False, None, "periodic")]
    assert history(third) == []
