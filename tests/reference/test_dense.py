"""The dense reference system over HTTP: scores are the cosine similarities numpy computes
from the model's own embeddings, and /api/v1/embed is ``encode(normalize_embeddings=True)``."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ragbench.reference.server import build_retriever, create_system_app
from servers import serve_app  # tests/servers.py (tests/ is on sys.path via its conftest)


@pytest.fixture(scope="module")
def dense(collection_dir, encoder, embedding_cache_dir):
    return build_retriever("dense", dataset=collection_dir, encoder=encoder,
                           cache_dir=embedding_cache_dir)


@pytest.fixture(scope="module")
def api(dense, connect):
    with serve_app(create_system_app(dense)) as url, connect(url) as http:
        yield http


@pytest.fixture(scope="module")
def cosine(encoder, indexed_texts, collection):
    """``cosine(query)``: the similarity of ``query`` to every document, by numpy from the
    model's raw (unnormalised) embeddings."""
    model = encoder.sentence_transformer
    docs = model.encode(indexed_texts, batch_size=32, normalize_embeddings=False)
    docs = docs / np.linalg.norm(docs, axis=1, keepdims=True)

    def cosine(query: str) -> np.ndarray:
        q = model.encode([query], normalize_embeddings=False)[0]
        return docs @ (q / np.linalg.norm(q))

    return cosine


def retrieve(api, query: str, top_k: int, **extra) -> list[dict]:
    response = api.post("/api/v1/retrieve", json={"query": query, "top_k": top_k, **extra})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_health(api):
    assert api.get("/health").json() == {"status": "ok", "kind": "dense", "documents": 120,
                                         "model": "all-MiniLM-L6-v2"}


def test_scores_are_cosine_similarities(api, collection, cosine):
    doc_ids = np.array(collection.corpus.ids.to_pylist())
    for query in collection.queries.texts.to_pylist():
        similarity = cosine(query)
        best = np.argsort(-similarity, kind="stable")[:10]
        results = retrieve(api, query, 10)
        assert [r["doc_id"] for r in results] == doc_ids[best].tolist()
        assert [r["score"] for r in results] == pytest.approx(similarity[best], abs=2e-6)


def test_whole_corpus_is_found(api, collection, cosine):
    """HNSW recall is 1.0 on a small corpus: top_k beyond the corpus returns every
    document once, each with its exact cosine."""
    query = collection.queries.texts[0].as_py()
    similarity = dict(zip(collection.corpus.ids.to_pylist(), cosine(query).tolist()))
    results = retrieve(api, query, 1000)
    assert len(results) == len(similarity)
    assert {r["doc_id"]: r["score"] for r in results} == pytest.approx(similarity, abs=2e-6)
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)


def test_embed_is_the_normalised_model_embedding(api, encoder):
    text = "how do glaciers shape a canyon"
    expected = encoder.sentence_transformer.encode(text, normalize_embeddings=True)
    response = api.post("/api/v1/embed", json={"text": text})
    assert response.status_code == 200
    embedding = np.array(response.json()["embedding"])
    assert embedding.shape == (384,)
    assert embedding == pytest.approx(expected, abs=1e-6)
    assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("body", [{"text": ""}, {}, {"text": 3}])
def test_embed_rejects_bad_input(api, body):
    response = api.post("/api/v1/embed", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unprocessable"


def test_text_only_when_asked(api, collection):
    query = collection.queries.texts[1].as_py()
    texts = dict(zip(collection.corpus.ids.to_pylist(), collection.corpus.texts.to_pylist()))
    with_text = retrieve(api, query, 3, with_text=True)
    assert [r["text"] for r in with_text] == [texts[r["doc_id"]] for r in with_text]
    assert all("text" not in r for r in retrieve(api, query, 3))


def test_concurrent_requests_get_the_sequential_answers(api, collection):
    queries = collection.queries.texts.to_pylist()
    sequential = [retrieve(api, q, 5) for q in queries]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(lambda q: retrieve(api, q, 5), queries))
    assert concurrent == sequential
