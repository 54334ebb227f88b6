"""The generic-json adapter: requests built from the mapping, answers read through paths."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI, Request

from .conftest import checks_by_name, register

# An Elasticsearch-shaped search API over a fixed table: query -> [(doc_id, score, text)].
TABLE = {
    "what is retrieval": [("d1", 7.25, "retrieval is finding"), ("d2", 3.5, "search")],
    "evaluation of search systems": [("d3", 2.0, "trec")],
    "neural ranking models": [],
    "a/b & c?d #1": [("d4", 1.5, "odd query")],
    "health check": [],
}


def engine_app() -> FastAPI:
    app = FastAPI()
    app.state.requests = []

    @app.get("/_cluster/health")
    async def health():
        return {"status": "green"}

    @app.post("/idx/_search")
    async def search(request: Request):
        body = await request.json()
        app.state.requests.append({"headers": dict(request.headers), "body": body})
        rows = TABLE.get(body["query"]["match"]["text"], [])[:body["size"]]
        return {"took": 1, "hits": {"total": {"value": len(rows)}, "hits": [
            {"_id": f"es-{d}", "_score": s, "_source": {"doc_id": d, "text": t}}
            for d, s, t in rows]}}

    @app.get("/v1/search/{query:path}")
    async def by_path(query: str, k: int, request: Request):
        app.state.requests.append({"path_query": query, "k": k,
                                   "raw_path": request.scope["raw_path"].decode()})
        rows = TABLE.get(query, [])[:k]
        # Hits as [id, score] pairs, inside a list of responses.
        return {"responses": [{"items": [[d, s] for d, s, _ in rows]}]}

    @app.get("/broken/{kind}")
    async def broken(kind: str):
        if kind == "string-score":
            return [{"id": "d1", "score": "7.25"}]
        if kind == "int-id":
            return [{"id": 17, "score": 1}]
        return {"unexpected": True}

    return app


ES_CONFIG = {
    "method": "POST", "path": "/idx/_search", "headers": {"X-Tenant": "lab"},
    "body_template": {"query": {"match": {"text": "{query}"}}, "size": "{top_k}",
                      "_source": ["doc_id", "text"],
                      "note": "{top_k} hits for '{query}'", "track_total_hits": False},
    "results_path": "hits.hits", "doc_id_path": "_source.doc_id", "score_path": "_score",
    "text_path": "_source.text", "health_path": "/_cluster/health",
    "auth_header": "X-Api-Key", "auth_scheme": "",
}


def _client_for(api, settings, system_id: int):
    from ragbench.systems.client import connect
    from ragbench.systems.models import System

    with api.app.state.database.session() as session:
        return connect(session.get(System, system_id), settings=settings)


def _retrieve(client, query: str, top_k: int):
    async def run():
        async with client:
            return await client.retrieve(query, top_k)
    return asyncio.run(run())


def test_an_elasticsearch_shaped_api_is_registered_and_read(api, settings, serve):
    from ragbench.systems.client import Hit

    app = engine_app()
    url = serve(app)

    system = register(api, url, adapter="generic-json", adapter_config=ES_CONFIG,
                      api_key="es-key-0123456789")
    hits = _retrieve(_client_for(api, settings, system["id"]), "what is retrieval", 5)

    assert hits == [Hit("d1", 7.25, "retrieval is finding"), Hit("d2", 3.5, "search")]
    checks = checks_by_name(system["validation"])
    assert "GET /_cluster/health answered 200" in checks["connectivity"]["detail"]
    assert checks["endpoints"]["items"] == {"retrieve": "passed", "embed": "skipped"}
    assert system["supports_embed"] is False
    last = app.state.requests[-1]
    assert last["body"] == {"query": {"match": {"text": "what is retrieval"}}, "size": 5,
                            "_source": ["doc_id", "text"],
                            "note": "5 hits for 'what is retrieval'",
                            "track_total_hits": False}
    assert last["headers"]["x-tenant"] == "lab"
    assert last["headers"]["x-api-key"] == "es-key-0123456789"
    assert "authorization" not in last["headers"]


def test_path_placeholders_are_url_encoded_and_list_indexes_work(api, settings, serve):
    from ragbench.systems.client import Hit

    app = engine_app()
    url = serve(app)
    config = {"method": "GET", "path": "/v1/search/{query}?k={top_k}",
              "results_path": "responses[0].items", "doc_id_path": "[0]",
              "score_path": "1"}

    system = register(api, url, adapter="generic-json", adapter_config=config)
    hits = _retrieve(_client_for(api, settings, system["id"]), "a/b & c?d #1", 3)

    assert hits == [Hit("d4", 1.5)]
    last = app.state.requests[-1]
    assert last["path_query"] == "a/b & c?d #1" and last["k"] == 3
    assert last["raw_path"] == "/v1/search/a%2Fb%20%26%20c%3Fd%20%231"
    # Without a health_path the search call is the connectivity check.
    assert "the search call (no health_path) answered 200" in (
        checks_by_name(system["validation"])["connectivity"]["detail"])


@pytest.mark.parametrize(("config", "failed", "detail"), [
    ({"path": "/broken/string-score", "method": "GET"}, "connectivity",
     "retrieve: answer[0].score is a string, expected a number"),
    ({"path": "/broken/other", "method": "GET", "results_path": "hits.hits"}, "connectivity",
     "retrieve: hits is missing (results_path 'hits.hits')"),
    ({"path": "/idx/_search", "body_template": {"query": {"match": {"text": "{query}"}},
                                                "size": "{top_k}"},
      "results_path": "hits.hits", "doc_id_path": "_source.id", "score_path": "_score",
      "health_path": "/_cluster/health"}, "format",
     "retrieve: hits.hits[0]._source.id is missing (doc_id_path '_source.id')"),
    ({"path": "/idx/_search", "results_path": "hits", "health_path": "/_cluster/health",
      "body_template": {"query": {"match": {"text": "{query}"}}, "size": "{top_k}"}},
     "format", "retrieve: hits is an object, expected a list of hits (results_path 'hits')"),
    ({"path": "/nowhere", "health_path": "/_cluster/health"}, "endpoints",
     "retrieve: HTTP 404 from {url}/nowhere"),
])
def test_answers_that_do_not_match_the_mapping_are_refused(api, serve, config, failed, detail):
    url = serve(engine_app())

    error = api.post("/api/v1/systems", json={"name": "g", "base_url": url,
                                              "adapter": "generic-json",
                                              "adapter_config": config}).json()["error"]

    assert error["details"]["failed"] == [failed]
    assert checks_by_name(error["details"])[failed]["detail"].startswith(
        detail.format(url=url))


def test_integer_ids_are_read_as_text(client_settings, serve):
    from ragbench.systems.client import Hit, SystemSpec, connect_spec

    url = serve(engine_app())
    spec = SystemSpec(base_url=url, adapter="generic-json",
                      adapter_config={"method": "GET", "path": "/broken/int-id"})

    hits = _retrieve(connect_spec(spec, settings=client_settings), "q", 10)

    assert hits == [Hit("17", 1.0)]


def test_the_body_template_fills_whole_strings_with_values_and_others_as_text():
    from ragbench.systems.adapters import GenericJsonConfig

    config = GenericJsonConfig(path="/s", body_template={
        "q": "{query}", "k": "{top_k}", "list": ["{query}", 3, None, "{top_k}"],
        "text": "find {query} ({top_k})", "other": "{unknown}", "{query}": "keys stay"})

    body = config.request_body('say "{top_k}"', 4)

    assert body == {"q": 'say "{top_k}"', "k": 4, "list": ['say "{top_k}"', 3, None, 4],
                    "text": 'find say "{top_k}" (4)', "other": "{unknown}",
                    "{query}": "keys stay"}
    assert GenericJsonConfig(path="/s").request_body("q", 2) == {"query": "q", "top_k": 2}
