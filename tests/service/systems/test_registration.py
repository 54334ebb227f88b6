"""Registering a system: it is validated first, and refused with the failing check named."""

from __future__ import annotations

import statistics

import pytest

from fake_systems import system_app
from .conftest import RANKINGS, checks_by_name, register


def test_a_well_behaved_system_is_registered_with_its_report_and_probe(api, serve):
    app = system_app(RANKINGS)
    url = serve(app)

    body = register(api, url + "/", name="bm25", description="BM25 baseline",
                    tags=["baseline", "sparse", "baseline"], timeout_s=2, max_concurrency=4)

    assert body["base_url"] == url  # trailing slash dropped
    assert body["adapter"] == "ragbench" and body["status"] == "active"
    assert body["tags"] == ["baseline", "sparse"]
    assert (body["timeout_s"], body["max_concurrency"]) == (2.0, 4)
    assert body["has_api_key"] is False and body["api_key_masked"] is None
    report = body["validation"]
    assert report["ok"] is True and report["failed"] == []
    assert [c["name"] for c in report["checks"]] == [
        "url", "connectivity", "endpoints", "format", "performance"]
    assert all(c["status"] == "passed" for c in report["checks"])
    checks = checks_by_name(report)
    assert checks["endpoints"]["items"] == {"retrieve": "passed", "embed": "passed"}
    assert "retrieve: 3 hits" in checks["format"]["detail"]  # RANKINGS["what is retrieval"]
    assert "embed: 3 numbers" in checks["format"]["detail"]
    assert body["supports_embed"] is True
    # One probe per configured query, each timed: p50 is their median, max their max.
    probe = body["probe"]
    assert len(probe["samples"]) == 3
    assert probe["p50"] == pytest.approx(statistics.median(probe["samples"]), abs=1e-3)
    assert probe["max"] == max(probe["samples"])
    assert all(0 < s < 5000 for s in probe["samples"])
    # health once (connectivity), retrieve once for endpoints/format + 3 probes, embed once
    assert app.state.calls["health"] == 1
    assert app.state.calls["retrieve"] == 4
    assert app.state.calls["embed"] == 1
    assert app.state.calls["q:what is retrieval"] == 2

    again = api.get(f"/api/v1/systems/{body['id']}").json()
    assert again["validation"] == report and again["probe"] == probe


@pytest.mark.parametrize(("mode", "failed", "message"), [
    ("timeout", "endpoints", "within 1 s (timeout)"),
    ("error500", "endpoints", "retrieve: HTTP 500 from {url}/api/v1/retrieve"),
    ("rate_limited", "endpoints", "retrieve: HTTP 429 from {url}/api/v1/retrieve"),
    ("redirect", "endpoints", "HTTP 307 redirect from {url}/api/v1/retrieve to "
                              "http://169.254.169.254/latest/meta-data/"),
    ("no_retrieve", "endpoints", "retrieve: HTTP 404 from {url}/api/v1/retrieve"),
    ("malformed", "format", "retrieve: the answer from {url}/api/v1/retrieve is not valid JSON"),
    ("wrong_types", "format", "retrieve: results[0].doc_id is a list, expected a string"),
    ("bad_embed", "format", "embed: embedding is empty"),
    ("no_health", "connectivity", "health: HTTP 503 from {url}/health"),
])
def test_each_misbehaving_system_is_refused_naming_the_failed_check(api, serve, mode, failed,
                                                                    message):
    url = serve(system_app(RANKINGS, mode=mode, hang_s=1.5))

    response = api.post("/api/v1/systems",
                        json={"name": mode, "base_url": url, "timeout_s": 1})

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "unprocessable"
    assert error["details"]["failed"] == [failed]
    checks = checks_by_name(error["details"])
    assert checks[failed]["status"] == "failed"
    assert message.format(url=url) in checks[failed]["detail"]
    assert f"failed validation: {failed}: " in error["message"]
    # The checks before it passed; the ones after it did not run.
    order = [c["name"] for c in error["details"]["checks"]]
    for name in order[:order.index(failed)]:
        assert checks[name]["status"] == "passed"
    for name in order[order.index(failed) + 1:]:
        assert checks[name]["status"] == "skipped"
    assert api.get("/api/v1/systems").json() == []


def test_a_score_of_the_wrong_type_is_named_in_the_message(api, serve):
    url = serve(system_app({"what is retrieval": [("d1", "0.9")]}))

    error = api.post("/api/v1/systems", json={"name": "s", "base_url": url}).json()["error"]

    assert checks_by_name(error["details"])["format"]["detail"] == (
        "retrieve: results[0].score is a string, expected a number")


def test_a_failing_probe_query_fails_the_performance_check(api, serve):
    url = serve(system_app(RANKINGS, fail_queries=["neural ranking models"]))

    error = api.post("/api/v1/systems", json={"name": "s", "base_url": url}).json()["error"]

    assert error["details"]["failed"] == ["performance"]
    detail = checks_by_name(error["details"])["performance"]["detail"]
    assert detail.startswith("probe 'neural ranking models': retrieve: HTTP 500 from ")
    # The other two probes were timed.
    assert len(error["details"]["probe"]["samples"]) == 2


def test_a_system_without_embed_is_registered_with_embed_skipped(api, serve):
    url = serve(system_app(RANKINGS, embedding=None))

    body = register(api, url)

    endpoints = checks_by_name(body["validation"])["endpoints"]
    assert endpoints["status"] == "passed"
    assert endpoints["items"] == {"retrieve": "passed", "embed": "skipped"}
    assert "embed: skipped (optional; HTTP 404)" in endpoints["detail"]
    assert body["supports_embed"] is False


def test_a_system_that_finds_nothing_still_passes_format(api, serve):
    url = serve(system_app({}))

    body = register(api, url)

    assert "retrieve: 0 hits" in checks_by_name(body["validation"])["format"]["detail"]


def test_names_are_unique_conflict_409(api, serve):
    url = serve(system_app(RANKINGS))
    first = register(api, url, name="bm25")

    response = api.post("/api/v1/systems", json={"name": " bm25 ", "base_url": url})

    assert response.status_code == 409
    assert response.json()["error"]["details"] == {
        "field": "name", "system_id": first["id"], "status": "active"}


def test_a_closed_port_fails_connectivity(api):
    from servers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    error = api.post("/api/v1/systems", json={"name": "gone", "base_url": url,
                                              "timeout_s": 1}).json()["error"]

    assert error["details"]["failed"] == ["connectivity"]
    assert f"health: cannot reach {url}/health" in (
        checks_by_name(error["details"])["connectivity"]["detail"])


@pytest.mark.parametrize(("config", "field"), [
    ({"path": "search"}, "adapter_config.path"),
    ({"path": "/search/{q}"}, "adapter_config.path"),
    ({"path": "/s", "method": "DELETE"}, "adapter_config.method"),
    ({"path": "/s", "score_path": "hits..score"}, "adapter_config.score_path"),
    ({"path": "/s", "method": "GET", "body_template": {"q": "{query}"}}, "adapter_config"),
    ({"path": "/s", "colour": "blue"}, "adapter_config.colour"),
    ({}, "adapter_config.path"),
])
def test_a_bad_generic_json_config_is_refused_naming_the_field(api, config, field):
    response = api.post("/api/v1/systems", json={
        "name": "g", "base_url": "http://127.0.0.1:9", "adapter": "generic-json",
        "adapter_config": config})

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == field


def test_adapter_config_is_refused_for_the_ragbench_adapter(api):
    response = api.post("/api/v1/systems", json={
        "name": "r", "base_url": "http://127.0.0.1:9", "adapter_config": {"path": "/x"}})

    assert response.status_code == 422
    assert response.json()["error"]["details"] == {"field": "adapter_config"}


def test_validate_reports_without_registering(api, serve):
    good, bad = serve(system_app(RANKINGS)), serve(system_app(RANKINGS, mode="wrong_types"))

    ok = api.post("/api/v1/systems/validate", json={"base_url": good})
    refused = api.post("/api/v1/systems/validate", json={"base_url": bad, "name": "x"})

    assert ok.status_code == 200 and refused.status_code == 200
    assert ok.json()["ok"] is True and ok.json()["supports_embed"] is True
    assert len(ok.json()["probe"]["samples"]) == 3
    report = refused.json()
    assert report["ok"] is False and report["failed"] == ["format"]
    assert [(c["name"], c["status"]) for c in report["checks"]] == [
        ("url", "passed"), ("connectivity", "passed"), ("endpoints", "passed"),
        ("format", "failed"), ("performance", "skipped")]
    assert report["probe"] == {"samples": [], "p50": None, "max": None}
    assert api.get("/api/v1/systems").json() == []
