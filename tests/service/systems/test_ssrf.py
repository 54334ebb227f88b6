"""The SSRF guard: system URLs that point at link-local / metadata addresses are refused."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from fake_systems import system_app

from .conftest import RANKINGS, checks_by_name, register


@pytest.mark.parametrize(("base_url", "reason"), [
    ("http://169.254.169.254", "169.254.169.254 is in the denied network 169.254.0.0/16"),
    ("http://169.254.169.254:80/latest/meta-data", "denied network 169.254.0.0/16"),
    # 2852039166 = 169*2**24 + 254*2**16 + 169*2**8 + 254, the same address as an integer
    ("http://2852039166/", "169.254.169.254 is in the denied network 169.254.0.0/16"),
    ("http://[::ffff:169.254.169.254]/", "denied network 169.254.0.0/16"),
    ("http://[fe80::1]:8080", "fe80::1 is in the denied network fe80::/10"),
    ("http://0.0.0.0:8080", "denied network 0.0.0.0/8"),
    ("file:///etc/passwd", "scheme must be http or https, got 'file'"),
    ("ftp://127.0.0.1/", "scheme must be http or https"),
    ("http://user:secret@127.0.0.1:8080", "must not carry credentials"),
    ("http://127.0.0.1:8080/?q=1", "no query string or fragment"),
    ("http://", "has no host"),
    ("http://no-such-host.invalid", "cannot resolve host 'no-such-host.invalid'"),
])
def test_unsafe_urls_fail_the_url_check_and_nothing_else_runs(api, base_url, reason):
    assert 2852039166 == int(ipaddress.ip_address("169.254.169.254"))

    report = api.post("/api/v1/systems/validate", json={"base_url": base_url}).json()
    refused = api.post("/api/v1/systems", json={"name": "x", "base_url": base_url})

    assert report["ok"] is False and report["failed"] == ["url"]
    checks = checks_by_name(report)
    assert reason in checks["url"]["detail"]
    assert {checks[n]["status"] for n in checks if n != "url"} == {"skipped"}
    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["failed"] == ["url"]


def test_the_allow_list_overrides_the_deny_list(settings):
    from fastapi.testclient import TestClient

    from ragbench.main import create_app

    allowed = settings.model_copy(update={"ssrf_allow": ["169.254.169.254/32"]})
    with TestClient(create_app(allowed)) as api:
        report = api.post("/api/v1/systems/validate", json={
            "base_url": "http://169.254.169.254", "timeout_s": 0.3}).json()
        other = api.post("/api/v1/systems/validate", json={
            "base_url": "http://169.254.1.1", "timeout_s": 0.3}).json()

    checks = checks_by_name(report)
    assert checks["url"]["status"] == "passed"
    assert checks["url"]["detail"] == "http://169.254.169.254 resolves to 169.254.169.254"
    # Nothing listens there in a test: the next check is what fails.
    assert checks["connectivity"]["status"] == "failed"
    assert checks_by_name(other)["url"]["status"] == "failed"  # only the /32 was allowed


def test_loopback_can_be_denied_and_allowed_back(settings, serve):
    from fastapi.testclient import TestClient

    from ragbench.main import create_app

    url = serve(system_app(RANKINGS))
    denied = settings.model_copy(update={"ssrf_deny": ["127.0.0.0/8", "::1/128"]})
    allowed = denied.model_copy(update={"ssrf_allow": ["127.0.0.1/32"]})

    with TestClient(create_app(denied)) as api:
        refused = api.post("/api/v1/systems", json={"name": "s", "base_url": url})
    with TestClient(create_app(allowed)) as api:
        registered = register(api, url, name="s")

    assert refused.status_code == 422
    assert "127.0.0.1 is in the denied network 127.0.0.0/8" in (
        checks_by_name(refused.json()["error"]["details"])["url"]["detail"])
    assert registered["status"] == "active"


def test_the_client_checks_again_before_its_first_request(api, settings, serve):
    from ragbench.systems.client import SystemCallError, connect
    from ragbench.systems.models import System

    app = system_app(RANKINGS)
    system = register(api, serve(app))
    calls = app.state.calls["retrieve"]
    denied = settings.model_copy(update={"ssrf_deny": ["127.0.0.0/8"]})
    with api.app.state.database.session() as session:
        row = session.get(System, system["id"])

    async def attempt():
        async with connect(row, settings=denied) as client:
            return await client.retrieve("what is retrieval", 3)

    with pytest.raises(SystemCallError) as refused:
        asyncio.run(attempt())

    assert refused.value.retryable is False and refused.value.status_code is None
    assert refused.value.message.startswith(f"retrieve: {system['base_url']} refused by the "
                                            "SSRF guard: 127.0.0.1 is in the denied network")
    assert app.state.calls["retrieve"] == calls


def test_a_redirect_to_the_metadata_address_is_not_followed(api, serve):
    app = system_app(RANKINGS, mode="redirect")
    url = serve(app)

    report = api.post("/api/v1/systems/validate", json={"base_url": url}).json()

    assert report["failed"] == ["endpoints"]
    assert "redirects are not followed" in checks_by_name(report)["endpoints"]["detail"]
