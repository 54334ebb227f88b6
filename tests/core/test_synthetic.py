"""The synthetic collection: deterministic to the byte, well-formed, and with
runs whose quality order is what the generator promises."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ragbench.core.evaluate import evaluate_trec
from ragbench.core.io import read_beir, read_trec_qrels, read_trec_run
from ragbench.core.io._text import is_regular
from ragbench.core.ranking import trec_order
from ragbench.core.run import Run
from ragbench.core.synthetic import (
    CONTENT_WORDS,
    FUNCTION_WORDS,
    make_benchmark_files,
    make_collection,
    make_runs,
    write_synthetic,
)


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def collection():
    return make_collection(seed=0)


def test_same_seed_same_collection():
    a, b = make_collection(seed=3), make_collection(seed=3)
    for x, y in ((a.corpus.texts, b.corpus.texts), (a.corpus.titles, b.corpus.titles),
                 (a.queries.texts, b.queries.texts), (a.qrels.doc_ids, b.qrels.doc_ids)):
        assert x.equals(y)
    assert np.array_equal(a.qrels.relevance, b.qrels.relevance)
    assert not make_collection(seed=4).corpus.texts.equals(a.corpus.texts)


def test_collection_shape(collection):
    assert len(collection.corpus) == 500 and len(collection.queries) == 30
    assert collection.corpus.ids[:3].to_pylist() == ["d1", "d2", "d3"]
    assert collection.queries.ids[:3].to_pylist() == ["q1", "q2", "q3"]
    grades = collection.qrels.relevance
    assert set(grades.tolist()) == {0, 1, 2}
    per_query = collection.qrels.to_dict()
    assert len(per_query) == 30
    assert all(2 in docs.values() for docs in per_query.values())
    # Incomplete judgments: documents no query judges at all.
    judged = set(collection.qrels.doc_ids.to_pylist())
    assert 0 < len(set(collection.corpus.ids.to_pylist()) - judged) < 500


def test_texts_are_words_of_the_vocabulary(collection):
    vocabulary = set(FUNCTION_WORDS) | set(CONTENT_WORDS)
    for text in collection.corpus.texts.to_pylist()[:100]:
        assert text[0].isupper() and text.endswith(".")
        assert set(text[:-1].lower().split()) <= vocabulary
    for query in collection.queries.texts.to_pylist():
        assert 2 <= len(query.split()) <= 4 and set(query.split()) <= set(CONTENT_WORDS)


def test_lexical_matching_finds_relevant_documents(collection):
    # Plain term-frequency overlap (a crude BM25) must rank judged-relevant
    # documents well above chance: the texts really carry the topics.
    docs = [Counter(re.findall(r"[a-z]+", t.lower())) for t in collection.corpus.texts.to_pylist()]
    qids, dids, scores = [], [], []
    for qid, query in zip(collection.queries.ids.to_pylist(),
                          collection.queries.texts.to_pylist()):
        terms = query.split()
        for did, counts in zip(collection.corpus.ids.to_pylist(), docs):
            qids.append(qid)
            dids.append(did)
            scores.append(sum(counts[t] for t in terms) + 0.0)
    tf = evaluate_trec(collection.qrels, Run(qids, dids, np.array(scores)), ["map", "P.10"])
    noise = np.random.default_rng(0).random(len(scores))
    chance = evaluate_trec(collection.qrels, Run(qids, dids, noise), ["map", "P.10"])
    assert chance.summary()["map"] < 0.1
    assert tf.summary()["map"] > 0.5 and tf.summary()["P_10"] > 0.5


def test_runs_quality_order_and_ties(collection):
    runs = make_runs(collection.qrels, collection.corpus.ids, seed=0)
    assert [r.name for r in runs] == ["run1", "run2", "run3"]
    maps = [evaluate_trec(collection.qrels, r, ["map"]).summary()["map"] for r in runs]
    assert maps[0] > maps[1] + 0.05 > maps[2] + 0.3
    per_query = [evaluate_trec(collection.qrels, r, ["map"])["map"].per_query for r in runs]
    assert np.mean(per_query[0] > per_query[2]) > 0.9  # better on nearly every query
    for run in runs:
        assert len(run) == 30 * 100  # depth 100 for every query
    # run3: scores rounded to 0.5 -> many tied scores within a query.
    scores = runs[2].to_dict()
    tied = sum(len(d) - len(set(d.values())) for d in scores.values())
    assert tied > 1000
    # Unjudged documents are retrieved too.
    judged = collection.qrels.to_dict()
    unjudged = sum(d not in judged[q] for q, docs in runs[0].to_dict().items() for d in docs)
    assert unjudged > 1000


def test_runs_are_deterministic(collection):
    a = make_runs(collection.qrels, collection.corpus.ids, seed=1)
    b = make_runs(collection.qrels, collection.corpus.ids, seed=1)
    for x, y in zip(a, b):
        assert x.doc_ids.equals(y.doc_ids) and np.array_equal(x.scores, y.scores)


def test_write_synthetic_is_byte_identical(tmp_path):
    one = _digests(write_synthetic(tmp_path / "one", seed=7))
    two = _digests(write_synthetic(tmp_path / "two", seed=7))
    assert one == two
    assert sorted(one) == ["corpus.jsonl", "qrels/test.tsv", "queries.jsonl",
                           "runs/run1.run", "runs/run2.run", "runs/run3.run"]
    other = _digests(write_synthetic(tmp_path / "other", seed=8))
    assert all(other[name] != one[name] for name in one)


def test_written_files_read_back(tmp_path):
    folder = write_synthetic(tmp_path, seed=0)
    data = read_beir(folder)
    collection = make_collection(seed=0)
    assert data.corpus.texts.equals(collection.corpus.texts)
    assert data.qrels.doc_ids.equals(collection.qrels.doc_ids)
    run = read_trec_run(folder / "runs" / "run1.run")
    assert run.name == "run1"
    expected = make_runs(collection.qrels, collection.corpus.ids, seed=0)[0]
    assert run.to_dict() == expected.to_dict()


def test_benchmark_files_small(tmp_path):
    qrels_path, run_path = make_benchmark_files(tmp_path / "a", num_queries=50, depth=200,
                                                seed=5)
    again = make_benchmark_files(tmp_path / "b", num_queries=50, depth=200, seed=5)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert [p.name for p in again] == ["qrels.txt", "run.txt"]
    assert is_regular(run_path.read_bytes()) and is_regular(qrels_path.read_bytes())
    run, qrels = read_trec_run(run_path), read_trec_qrels(qrels_path)
    assert run.name == "bench" and len(run) == 50 * 200
    assert len(run.query_set()) == 50
    assert all(1 <= int(q) <= 1_200_000 for q in run.query_set())
    assert all(re.fullmatch(r"D\d{7}", d) for d in run.doc_ids.to_pylist()[:500])
    # Written in trec_eval's own order: the ranking is the row order.
    order, _, _ = trec_order(run)
    assert np.array_equal(order, np.arange(len(run)))
    per_query = qrels.to_dict()
    assert run.query_set() == set(per_query)
    for docs in per_query.values():
        assert 50 + 30 <= len(docs) <= 150 + 30
        assert max(docs.values()) >= 1 and set(docs.values()) <= {0, 1, 2, 3}
    scores = np.array(run.scores)
    assert 0.005 < np.mean(scores[1:] == scores[:-1]) < 0.05  # ~2% ties

