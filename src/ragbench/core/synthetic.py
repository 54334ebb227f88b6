"""Deterministic synthetic test collections, for tests, demos and benchmarks.

* :func:`make_collection`: a small BEIR-like collection (corpus, queries,
  graded qrels 0-2) whose texts are English-like sentences over a fixed
  vocabulary, so that a lexical ranker such as BM25 can find the relevant
  documents: each query is about a topic (a handful of content words) and a
  document is relevant to the degree it is about that topic.
* :func:`make_runs`: runs of decreasing quality over such a collection.
* :func:`write_synthetic`: both, written as files (BEIR folder + TREC runs).
* :func:`make_benchmark_files`: a big TREC qrels + run (7,000 x 1,000 by
  default), built with vectorised numpy/Arrow code.

Same seed, same output: every random draw comes from one
``numpy.random.Generator`` seeded by the caller, in a fixed order, and files
are written without anything time- or platform-dependent, so two generations
are byte-identical.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ragbench.core.io.beir import BeirDataset, Corpus, Queries, write_beir
from ragbench.core.io.trec import write_trec_qrels, write_trec_run
from ragbench.core.qrels import Qrels
from ragbench.core.run import Run

FUNCTION_WORDS = (
    "the of and a to in is that for it as was with be by on not this are or at from "
    "which an but have has were their its they can more been also than other these "
    "into some such when most only may both between each over under while"
).split()

CONTENT_WORDS = (
    "river bridge engine market harvest glacier protein circuit orbit violin garden "
    "harbor tunnel forest desert island canyon volcano meadow lagoon prairie summit "
    "battery magnet sensor laser signal antenna voltage turbine reactor pump valve "
    "wheat barley cotton coffee tomato potato olive grape lemon pepper honey cheese "
    "bread butter flour sugar salt vinegar recipe kitchen oven kettle ladle spoon "
    "planet comet galaxy nebula telescope asteroid meteor crater eclipse gravity "
    "vaccine virus enzyme tissue neuron muscle kidney liver lung blood fever therapy "
    "contract tariff budget pension mortgage invoice ledger auditor dividend merger "
    "novel poem chorus sonnet ballet opera canvas sculpture mural fresco gallery "
    "stadium athlete sprint marathon referee trophy league tennis rowing cycling "
    "castle knight empire treaty dynasty siege monarch colony frontier rebellion "
    "glacier tundra monsoon drought cyclone rainfall erosion sediment aquifer delta "
    "compiler kernel network router packet server cache thread socket database "
    "algorithm matrix vector theorem integral lattice prime graph tensor polygon "
    "insect beetle spider falcon salmon whale dolphin otter badger heron sparrow "
    "copper iron silver nickel cobalt quartz granite marble basalt crystal mineral "
    "railway freight cargo airport runway pilot captain vessel anchor lighthouse "
    "climate carbon methane ozone emission solar wind hydrogen biomass recycling "
    "school teacher student lecture library archive museum journal thesis seminar "
    "court judge verdict statute appeal witness tribunal lawyer evidence custody"
).split()
CONTENT_WORDS = tuple(dict.fromkeys(CONTENT_WORDS))  # drop repeats, keep order
FUNCTION_WORDS = tuple(FUNCTION_WORDS)

_TOPIC_SIZE = 6


def make_collection(seed: int = 0, *, num_docs: int = 500, num_queries: int = 30,
                    doc_length: tuple[int, int] = (20, 60),
                    unjudged_fraction: float = 0.2) -> BeirDataset:
    """A BEIR-like collection: ``d1..dN`` documents, ``q1..qM`` queries, qrels 0-2.

    Query ``j`` is about topic ``j`` (6 content words). Each document has a
    topic and a focus ``f`` ~ U(0, 1); each of its words is, independently, a
    function word (p = 0.4), a word of its topic (p = 0.5 f) or any content
    word. Grades for a query's topic documents: 2 if ``f >= 0.6``, 1 if
    ``f >= 0.3``, else 0; plus 5 off-topic documents judged 0. A fraction
    ``unjudged_fraction`` of the topic documents is left out of the qrels
    (incomplete judgments). Document ``j`` (j < M) is a focused (f = 0.9),
    always judged document of topic ``j``, so every query has a grade-2 document.
    """
    if num_queries < 1 or num_docs < num_queries:
        raise ValueError("need num_queries >= 1 and num_docs >= num_queries")
    rng = np.random.default_rng(seed)
    n_content = len(CONTENT_WORDS)
    # Topic words: the first _TOPIC_SIZE of an independent shuffle per topic.
    topics = np.argsort(rng.random((num_queries, n_content)), axis=1)[:, :_TOPIC_SIZE]
    doc_topic = rng.integers(0, num_queries, size=num_docs)
    focus = rng.random(num_docs)
    doc_topic[:num_queries] = np.arange(num_queries)
    focus[:num_queries] = 0.9
    lengths = rng.integers(doc_length[0], doc_length[1] + 1, size=num_docs)

    texts = _texts(rng, topics[doc_topic], focus, lengths)
    title_focus = np.minimum(1.0, focus + 0.3)
    titles = _texts(rng, topics[doc_topic], title_focus, rng.integers(3, 7, size=num_docs),
                    sentence=False)
    query_len = rng.integers(2, 5, size=num_queries)
    query_words = [" ".join(CONTENT_WORDS[w] for w in topics[j, :query_len[j]])
                   for j in range(num_queries)]

    grade = np.where(focus >= 0.6, 2, np.where(focus >= 0.3, 1, 0))
    judged = rng.random(num_docs) >= unjudged_fraction
    judged[:num_queries] = True
    q_idx, d_idx, g = [], [], []
    for j in range(num_queries):
        on_topic = np.flatnonzero((doc_topic == j) & judged)
        off_topic = np.flatnonzero(doc_topic != j)
        off = rng.choice(off_topic, size=min(5, len(off_topic)), replace=False)
        docs = np.concatenate([on_topic, np.sort(off)])
        q_idx.append(np.full(len(docs), j))
        d_idx.append(docs)
        g.append(np.concatenate([grade[on_topic], np.zeros(len(off), dtype=np.int64)]))
    q_idx, d_idx = np.concatenate(q_idx), np.concatenate(d_idx)
    doc_ids = [f"d{i + 1}" for i in range(num_docs)]
    query_ids = [f"q{j + 1}" for j in range(num_queries)]
    qrels = Qrels(pa.array(query_ids).take(pa.array(q_idx)),
                  pa.array(doc_ids).take(pa.array(d_idx)), np.concatenate(g))
    corpus = Corpus(pa.array(doc_ids), pa.array(titles), pa.array(texts))
    return BeirDataset(corpus, Queries(pa.array(query_ids), pa.array(query_words)), qrels)


def _texts(rng: np.random.Generator, topic_words: np.ndarray, focus: np.ndarray,
           lengths: np.ndarray, *, sentence: bool = True) -> list[str]:
    """One text per row: words drawn as :func:`make_collection` describes."""
    total = int(lengths.sum())
    owner = np.repeat(np.arange(len(lengths)), lengths)
    u = rng.random(total)
    # Zipf-like background frequencies: common words really are common.
    fw = 1.0 / np.arange(1, len(FUNCTION_WORDS) + 1)
    cw = 1.0 / np.arange(1, len(CONTENT_WORDS) + 1) ** 0.8
    function = rng.choice(len(FUNCTION_WORDS), size=total, p=fw / fw.sum())
    content = rng.choice(len(CONTENT_WORDS), size=total, p=cw / cw.sum())
    topical = topic_words[owner, rng.integers(0, topic_words.shape[1], size=total)]
    p_function = 0.4 if sentence else 0.0
    is_function = u < p_function
    is_topic = ~is_function & (u < p_function + (1 - p_function) * 0.5 * focus[owner])
    vocab = np.array(FUNCTION_WORDS + CONTENT_WORDS, dtype=object)
    word_idx = np.where(is_function, function,
                        len(FUNCTION_WORDS) + np.where(is_topic, topical, content))
    words = vocab[word_idx]
    bounds = np.concatenate(([0], np.cumsum(lengths)))
    out = []
    for i in range(len(lengths)):
        text = " ".join(words[bounds[i]:bounds[i + 1]])
        out.append(text[:1].upper() + text[1:] + "." if sentence else text.title())
    return out


def make_runs(qrels: Qrels, doc_ids, *, num_runs: int = 3, depth: int = 100,
              seed: int = 0) -> list[Run]:
    """``num_runs`` runs named ``run1``.. over the documents ``doc_ids``.

    For each query the candidates are its judged documents and ``depth``
    random others (most of them unjudged). Run ``r`` scores a candidate
    ``q_r * grade + N(0, 1)`` with quality ``q_r`` falling linearly from 3 to
    0.3, and keeps the top ``depth``: ``run1`` is clearly the best. The last
    run (when ``num_runs >= 3``) has its scores rounded to 0.5, so it has many
    ties; the other scores are rounded to 6 decimals.
    """
    if num_runs < 1 or depth < 1:
        raise ValueError("need num_runs >= 1 and depth >= 1")
    rng = np.random.default_rng(seed)
    doc_ids = pa.array(list(doc_ids) if not isinstance(doc_ids, (pa.Array, pa.ChunkedArray))
                       else doc_ids).cast(pa.string())
    doc_pos = {d: i for i, d in enumerate(doc_ids.to_pylist())}
    per_query: dict[str, tuple[list[int], list[int]]] = {}
    for q, d, g in zip(qrels.query_ids.to_pylist(), qrels.doc_ids.to_pylist(),
                       qrels.relevance.tolist()):
        if d in doc_pos:
            docs, grades = per_query.setdefault(q, ([], []))
            docs.append(doc_pos[d])
            grades.append(max(g, 0))
    qualities = np.linspace(3.0, 0.3, num_runs) if num_runs > 1 else np.array([3.0])
    runs_q, runs_d, runs_s = [[] for _ in range(num_runs)], [[] for _ in range(num_runs)], \
        [[] for _ in range(num_runs)]
    for q in sorted(per_query):
        judged, grades = (np.asarray(x) for x in per_query[q])
        extra = rng.choice(len(doc_ids), size=min(depth, len(doc_ids)), replace=False)
        extra = extra[~np.isin(extra, judged)]
        cand = np.concatenate([judged, extra])
        gain = np.concatenate([grades, np.zeros(len(extra))])
        for r in range(num_runs):
            score = qualities[r] * gain + rng.standard_normal(len(cand))
            score = np.round(score * 2) / 2 if (num_runs >= 3 and r == num_runs - 1) \
                else np.round(score, 6)
            top = np.argsort(-score, kind="stable")[:depth]
            runs_q[r].append(np.full(len(top), q, dtype=object))
            runs_d[r].append(cand[top])
            runs_s[r].append(score[top])
    runs = []
    for r in range(num_runs):
        docs = doc_ids.take(pa.array(np.concatenate(runs_d[r]) if runs_d[r] else
                                     np.zeros(0, dtype=np.int64)))
        qids = np.concatenate(runs_q[r]).tolist() if runs_q[r] else []
        scores = np.concatenate(runs_s[r]) if runs_s[r] else np.zeros(0)
        runs.append(Run(pa.array(qids, type=pa.string()), docs, scores, name=f"run{r + 1}"))
    return runs


def write_synthetic(folder: str | os.PathLike, seed: int = 0, *, num_docs: int = 500,
                    num_queries: int = 30, num_runs: int = 3, depth: int = 100) -> Path:
    """Write :func:`make_collection` as a BEIR folder (``corpus.jsonl``,
    ``queries.jsonl``, ``qrels/test.tsv``) and :func:`make_runs` as
    ``runs/run1.run``.. (TREC). Same arguments, byte-identical files."""
    root = Path(folder)
    data = make_collection(seed, num_docs=num_docs, num_queries=num_queries)
    write_beir(root, data)
    (root / "runs").mkdir(parents=True, exist_ok=True)
    for run in make_runs(data.qrels, data.corpus.ids, num_runs=num_runs, depth=depth,
                         seed=seed):
        write_trec_run(run, root / "runs" / f"{run.name}.run")
    return root


_DOC_SPACE = 9_999_991  # prime: any stride walks it without repeats


def make_benchmark_files(folder: str | os.PathLike, num_queries: int = 7000,
                         depth: int = 1000, seed: int = 0) -> tuple[Path, Path]:
    """Write ``qrels.txt`` and ``run.txt`` (TREC) for the speed benchmark and
    return their paths.

    Query ids are distinct numbers up to 1,200,000 (so byte order differs from
    numeric order); doc ids ``D0000000``.. Query ``q`` retrieves ``depth``
    distinct documents ``(a_q + k b_q) mod P`` (P prime, so no repeats), scores
    ~ N(15, 2) sorted and rounded to 4 decimals, about 2% tied with the
    previous one. Judged: the top ``n_q`` ~ U{50..150} retrieved documents,
    relevant with probability ``0.6 / (1 + rank/30) + 0.05`` and graded 1-3,
    plus 30 relevant-or-not documents that were not retrieved; every query has
    at least one relevant document. Vectorised: no Python loop per line.
    """
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    qnums = rng.choice(1_200_000, size=num_queries, replace=False) + 1
    # Rows in trec_eval's order (queries in byte order, score descending, doc id
    # descending): the writer then finds the run already ranked and skips a sort.
    qnums = qnums[np.argsort(np.array([str(q) for q in qnums.tolist()]))]
    start = rng.integers(0, _DOC_SPACE, size=num_queries)
    stride = rng.integers(1, _DOC_SPACE, size=num_queries)
    outside, pool = 30, min(150, depth)
    k = np.arange(depth + outside, dtype=np.int64)
    docs = (start[:, None] + k[None, :] * stride[:, None]) % _DOC_SPACE

    scores = np.round(np.sort(rng.normal(15.0, 2.0, size=(num_queries, depth)), axis=1)
                      [:, ::-1], 4)
    tie = rng.random((num_queries, depth)) < 0.02
    tie[:, 0] = False
    idx = np.where(tie, 0, np.arange(depth)[None, :])
    np.maximum.accumulate(idx, axis=1, out=idx)
    scores = np.take_along_axis(scores, idx, axis=1)
    retrieved = np.lexsort((-docs[:, :depth], -scores), axis=1)
    docs[:, :depth] = np.take_along_axis(docs[:, :depth], retrieved, axis=1)

    n_judged = rng.integers(min(50, pool), pool + 1, size=num_queries)
    rank = np.arange(pool)
    judged_in = rank[None, :] < n_judged[:, None]
    p_rel = np.concatenate([np.broadcast_to(0.6 / (1 + rank / 30) + 0.05, (num_queries, pool)),
                            np.full((num_queries, outside), 0.25)], axis=1)
    relevant = rng.random(p_rel.shape) < p_rel
    relevant[:, 0] |= ~relevant.any(axis=1)
    grades = np.where(relevant, rng.choice([1, 2, 3], size=p_rel.shape, p=[0.6, 0.3, 0.1]), 0)
    judged = np.concatenate([judged_in, np.ones((num_queries, outside), bool)], axis=1)
    judged_docs = np.concatenate([docs[:, :pool], docs[:, depth:]], axis=1)

    qids = pc.cast(pa.array(qnums), pa.string())
    qrow = np.broadcast_to(np.arange(num_queries)[:, None], judged.shape)[judged]
    qrels = Qrels(qids.take(pa.array(qrow)), _doc_names(judged_docs[judged]), grades[judged])
    run_rows = np.repeat(np.arange(num_queries), depth)
    run = Run(qids.take(pa.array(run_rows)), _doc_names(docs[:, :depth].ravel()),
              scores.ravel(), name="bench")
    qrels_path, run_path = root / "qrels.txt", root / "run.txt"
    write_trec_qrels(qrels, qrels_path)
    write_trec_run(run, run_path)
    return qrels_path, run_path


def _doc_names(numbers: np.ndarray) -> pa.Array:
    """``D`` + 7 digits, built with Arrow string kernels."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), 7, "0")
    return pc.binary_join_element_wise("D", digits, "")
