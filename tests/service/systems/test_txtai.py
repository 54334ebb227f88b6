"""generic-json against a real third-party search server: txtai's API (BM25 index).

txtai runs as its own process (``uvicorn txtai.api:app``) with a keyword index that
stores content; its ``GET /search?query=&limit=`` answers ``[{id, text, score}, ...]``.
ragbench must read exactly what txtai's own search returns.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import httpx
import pytest

from servers import free_port

from .conftest import checks_by_name, register

DOCUMENTS = [
    {"id": "ir", "text": "Information retrieval is the task of finding relevant documents "
                         "for a query"},
    {"id": "neural", "text": "Neural ranking models rerank retrieval candidates with "
                             "transformers"},
    {"id": "eval", "text": "Evaluation of search systems uses judged queries and measures "
                           "such as nDCG"},
    {"id": "bm25", "text": "BM25 is a classic lexical retrieval model for search"},
    {"id": "pasta", "text": "Cooking pasta needs plenty of salted boiling water"},
]

TXTAI_CONFIG = """\
writable: true
embeddings:
  keyword: true
  content: true
"""

MAPPING = {"method": "GET", "path": "/search?query={query}&limit={top_k}",
           "results_path": "", "doc_id_path": "id", "score_path": "score",
           "text_path": "text"}


@pytest.fixture(scope="module")
def txtai_url(tmp_path_factory):
    pytest.importorskip("txtai.api")
    folder = tmp_path_factory.mktemp("txtai")
    (folder / "config.yml").write_text(TXTAI_CONFIG)
    port = free_port()
    env = {**os.environ, "CONFIG": str(folder / "config.yml"), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    log = open(folder / "server.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "txtai.api:app", "--host", "127.0.0.1",
         "--port", str(port)], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"txtai exited: {(folder / 'server.log').read_text()}")
            try:
                if httpx.get(f"{url}/search", params={"query": "x"}).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("txtai did not start within 120 s")
            time.sleep(0.2)
        httpx.post(f"{url}/add", json=DOCUMENTS).raise_for_status()
        httpx.get(f"{url}/index", timeout=60).raise_for_status()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_txtai_is_registered_as_generic_json_and_read_exactly(api, settings, txtai_url):
    from ragbench.systems.client import Hit, connect
    from ragbench.systems.models import System

    queries = list(settings.probe_queries) + ["lexical model for search"]
    direct = {q: httpx.get(f"{txtai_url}/search", params={"query": q, "limit": 3}).json()
              for q in queries}

    system = register(api, txtai_url, name="txtai-bm25", adapter="generic-json",
                      adapter_config=MAPPING)
    with api.app.state.database.session() as session:
        row = session.get(System, system["id"])

    async def retrieve_all():
        async with connect(row, settings=settings) as client:
            return {q: await client.retrieve(q, 3) for q in queries}

    through_ragbench = asyncio.run(retrieve_all())

    checks = checks_by_name(system["validation"])
    assert system["validation"]["ok"] is True
    assert "the search call (no health_path) answered 200" in checks["connectivity"]["detail"]
    assert len(system["probe"]["samples"]) == len(settings.probe_queries)
    for query in queries:
        expected = [Hit(r["id"], r["score"], r["text"]) for r in direct[query]]
        assert through_ragbench[query] == expected, query
    # Sanity of the index itself: the document holding the query's words ranks first.
    assert through_ragbench["neural ranking models"][0].doc_id == "neural"
    assert through_ragbench["evaluation of search systems"][0].doc_id == "eval"
    assert through_ragbench["lexical model for search"][0].doc_id == "bm25"
