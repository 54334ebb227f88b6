"""The BM25 reference system over HTTP: scores equal the BM25 formula computed by hand,
the contract's input checks answer 422, and there is no embed endpoint."""

from __future__ import annotations

import math

import pytest

from ragbench.reference.bm25 import BM25Retriever
from ragbench.reference.server import build_retriever, create_system_app
from servers import serve_app  # tests/servers.py (tests/ is on sys.path via its conftest)

# The documents of TINY_CORPUS (conftest.py) as BM25 sees them: title + text,
# lower-cased, English stopwords (a, and, in, the) removed, Snowball-stemmed.
TOKENS = {
    "d1": ["cat", "cat", "chase", "mice"],
    "d2": ["dog", "chase", "cat", "bird"],
    "d3": ["bird", "sing", "garden"],
    "d4": ["garden", "garden", "need", "rain"],
    "d5": ["quiet", "morn"],
}


def bm25_by_hand(query_tokens: list[str], k1: float = 1.5, b: float = 0.75) -> dict[str, float]:
    """Lucene's BM25 as bm25s computes it:

    score(d) = Σ_{t in query, repeats counted} idf(t) · tf / (tf + k1 · (1 - b + b·|d|/avgdl))
    idf(t)   = ln(1 + (N - df + 0.5) / (df + 0.5))
    """
    n = len(TOKENS)
    avgdl = sum(len(t) for t in TOKENS.values()) / n  # 17 / 5 = 3.4
    scores = {}
    for doc, tokens in TOKENS.items():
        total = 0.0
        for term in query_tokens:
            tf = tokens.count(term)
            if tf == 0:
                continue
            df = sum(term in other for other in TOKENS.values())
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            total += idf * tf / (tf + k1 * (1 - b + b * len(tokens) / avgdl))
        if total > 0:
            scores[doc] = total
    return scores


@pytest.fixture(scope="module")
def bm25(tiny_dir) -> BM25Retriever:
    return build_retriever("bm25", dataset=tiny_dir)


@pytest.fixture(scope="module")
def api(bm25, connect):
    with serve_app(create_system_app(bm25)) as url, connect(url) as http:
        yield http


def retrieve(api, query: str, top_k: int = 10, **extra) -> list[dict]:
    response = api.post("/api/v1/retrieve", json={"query": query, "top_k": top_k, **extra})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_analysis_lowercases_removes_stopwords_and_stems(bm25, tiny_corpus):
    for doc in tiny_corpus:
        text = f"{doc['title']} {doc['text']}" if doc.get("title") else doc["text"]
        assert bm25.analyze(text) == TOKENS[doc["_id"]]


def test_health(api):
    assert api.get("/health").json() == {"status": "ok", "kind": "bm25", "documents": 5,
                                         "model": None}


def test_scores_match_the_formula_by_hand(api):
    results = retrieve(api, "cat chasing")
    # idf(cat) = idf(chase) = ln(1 + 3.5/2.5) = 0.875469; k1·(1-b+b·4/3.4) = 1.698529
    # d1: 0.875469 · (2/(2+1.698529) + 1/(1+1.698529)) = 0.797839
    # d2: 0.875469 · (1/(1+1.698529) + 1/(1+1.698529)) = 0.648849
    assert [r["doc_id"] for r in results] == ["d1", "d2"]
    assert [r["score"] for r in results] == pytest.approx([0.7978388883, 0.6488487645], rel=1e-6)


@pytest.mark.parametrize("query, tokens", [
    ("cat chasing", ["cat", "chase"]),
    ("birds in gardens", ["bird", "garden"]),
    ("the cats of the cats", ["cat", "cat"]),  # a repeated query term counts twice
    ("singing dog needs rain", ["sing", "dog", "need", "rain"]),
])
def test_every_ranking_equals_the_formula(api, query, tokens):
    expected = bm25_by_hand(tokens)
    results = retrieve(api, query)
    assert {r["doc_id"]: r["score"] for r in results} == pytest.approx(expected, rel=1e-6)
    ordered = sorted(expected, key=lambda d: (-expected[d], list(TOKENS).index(d)))
    assert [r["doc_id"] for r in results] == ordered
    assert all("text" not in r for r in results)


def test_top_k_cuts_the_ranking(api):
    full = bm25_by_hand(["sing", "dog", "need", "rain"])
    results = retrieve(api, "singing dog needs rain", top_k=2)
    assert [r["doc_id"] for r in results] == sorted(full, key=full.get, reverse=True)[:2]


def test_text_only_when_asked(api):
    results = retrieve(api, "quiet", with_text=True)
    assert results == [{"doc_id": "d5", "score": pytest.approx(bm25_by_hand(["quiet"])["d5"],
                                                               rel=1e-6),
                        "text": "Quiet mornings."}]


@pytest.mark.parametrize("query", ["the and of", "zebra", "!!"])
def test_query_without_indexed_terms_returns_nothing(api, query):
    assert retrieve(api, query) == []


@pytest.mark.parametrize("body, field", [
    ({"query": "", "top_k": 10}, "query"),
    ({"query": "   ", "top_k": 10}, "query"),
    ({"query": "cat", "top_k": 0}, "top_k"),
    ({"query": "cat", "top_k": 5000}, "top_k"),
    ({"query": "cat", "top_k": 2.5}, "top_k"),
    ({"query": "cat", "top_k": "5"}, "top_k"),
    ({"query": 7, "top_k": 5}, "query"),
    ({"top_k": 10}, "query"),
    ({"query": "cat"}, "top_k"),
])
def test_invalid_input_is_422(api, body, field):
    response = api.post("/api/v1/retrieve", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unprocessable"
    assert [d["field"] for d in error["details"]] == [field]


def test_body_that_is_not_json_is_422(api):
    response = api.post("/api/v1/retrieve", content=b"query=cat",
                        headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_no_embed_endpoint(api):
    response = api.post("/api/v1/embed", json={"text": "cat"})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert "bm25" in error["message"] and "no embeddings" in error["message"]


def test_bm25_takes_no_model(tiny_dir):
    with pytest.raises(ValueError, match="no embedding model"):
        build_retriever("bm25", dataset=tiny_dir, model="some-model")


def test_unknown_kind_and_missing_corpus(tiny_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown reference system"):
        build_retriever("splade", dataset=tiny_dir)
    with pytest.raises(FileNotFoundError, match="corpus.jsonl"):
        build_retriever("bm25", dataset=tmp_path)
