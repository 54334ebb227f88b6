"""Shared fixtures of the reference-system tests: a small synthetic BEIR collection and
one loaded sentence encoder (the packaged all-MiniLM-L6-v2 loads once per session)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from ragbench.core.io.beir import BeirDataset, write_beir
from ragbench.core.synthetic import make_collection

NUM_DOCS = 120
NUM_QUERIES = 10

# A corpus small enough to score BM25 by hand (tests/reference/test_bm25.py does).
TINY_CORPUS = [
    {"_id": "d1", "title": "Cats", "text": "A cat chases mice."},
    {"_id": "d2", "title": "", "text": "Dogs chase cats and birds."},
    {"_id": "d3", "title": "", "text": "The bird sings in the garden."},
    {"_id": "d4", "title": "Gardens", "text": "Gardens need rain."},
    {"_id": "d5", "text": "Quiet mornings."},
]


@pytest.fixture(scope="session")
def tiny_corpus() -> list[dict]:
    return TINY_CORPUS


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """A BEIR folder holding only ``corpus.jsonl`` with :data:`TINY_CORPUS`."""
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in TINY_CORPUS))
    return folder


@pytest.fixture(scope="session")
def collection() -> BeirDataset:
    return make_collection(11, num_docs=NUM_DOCS, num_queries=NUM_QUERIES)


@pytest.fixture(scope="session")
def collection_dir(collection, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("collection")
    write_beir(folder, collection)
    return folder


@pytest.fixture(scope="session")
def embedding_cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("embedding-cache")


@pytest.fixture(scope="session")
def encoder():
    from ragbench.reference.encoder import SentenceEncoder

    return SentenceEncoder()


@pytest.fixture(scope="session")
def indexed_texts(collection) -> list[str]:
    """What a document's vector is computed from: title, a space, text."""
    return [f"{title} {text}" if title else text
            for title, text in zip(collection.corpus.titles.to_pylist(),
                                   collection.corpus.texts.to_pylist())]


@pytest.fixture(scope="session")
def connect():
    """``connect(base_url)``: an httpx client for a served system (no proxies)."""
    def connect(base_url: str) -> httpx.Client:
        return httpx.Client(base_url=base_url, timeout=30.0, trust_env=False)

    return connect
