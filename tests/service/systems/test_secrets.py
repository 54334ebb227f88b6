"""A system's API key: sent as a Bearer token, encrypted at rest, never shown or logged."""

from __future__ import annotations

import logging
import stat

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from fake_systems import system_app

from .conftest import RANKINGS, checks_by_name, register

KEY = "sk-live-7f3a9c1e5b2d4a60"
NEW_KEY = "sk-live-0b1c2d3e4f5a6b7c"


def _database_text(api, settings) -> bytes:
    """Every value of every table, plus the raw file (and WAL) on SQLite."""
    engine = api.app.state.database.engine
    dump = []
    with engine.connect() as conn:
        for table in sa.inspect(engine).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                dump.append(repr(tuple(row)))
    data = "\n".join(dump).encode()
    if settings.is_sqlite:
        path = settings.sqlalchemy_url.split("///", 1)[1]
        for suffix in ("", "-wal"):
            try:
                with open(path + suffix, "rb") as f:
                    data += f.read()
            except FileNotFoundError:
                pass
    return data


def test_the_key_is_sent_as_bearer_and_never_shown_stored_or_logged(api, settings, serve,
                                                                   caplog):
    caplog.set_level(logging.DEBUG)
    app = system_app(RANKINGS, api_key=KEY)
    url = serve(app)
    bodies = []

    created = api.post("/api/v1/systems", json={"name": "s", "base_url": url, "api_key": KEY})
    bodies.append(created.text)
    system = created.json()
    bodies.append(api.get(f"/api/v1/systems/{system['id']}").text)
    bodies.append(api.get("/api/v1/systems").text)
    bodies.append(api.get(f"/api/v1/systems/{system['id']}/health").text)
    bodies.append(api.post("/api/v1/systems/validate",
                           json={"base_url": url, "api_key": KEY}).text)
    bodies.append(api.patch(f"/api/v1/systems/{system['id']}", json={"tags": ["t"]}).text)
    bodies.append(api.delete(f"/api/v1/systems/{system['id']}").text)

    assert created.status_code == 201
    assert system["has_api_key"] is True and system["api_key_masked"] == "sk****"
    # Every request to the system carried the key, and only the key.
    assert app.state.authorizations and set(app.state.authorizations) == {f"Bearer {KEY}"}
    for body in bodies:
        assert KEY not in body
    stored = _database_text(api, settings)
    assert KEY.encode() not in stored
    with api.app.state.database.session() as session:
        from ragbench.systems.models import System
        token = session.get(System, system["id"]).api_key_encrypted
    assert token.encode() in stored  # the dump holds the row, encrypted
    assert KEY not in caplog.text
    assert "HTTP Request" in caplog.text  # the client's own log was captured


def test_a_wrong_or_missing_key_fails_connectivity_without_retrying(api, serve):
    app = system_app(RANKINGS, api_key=KEY)
    url = serve(app)

    missing = api.post("/api/v1/systems", json={"name": "s", "base_url": url})
    wrong = api.post("/api/v1/systems", json={"name": "s", "base_url": url, "api_key": "nope"})

    for response in (missing, wrong):
        assert response.status_code == 422
        detail = checks_by_name(response.json()["error"]["details"])["connectivity"]["detail"]
        assert detail.startswith(f"health: HTTP 401 from {url}/health")
    assert app.state.calls["health"] == 2


def test_the_key_can_be_replaced_and_removed(api, serve):
    old, new = system_app(RANKINGS, api_key=KEY), system_app(RANKINGS, api_key=NEW_KEY)
    system = register(api, serve(old), api_key=KEY)
    new_url = serve(new)

    # A new base_url validates with the stored key, which the new server refuses...
    refused = api.patch(f"/api/v1/systems/{system['id']}", json={"base_url": new_url})
    # ...and with the new key it passes.
    moved = api.patch(f"/api/v1/systems/{system['id']}",
                      json={"base_url": new_url, "api_key": NEW_KEY})
    open_url = serve(system_app(RANKINGS))
    opened = api.patch(f"/api/v1/systems/{system['id']}",
                       json={"base_url": open_url, "api_key": None})

    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["failed"] == ["connectivity"]
    assert moved.status_code == 200 and moved.json()["api_key_masked"] == "sk****"
    assert set(new.state.authorizations) == {f"Bearer {KEY}", f"Bearer {NEW_KEY}"}
    assert opened.status_code == 200
    assert opened.json()["has_api_key"] is False and opened.json()["api_key_masked"] is None


def test_a_short_key_is_masked_entirely(api, serve):
    system = register(api, serve(system_app(RANKINGS, api_key="abc123")), api_key="abc123")

    assert system["api_key_masked"] == "****"


def test_the_generated_key_file_is_private_and_reused(settings):
    from ragbench.systems import secrets

    token = secrets.encrypt(KEY, settings=settings)
    path = settings.data_dir / "secret.key"

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    Fernet(path.read_bytes())  # a valid Fernet key
    assert secrets.decrypt(token, settings=settings) == KEY
    assert Fernet(path.read_bytes()).decrypt(token.encode()).decode() == KEY


def test_a_configured_secret_key_is_used_and_a_changed_one_is_refused(settings):
    from ragbench.systems import secrets

    key = Fernet.generate_key().decode()
    configured = settings.model_copy(update={"secret_key": key})
    token = secrets.encrypt(KEY, settings=configured)

    assert Fernet(key.encode()).decrypt(token.encode()).decode() == KEY
    assert not (settings.data_dir / "secret.key").exists()
    other = settings.model_copy(update={"secret_key": Fernet.generate_key().decode()})
    with pytest.raises(secrets.SecretUnreadable, match="secret key changed"):
        secrets.decrypt(token, settings=other)
    bad = settings.model_copy(update={"secret_key": "not-a-key"})
    with pytest.raises(secrets.SecretUnreadable, match="not a Fernet key"):
        secrets.encrypt(KEY, settings=bad)
