"""API keys for ragbench itself: roles, revocation, the CLI, and loopback-only
binding while auth is off."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from ragbench.auth.service import create_key
from ragbench.config import Settings
from ragbench.main import create_app


def test_admins_manage_keys_and_a_revoked_key_stops_working(settings):
    secured = settings.model_copy(update={"auth_enabled": True})
    with TestClient(create_app(secured)) as api:
        with api.app.state.database.session() as session:
            _, admin = create_key(session, name="ops", role="admin")
            _, editor = create_key(session, name="ci", role="editor")
        as_admin = {"Authorization": f"Bearer {admin}"}

        assert api.get("/api/v1/keys").status_code == 401
        assert api.get("/api/v1/keys", headers={"X-API-Key": editor}).status_code == 403
        made = api.post("/api/v1/keys", json={"name": "dashboard", "role": "viewer"},
                        headers=as_admin)
        assert made.status_code == 201
        viewer = made.json()["key"]
        assert viewer.startswith("rbk_") and made.json()["prefix"] == viewer[:10]

        listed = api.get("/api/v1/keys", headers=as_admin).json()
        assert [(k["name"], k["role"]) for k in listed] == [
            ("ops", "admin"), ("ci", "editor"), ("dashboard", "viewer")]
        assert all("key" not in k for k in listed)  # only prefixes are ever shown

        as_viewer = {"Authorization": f"Bearer {viewer}"}
        assert api.get("/api/v1/systems", headers=as_viewer).status_code == 200
        revoked = api.delete(f"/api/v1/keys/{made.json()['id']}", headers=as_admin)
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        denied = api.get("/api/v1/systems", headers=as_viewer)
        assert denied.status_code == 401
        assert denied.json()["error"]["code"] == "unauthorized"
        bad_role = api.post("/api/v1/keys", json={"name": "x", "role": "root"},
                            headers=as_admin)
        assert bad_role.status_code == 422


def test_without_auth_only_loopback_may_be_bound():
    settings = Settings(_env_file=None, auth_enabled=False)
    for host in ("127.0.0.1", "::1", "localhost"):
        settings.check_bind(host)
    with pytest.raises(ValueError, match="auth is off"):
        settings.check_bind("0.0.0.0")
    Settings(_env_file=None, auth_enabled=True).check_bind("0.0.0.0")
    with pytest.raises(ValueError, match="production requires auth"):
        Settings(_env_file=None, environment="production", auth_enabled=False)


def _cli(args, data_dir, **env):
    return subprocess.run([sys.executable, "-m", "ragbench.cli", *args], capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "RAGBENCH_DATA_DIR": str(data_dir),
                               "RAGBENCH_DATABASE_URL": "", **env})


def test_the_cli_creates_a_key_the_api_accepts_and_serve_refuses_a_public_bind(tmp_path):
    made = _cli(["keys", "create", "--name", "ci", "--role", "editor"], tmp_path)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("rbk_")
    listed = _cli(["keys", "list"], tmp_path)
    assert "editor" in listed.stdout and key not in listed.stdout

    settings = Settings(_env_file=None, data_dir=tmp_path, auth_enabled=True)
    with TestClient(create_app(settings)) as api:
        ok = api.post("/api/v1/systems/validate", json={"base_url": "ftp://x"},
                      headers={"X-API-Key": key})
        assert ok.status_code == 200 and ok.json()["failed"] == ["url"]

    refused = _cli(["serve", "--host", "0.0.0.0", "--port", "1"], tmp_path)
    assert refused.returncode == 2
    assert "auth is off" in refused.stderr
