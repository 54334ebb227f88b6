"""Document embeddings are cached by (model identity, SHA-256 of the text): a second
build encodes nothing, another model encodes everything, and a model's identity follows
its files' contents."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest

from ragbench.reference.dense import DenseRetriever
from ragbench.reference.documents import Documents
from ragbench.reference.embedding_cache import EmbeddingCache
from ragbench.reference.encoder import model_identity, resolve_model


class CountingEncoder:
    """Delegates to a real encoder and counts the document texts it is asked to encode."""

    def __init__(self, encoder, model_id: str | None = None) -> None:
        self._encoder = encoder
        self.name = encoder.name
        self.model_id = model_id or encoder.model_id
        self.dimension = encoder.dimension
        self.encoded_texts = 0
        self.calls = 0

    def encode_documents(self, texts):
        self.calls += 1
        self.encoded_texts += len(texts)
        return self._encoder.encode_documents(texts)

    def encode_query(self, text):
        return self._encoder.encode_query(text)


@pytest.fixture(scope="module")
def documents(collection) -> Documents:
    """The first 12 documents (encoding is the slow part; 12 show the same thing)."""
    corpus = collection.corpus
    return Documents(corpus.ids.to_pylist()[:12], corpus.titles.to_pylist()[:12],
                     corpus.texts.to_pylist()[:12])


def build(documents, encoder, folder):
    cache = EmbeddingCache(folder, model_id=encoder.model_id, dimension=encoder.dimension)
    return DenseRetriever.build(documents, encoder, cache=cache)


def test_second_build_encodes_nothing_and_another_model_everything(documents, encoder,
                                                                    tmp_path, collection):
    first_encoder = CountingEncoder(encoder)
    first = build(documents, first_encoder, tmp_path)
    assert (first_encoder.encoded_texts, first.embedding_stats.encoded) == (12, 12)

    again_encoder = CountingEncoder(encoder)
    again = build(documents, again_encoder, tmp_path)
    assert again_encoder.calls == 0
    assert (again.embedding_stats.encoded, again.embedding_stats.from_cache) == (0, 12)

    query = collection.queries.texts[0].as_py()
    a, b = first.search(query, 12), again.search(query, 12)
    assert a.indices.tolist() == b.indices.tolist()
    assert a.scores.tolist() == b.scores.tolist()

    other_encoder = CountingEncoder(encoder, model_id=encoder.model_id + "+other")
    other = build(documents, other_encoder, tmp_path)
    assert other_encoder.encoded_texts == 12
    assert (other.embedding_stats.encoded, other.embedding_stats.from_cache) == (12, 0)


def test_only_new_texts_are_encoded(documents, encoder, tmp_path):
    half = Documents(documents.ids[:6], documents.titles[:6], documents.texts[:6])
    build(half, CountingEncoder(encoder), tmp_path)
    counting = CountingEncoder(encoder)
    retriever = build(documents, counting, tmp_path)
    assert counting.encoded_texts == 6
    assert (retriever.embedding_stats.from_cache, retriever.embedding_stats.encoded) == (6, 6)


def test_identical_texts_are_encoded_once(encoder, tmp_path):
    documents = Documents(["a", "b", "c"], ["", "", ""],
                          ["glacier canyon", "glacier canyon", "violin sonnet"])
    counting = CountingEncoder(encoder)
    retriever = build(documents, counting, tmp_path)
    assert counting.encoded_texts == 2
    ranking = retriever.search("glacier canyon", 3)
    assert ranking.scores[0] == ranking.scores[1] == pytest.approx(1.0, abs=1e-5)
    assert ranking.indices.tolist() == [0, 1, 2]  # equal scores keep corpus order


def test_cache_roundtrip_keys_and_namespaces(tmp_path):
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((4, 8)).astype(np.float32)
    digests = [hashlib.sha256(t.encode()).digest() for t in ("w", "x", "y", "z")]
    cache = EmbeddingCache(tmp_path, model_id="model-a", dimension=8)
    cache.store(digests[:2], vectors[:2])
    cache.store(digests[2:3], vectors[2:3])

    found_vectors, found = cache.lookup([digests[2], digests[3], digests[0], digests[2]])
    assert found.tolist() == [True, False, True, True]
    assert np.array_equal(found_vectors[[0, 2, 3]], vectors[[2, 0, 2]])
    assert not found_vectors[1].any()

    other = EmbeddingCache(tmp_path, model_id="model-b", dimension=8)
    assert not other.lookup(digests)[1].any()


def test_unreadable_shard_is_skipped(tmp_path):
    digest = hashlib.sha256(b"x").digest()
    cache = EmbeddingCache(tmp_path, model_id="m", dimension=2)
    cache.store([digest], np.array([[0.6, 0.8]], dtype=np.float32))
    (cache.folder / "shard-broken.npz").write_bytes(b"not a zip file")
    vectors, found = cache.lookup([digest])
    assert found.tolist() == [True]
    assert vectors[0].tolist() == pytest.approx([0.6, 0.8])


def test_model_identity_follows_file_contents(tmp_path):
    model = tmp_path / "model"
    (model / "1_Pooling").mkdir(parents=True)
    (model / "config.json").write_text('{"hidden_size": 4}')
    (model / "1_Pooling" / "config.json").write_text('{"mean": true}')
    (model / "model.safetensors").write_bytes(bytes(range(256)) * 10)
    identity = model_identity(model)

    copy = tmp_path / "copy"
    shutil.copytree(model, copy)
    (copy / ".gitattributes").write_text("*.safetensors filter=lfs")
    assert model_identity(copy) == identity  # same files, other place; dot-files ignored

    weights = bytearray((copy / "model.safetensors").read_bytes())
    weights[1000] ^= 1
    (copy / "model.safetensors").write_bytes(bytes(weights))
    assert model_identity(copy) != identity

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no files"):
        model_identity(empty)


def test_unknown_model_is_refused_without_downloading(tmp_path):
    with pytest.raises(ValueError, match="downloads are disabled"):
        resolve_model(f"no-such-org/no-such-model-{tmp_path.name}")
