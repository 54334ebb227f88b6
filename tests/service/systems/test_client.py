"""The client others code against: hits, embeddings, health, and classified errors."""

from __future__ import annotations

import asyncio

import pytest

from fake_systems import system_app
from servers import free_port

from .conftest import RANKINGS, register


def _call(settings, base_url: str, method: str, *args, api_key: str | None = None,
          timeout_s: float = 2.0):
    from ragbench.systems.client import SystemSpec, connect_spec

    spec = SystemSpec(base_url=base_url, adapter="ragbench", api_key=api_key,
                      timeout_s=timeout_s)

    async def run():
        async with connect_spec(spec, settings=settings) as client:
            return await getattr(client, method)(*args)

    return asyncio.run(run())


def _error(settings, base_url: str, method: str = "retrieve", *args, **kwargs):
    from ragbench.systems.client import SystemCallError

    with pytest.raises(SystemCallError) as raised:
        _call(settings, base_url, method, *(args or ("what is retrieval", 10)), **kwargs)
    return raised.value


def test_retrieve_embed_and_health_of_a_registered_system(api, settings, serve):
    from ragbench.systems.client import HealthResult, Hit, connect
    from ragbench.systems.models import System

    app = system_app(RANKINGS, embedding=(0.5, -1, 2.25))
    system = register(api, serve(app), max_concurrency=3, timeout_s=4)
    with api.app.state.database.session() as session:
        row = session.get(System, system["id"])

    async def run():
        async with connect(row, settings=settings) as client:
            assert client.http.timeout == 4
            return (await client.retrieve("what is retrieval", 2),
                    await client.retrieve("what is retrieval", 10),
                    await client.embed("x"), await client.health())

    top2, all_hits, vector, health = asyncio.run(run())

    assert top2 == [Hit("d1", 3.5), Hit("d2", 2.25)]
    assert all_hits == [Hit("d1", 3.5), Hit("d2", 2.25), Hit("d3", 1.0)]
    assert vector == [0.5, -1.0, 2.25] and all(isinstance(x, float) for x in vector)
    assert isinstance(health, HealthResult)
    assert health.ok and health.status_code == 200 and health.error is None
    assert health.latency_ms > 0


def test_connect_honours_overrides(api, settings, serve):
    from ragbench.systems.client import connect
    from ragbench.systems.models import System

    system = register(api, serve(system_app(RANKINGS)), max_concurrency=3, timeout_s=4)
    with api.app.state.database.session() as session:
        row = session.get(System, system["id"])

    client = connect(row, settings=settings, max_connections=7, timeout_s=0.5)
    try:
        assert client.http.timeout == 0.5
        assert client.http.max_connections == 7
        assert client.adapter == "ragbench" and client.base_url == system["base_url"]
    finally:
        asyncio.run(client.aclose())


@pytest.mark.parametrize(("mode", "status", "retryable", "message"), [
    ("error500", 500, True, "retrieve: HTTP 500 from {url}/api/v1/retrieve"),
    ("flaky", 503, True, "retrieve: HTTP 503 from {url}/api/v1/retrieve"),
    ("rate_limited", 429, True, "retrieve: HTTP 429 from {url}/api/v1/retrieve"),
    ("no_retrieve", 404, False, "retrieve: HTTP 404 from {url}/api/v1/retrieve"),
    ("redirect", 307, False, "retrieve: HTTP 307 redirect from {url}/api/v1/retrieve"),
    ("malformed", 200, False, "retrieve: the answer from {url}/api/v1/retrieve is not valid "
                              "JSON"),
    ("wrong_types", 200, False, "retrieve: results[0].doc_id is a list, expected a string"),
])
def test_errors_are_classified(client_settings, serve, mode, status, retryable, message):
    url = serve(system_app(RANKINGS, mode=mode, fail_rate=1.0))

    error = _error(client_settings, url)

    assert (error.status_code, error.retryable) == (status, retryable)
    assert error.message.startswith(message.format(url=url))


def test_a_timeout_and_a_refused_connection_are_retryable(client_settings, serve):
    slow = serve(system_app(RANKINGS, mode="timeout", hang_s=1.0))
    closed = f"http://127.0.0.1:{free_port()}"

    timeout = _error(client_settings, slow, timeout_s=0.3)
    refused = _error(client_settings, closed)

    assert (timeout.retryable, timeout.status_code) == (True, None)
    assert timeout.message == (f"retrieve: no answer from {slow}/api/v1/retrieve "
                               "within 0.3 s (timeout)")
    assert (refused.retryable, refused.status_code) == (True, None)
    assert refused.message.startswith(f"retrieve: cannot reach {closed}/api/v1/retrieve: "
                                      "ConnectError")


def test_an_unauthorized_call_is_not_retryable(client_settings, serve):
    url = serve(system_app(RANKINGS, api_key="k" * 20))

    error = _error(client_settings, url, api_key="wrong")

    assert (error.status_code, error.retryable) == (401, False)
    assert error.message == f'retrieve: HTTP 401 from {url}/api/v1/retrieve: {{"detail":"bad key"}}'


@pytest.mark.parametrize(("ranking", "message"), [
    ([("d1", "0.5")], "results[0].score is a string, expected a number"),
    ([("d1", 1.0), ("d2", None)], "results[1].score is null, expected a number"),
    ([("d1", True)], "results[0].score is a boolean, expected a number"),
    ([(7, 1.0)], "results[0].doc_id is a number, expected a string"),
    ([("", 1.0)], "results[0].doc_id is empty"),
])
def test_wrong_types_name_the_field(client_settings, serve, ranking, message):
    url = serve(system_app({"q": ranking}))

    error = _error(client_settings, url, "retrieve", "q", 10)

    assert error.message == f"retrieve: {message}"
    assert (error.retryable, error.status_code) == (False, 200)


@pytest.mark.parametrize(("embedding", "message"), [
    ([], "embed: embedding is empty, expected at least one number"),
    ([0.1, "x"], "embed: embedding[1] is a string, expected a number"),
])
def test_a_bad_embedding_is_a_format_error(client_settings, serve, embedding, message):
    url = serve(system_app(RANKINGS, embedding=embedding))

    error = _error(client_settings, url, "embed", "text")

    assert error.message == message and error.retryable is False


def test_an_absent_embed_endpoint_is_a_404(client_settings, serve):
    url = serve(system_app(RANKINGS, embedding=None))

    error = _error(client_settings, url, "embed", "text")

    assert (error.status_code, error.retryable) == (404, False)


def test_health_reports_instead_of_raising(client_settings, serve):
    down = serve(system_app(RANKINGS, mode="no_health"))
    closed = f"http://127.0.0.1:{free_port()}"

    sick = _call(client_settings, down, "health")
    gone = _call(client_settings, closed, "health")

    assert (sick.ok, sick.status_code) == (False, 503)
    assert sick.error == f'health: HTTP 503 from {down}/health: {{"status":"down"}}'
    assert (gone.ok, gone.status_code) == (False, None)
    assert gone.error.startswith(f"health: cannot reach {closed}/health")
