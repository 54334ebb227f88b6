"""bpref, gm_bpref, infAP against trec_eval 10.0's expected outputs, pytrec_eval
(trec_eval 9.x) and hand calculation."""

from __future__ import annotations

import math
import random

import pytest

from ragbench.core.metrics.bpref import INFAP_EPSILON as EPS
from trec_cases import evaluate_dicts as _evaluate

FAMILIES = ["bpref", "gm_bpref", "infAP"]

# official has bpref only; all_trec all three, gm_bpref for 'all' only (3 queries).
ORACLE_ROWS = {
    "out.test": 1,
    "out.comment.test": 1,
    "out.test.a": 3,
    "out.test.aq": 3 + 3 * 2,
    "out.test.aqc": 3 + 3 * 2,
    "out.test.aqcM": 3 + 3 * 2,
    "out.test.aql": 3 + 3 * 2,
}


@pytest.mark.parametrize("out_file", sorted(ORACLE_ROWS))
def test_matches_trec_eval_expected_output(trec_oracle, out_file):
    expected, actual = trec_oracle.compare(out_file, FAMILIES)
    assert len(expected) == ORACLE_ROWS[out_file]
    assert actual == expected



# Ranked (scores 6..1): a (1), x (not in qrels), c (1), b (0), e (-1: pooled,
# unjudged), d (1); f (1) never retrieved. R = 4, judged non-relevant N = 1 (b).
QRELS = {"q1": {"a": 1, "b": 0, "c": 1, "d": 1, "e": -1, "f": 1}, "q2": {"z": 1}}
RUN = {"q1": {"a": 6.0, "x": 5.0, "c": 4.0, "b": 3.0, "e": 2.0, "d": 1.0}}

# bpref: a and c have no judged non-relevant doc above them (1 each); d has b
# above: 1 - min(1, R) / min(N, R) = 1 - 1/1 = 0. x and e are skipped.
BPREF_Q1 = (1 + 1 + 0) / 4

# infAP, at 0-based position j, with k judged relevant so far (itself included),
# n judged non-relevant and u pooled-unjudged docs above:
#   a: j = 0 -> 1
#   c: j = 2, k = 2, n = 0, u = 0 -> 1/3 + (2/3) * ((1+0+0)/2) * ((1+eps)/(1+0+2eps))
#   d: j = 5, k = 3, n = 1, u = 1 -> 1/6 + (5/6) * ((2+1+1)/5) * ((2+eps)/(2+1+2eps))
INFAP_Q1 = (1.0
            + (1 / 3 + (2 / 3) * (1 / 2) * ((1 + EPS) / (1 + 2 * EPS)))
            + (1 / 6 + (5 / 6) * (4 / 5) * ((2 + EPS) / (3 + 2 * EPS)))) / 4


def test_hand_calculated_ranking():
    per_q, summary = _evaluate(QRELS, RUN, FAMILIES)
    assert per_q["q1"]["bpref"] == BPREF_Q1
    assert per_q["q1"]["infAP"] == pytest.approx(INFAP_Q1, rel=1e-14)
    assert INFAP_Q1 == pytest.approx(41 / 72, abs=1e-5)  # eps -> 0: (1 + 2/3 + 11/18) / 4
    assert "gm_bpref" not in per_q["q1"]  # trec_eval prints it for 'all' only
    assert summary["gm_bpref"] == pytest.approx(BPREF_Q1, rel=1e-14)


def test_unjudged_docs_count_for_infap_only():
    # Removing the pooled-unjudged e changes infAP (u = 0 for d) but not bpref.
    run = {"q1": {k: v for k, v in RUN["q1"].items() if k != "e"}}
    per_q, _ = _evaluate(QRELS, run, FAMILIES)
    assert per_q["q1"]["bpref"] == BPREF_Q1
    # d now at j = 4: 1/5 + (4/5) * ((2+1+0)/4) * ((2+eps)/(3+2eps))
    d_term = 1 / 5 + (4 / 5) * (3 / 4) * ((2 + EPS) / (3 + 2 * EPS))
    want = (1 + (1 / 3 + (2 / 3) * (1 / 2) * ((1 + EPS) / (1 + 2 * EPS))) + d_term) / 4
    assert per_q["q1"]["infAP"] == pytest.approx(want, rel=1e-14)


def test_query_missing_from_run_with_complete():
    per_q, summary = _evaluate(QRELS, RUN, FAMILIES, complete=True)
    assert per_q["q2"] == {"bpref": 0.0, "infAP": 0.0}
    assert summary["bpref"] == BPREF_Q1 / 2
    # geometric mean with q2's 0 floored at 1e-5
    assert summary["gm_bpref"] == pytest.approx(math.sqrt(BPREF_Q1 * 1e-5), rel=1e-14)


def test_no_relevant_documents():
    per_q, summary = _evaluate({"q": {"a": 0}}, {"q": {"a": 2.0, "b": 1.0}}, FAMILIES)
    assert per_q["q"] == {"bpref": 0.0, "infAP": 0.0}
    assert summary["gm_bpref"] == pytest.approx(1e-5, rel=1e-12)


def test_more_non_relevant_than_relevant():
    # R = 1, N = 3: the denominator is min(N, R) = 1, so one judged non-relevant
    # doc above the relevant one already costs the whole preference.
    qrels = {"q": {"n1": 0, "n2": 0, "n3": 0, "r": 1}}
    per_q, _ = _evaluate(qrels, {"q": {"n1": 3.0, "r": 2.0, "n2": 1.0}}, ["bpref"])
    assert per_q["q"]["bpref"] == 0.0
    # R = 2, N = 3: r2 below two non-relevant: 1 - min(2, 2)/min(3, 2) = 0; r1 first: 1
    qrels = {"q": {"n1": 0, "n2": 0, "n3": 0, "r1": 1, "r2": 1}}
    per_q, _ = _evaluate(qrels, {"q": {"r1": 4.0, "n1": 3.0, "n2": 2.0, "r2": 1.0}},
                         ["bpref"])
    assert per_q["q"]["bpref"] == (1 + 0) / 2


def test_ties_and_relevance_level():
    # Equal scores rank c, b, a (docno descending). -l2: a and c (grade 2) are
    # relevant, b (grade 1) judged non-relevant: R = 2, N = 1.
    qrels = {"q": {"a": 2, "b": 1, "c": 2}}
    run = {"q": {"a": 1.0, "b": 1.0, "c": 1.0}}
    per_q, _ = _evaluate(qrels, run, ["bpref"], relevance_level=2)
    # c (rank 1) gets 1; a (rank 3) has b above: 1 - min(1, R)/min(N, R) = 0
    assert per_q["q"]["bpref"] == (1 + 0) / 2


def test_version_9_agrees_with_pytrec_eval_on_random_inputs():
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = random.Random(20240603)
    compared = 0
    for _ in range(80):
        qrels, run = {}, {}
        for q in range(rng.randint(1, 4)):
            docs = [f"d{i}" for i in range(rng.randint(1, 40))]
            qrels[f"q{q}"] = {d: rng.choice([-1, -1, 0, 0, 1, 2]) for d in docs
                              if rng.random() < 0.6} or {docs[0]: 1}
            run[f"q{q}"] = {d: float(rng.randint(0, 5)) for d in docs
                            if rng.random() < 0.7} or {docs[0]: 1.0}
        level = rng.choice([1, 2])
        theirs = pytrec_eval.RelevanceEvaluator(qrels, {"bpref", "infAP"},
                                                relevance_level=level).evaluate(run)
        ours, _ = _evaluate(qrels, run, ["bpref", "infAP"], relevance_level=level,
                            version=9)
        for qid, values in theirs.items():
            for name, value in values.items():
                assert abs(ours[qid][name] - value) <= 1e-12, (qid, name)
                compared += 1
    assert compared > 300
