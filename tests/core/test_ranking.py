"""judge(): trec_eval's ranking (score desc, doc id desc in byte order) and
judgment lookup, checked against a plain-Python reference on generated runs
whose rows come in every order the fast paths special-case."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragbench.core.errors import FormatError
from ragbench.core.qrels import Qrels
from ragbench.core.ranking import NONPOOL, UNJUDGED, judge
from ragbench.core.run import Run


def reference(qrels: dict, run: dict, version: int = 10) -> dict[str, list[int]]:
    """Per query, the grades of retrieved docs in trec_eval order (qsort with
    comp_sim_docno: score desc, then strcmp(docno) desc)."""
    out = {}
    for q in sorted(set(qrels) & set(run), key=lambda s: s.encode()):
        def score(d):
            s = run[q][d]
            return float(np.float32(s)) if version == 9 else s
        docs = sorted(run[q], key=lambda d: (score(d), d.encode()), reverse=True)
        out[q] = [(UNJUDGED if qrels[q][d] < 0 else qrels[q][d]) if d in qrels[q] else NONPOOL
                  for d in docs]
    return out


def ranked(rr) -> dict[str, list[int]]:
    return {q: rr.rel[rr.offsets[i]:rr.offsets[i + 1]].tolist()
            for i, q in enumerate(rr.query_ids)}


def make_run(run: dict, layout: str, rng: np.random.Generator) -> Run:
    rows = [(q, d, s) for q, docs in run.items() for d, s in docs.items()]
    if layout == "shuffled":
        rows = [rows[i] for i in rng.permutation(len(rows))]
    elif layout == "ranked":  # written as a ranker would: by query, score desc
        rows.sort(key=lambda r: (r[0], -r[2]))
    elif layout == "ranked_blocks_shuffled":  # queries contiguous, in any order
        order = list(run)
        rng.shuffle(order)
        rows = [r for q in order for r in sorted([r for r in rows if r[0] == q],
                                                  key=lambda r: -r[2])]
    return Run([r[0] for r in rows], [r[1] for r in rows], np.array([r[2] for r in rows]))


doc_ids = st.one_of(
    st.text(alphabet="abcXYZ019-#é", min_size=1, max_size=6),   # short: fixed-width keys
    st.text(alphabet="ab", min_size=17, max_size=20),            # long: dictionary keys
)


@st.composite
def collections(draw):
    queries = draw(st.lists(st.sampled_from(["1", "2", "10", "q-3", "300"]), min_size=1,
                            max_size=4, unique=True))
    pool = draw(st.lists(doc_ids, min_size=1, max_size=12, unique=True))
    run, qrels = {}, {}
    for q in queries:
        docs = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique=True))
        run[q] = {d: draw(st.sampled_from([0.5, 1.0, 1.0000001, 2.0, -3.0])) for d in docs}
        judged = draw(st.lists(st.sampled_from(pool), max_size=len(pool), unique=True))
        qrels[q] = {d: draw(st.integers(-1, 3)) for d in judged} or {pool[0]: 1}
    return qrels, run


@settings(max_examples=150, deadline=None)
@given(collections(), st.sampled_from(["shuffled", "ranked", "ranked_blocks_shuffled"]),
       st.sampled_from([9, 10]), st.integers(0, 2**32 - 1))
def test_judge_matches_reference(case, layout, version, seed):
    qrels, run = case
    rr = judge(Qrels.from_dict(qrels), make_run(run, layout, np.random.default_rng(seed)),
               version=version)
    assert ranked(rr) == reference(qrels, run, version)
    for i, q in enumerate(rr.query_ids):
        grades = [g for g in qrels[q].values() if g >= 0]
        assert rr.rel_levels[i].tolist()[: max(grades, default=-1) + 1] == \
            [grades.count(g) for g in range(max(grades, default=-1) + 1)]


def test_version_9_compares_scores_as_float32():
    # 1.0 and 1.00000001 are different doubles but the same float: trec_eval 9
    # sees a tie and puts doc "b" (larger id) first.
    qrels = Qrels.from_dict({"q": {"a": 1, "b": 0}})
    run = Run.from_dict({"q": {"a": 1.00000001, "b": 1.0}})
    assert judge(qrels, run, version=10).rel.tolist() == [1, 0]
    assert judge(qrels, run, version=9).rel.tolist() == [0, 1]


def test_max_docs_and_complete():
    qrels = Qrels.from_dict({"q1": {"a": 1}, "q2": {"x": 1}})
    run = Run.from_dict({"q1": {"a": 3.0, "b": 2.0, "c": 1.0}, "q3": {"z": 1.0}})
    rr = judge(qrels, run, max_docs=2, complete=True)
    assert rr.query_ids == ("q1", "q2")
    assert ranked(rr) == {"q1": [1, NONPOOL], "q2": []}
    assert rr.mismatch.only_in_qrels == ("q2",) and rr.mismatch.only_in_run == ("q3",)
    assert judge(qrels, run).query_ids == ("q1",)


@pytest.mark.parametrize("doc", ["d1", "a-very-long-document-identifier-1"])
def test_duplicate_documents_are_refused_on_construction(doc):
    # Both id-key paths (fixed-width for <= 16 bytes, dictionary beyond).
    with pytest.raises(FormatError, match=f"row 3: document '{doc}' is retrieved more than "
                                          "once for query 'q' \\(first at row 1\\)"):
        Run(["q", "q", "q"], [doc, "other", doc], np.array([1.0, 2.0, 3.0]))
    with pytest.raises(FormatError, match="row 2: document .* is judged more than once"):
        Qrels(["q", "q"], [doc, doc], np.array([1, 0]))
    # The same document for two queries is fine.
    Run(["q", "p"], [doc, doc], np.array([1.0, 2.0]))


def test_absurd_grades_are_refused_not_allocated():
    from ragbench.core.errors import EvaluationError
    qrels = Qrels.from_dict({"q": {"d": 2**40}})
    with pytest.raises(EvaluationError, match="relevance grade 1099511627776 .* too large"):
        judge(qrels, Run.from_dict({"q": {"d": 1.0}}))
