"""Precision/recall-style families against trec_eval 10.0's expected outputs,
hand-calculated edge cases, and pytrec_eval (trec_eval 9.x) on random inputs."""

from __future__ import annotations

import random

import pytest

from ragbench.core.errors import MeasureError
from ragbench.core.trec_spec import parse_trec_specs
from trec_cases import evaluate_dicts as _evaluate

FAMILIES = ["P", "Rprec", "Rprec_mult", "recall", "relative_P", "success", "set_P",
            "set_relative_P", "set_recall", "set_F", "utility"]

# Expected rows per file for FAMILIES, so that a filter gone wrong cannot pass
# by comparing two empty sets.
ORACLE_ROWS = {
    "out.test": 10,  # P_5 ... P_1000 and Rprec, 'all' only
    "out.comment.test": 10,
    "out.test.a": 46,
    "out.test.aq": 4 * 46,
    "out.test.aqc": 4 * 46,
    "out.test.aqcM": 4 * 46,
    "out.test.aql": 4 * 46,
    "out.test.meas_params": 4 * 12,  # P 3, recall 2, Rprec_mult 3, utility 1, success 3
}


@pytest.mark.parametrize("out_file", sorted(ORACLE_ROWS))
def test_matches_trec_eval_expected_output(trec_oracle, out_file):
    expected, actual = trec_oracle.compare(out_file, FAMILIES)
    assert len(expected) == ORACLE_ROWS[out_file]
    assert actual == expected



# q1 ranks a (rel 1), b (rel 0), d (not in qrels): rel list [1, 0, -1];
# R = 2 (a, c), ret = 3, relret = 1. q2 is judged but not in the run.
QRELS = {"q1": {"a": 1, "b": 0, "c": 1}, "q2": {"x": 1}}
RUN = {"q1": {"a": 3.0, "b": 2.0, "d": 1.0}}


def test_hand_calculated_small_ranking():
    per_q, _ = _evaluate(QRELS, RUN, FAMILIES)
    q1 = per_q["q1"]
    assert q1["P_5"] == 1 / 5
    assert q1["Rprec"] == 1 / 2  # top min(R, ret) = 2 docs [1, 0]: 1 relevant / R
    assert q1["recall_5"] == 1 / 2
    assert q1["relative_P_5"] == 1 / 2  # 1 / min(5, R=2)
    assert q1["success_1"] == 1.0
    # Rprec_mult_p: cutoff c = (long)(p * 2 + 0.9)
    assert q1["Rprec_mult_0.20"] == 1.0  # c = (long)1.3 = 1: 1 rel in top 1
    assert q1["Rprec_mult_0.60"] == 1 / 2  # c = (long)2.1 = 2: 1 rel in top 2
    assert q1["Rprec_mult_2.00"] == 1 / 4  # c = (long)4.9 = 4 > ret: relret / 4
    assert q1["set_P"] == 1 / 3
    assert q1["set_recall"] == 1 / 2
    assert q1["set_relative_P"] == 1 / 2  # 1 / min(ret=3, R=2)
    # set_F: 2 * P * R / (P + R) = 2 * 1/3 * 1/2 / (1/3 + 1/2) = (1/3) / (5/6) = 0.4
    assert q1["set_F"] == pytest.approx(0.4, abs=1e-15)
    assert q1["utility"] == 1 * 1 - 1 * 2  # 1 relevant, 2 non-relevant retrieved


def test_parameters_and_names():
    per_q, summary = _evaluate(QRELS, RUN, ["set_F.0.5", "utility.2,-1,-0.5,0",
                                            "Rprec_mult.1.5,0.2"])
    q1 = per_q["q1"]
    # x = 0.5: 1.5 * (1/3) * (1/2) / (0.5 * 1/3 + 1/2) = 0.25 / (2/3) = 0.375
    assert q1["set_F_0.5"] == pytest.approx(0.375, abs=1e-15)
    assert q1["utility_2,-1,-0.5,0"] == 2 * 1 - 1 * 2 - 0.5 * (2 - 1)
    assert q1["Rprec_mult_1.50"] == 1 / 3  # c = (long)3.9 = 3 = ret: 1 rel in top 3
    assert list(summary) == ["Rprec_mult_0.20", "Rprec_mult_1.50", "utility_2,-1,-0.5,0",
                             "set_F_0.5"]


def test_utility_needs_four_coefficients():
    with pytest.raises(MeasureError, match="4 coefficients"):
        parse_trec_specs(["utility.1,-1,0"])


def test_query_missing_from_run_with_complete():
    # trec_eval 10 -c scores q2 as a ranking of one unjudged document, then resets
    # the plain 'utility' column to 0 (trec_eval.c). Every other value here is 0
    # for an empty or a one-unjudged-doc ranking alike; utility_2,-1,-0.5,0 keeps
    # 2*0 - 1*1 (the stand-in doc) - 0.5*(R=1 - 0) = -1.5.
    specs = FAMILIES + ["utility.2,-1,-0.5,0"]
    per_q, summary = _evaluate(QRELS, RUN, specs, complete=True)
    q2 = per_q["q2"]
    assert q2.pop("utility_2,-1,-0.5,0") == -1.5
    assert set(q2.values()) == {0.0}
    assert summary["utility_2,-1,-0.5,0"] == (-0.5 + -1.5) / 2
    assert summary["set_P"] == (1 / 3 + 0) / 2
    # trec_eval 9 did not score missing queries at all: they add 0 to the mean.
    per_q9, _ = _evaluate(QRELS, RUN, specs, complete=True, version=9)
    assert set(per_q9["q2"].values()) == {0.0}


def test_no_relevant_documents():
    # R = 0: every ratio over R is 0, Rprec_mult's cutoffs (long)(p*0 + 0.9) = 0.
    per_q, _ = _evaluate({"q": {"a": 0}}, {"q": {"a": 2.0, "b": 1.0}}, FAMILIES)
    q = per_q["q"]
    assert q.pop("utility") == -2.0  # two non-relevant retrieved
    assert set(q.values()) == {0.0}


def test_ties_are_broken_by_docno_descending():
    # Equal scores rank d3, d2, d1: the only relevant doc (d1) is at rank 3.
    per_q, _ = _evaluate({"q": {"d1": 1}}, {"q": {"d1": 1.0, "d2": 1.0, "d3": 1.0}},
                         ["success.1,3", "Rprec", "P.3"])
    assert per_q["q"]["success_1"] == 0.0
    assert per_q["q"]["success_3"] == 1.0
    assert per_q["q"]["Rprec"] == 0.0
    assert per_q["q"]["P_3"] == 1 / 3


def test_unjudged_and_graded_documents():
    # Ranked: a (qrels -1: unjudged), b (1), c (12), e (not in qrels).
    qrels = {"q": {"a": -1, "b": 1, "c": 12}}
    run = {"q": {"a": 4.0, "b": 3.0, "c": 2.0, "e": 1.0}}
    per_q, _ = _evaluate(qrels, run, FAMILIES)
    assert per_q["q"]["Rprec"] == 1 / 2  # R = 2, top 2 = [unjudged, 1]
    assert per_q["q"]["set_P"] == 2 / 4  # unjudged docs count as retrieved
    per_q, _ = _evaluate(qrels, run, FAMILIES, relevance_level=2)
    assert per_q["q"]["Rprec"] == 0.0  # R = 1 (c), top 1 = [unjudged]
    assert per_q["q"]["recall_5"] == 1.0
    assert per_q["q"]["relative_P_5"] == 1.0  # 1 / min(5, R=1)


def test_empty_rankings_from_max_docs_zero():
    # -M0 keeps no document; the queries are in the run, so no stand-in ranking.
    per_q, _ = _evaluate(QRELS, RUN, FAMILIES, max_docs=0)
    assert set(per_q["q1"].values()) == {0.0}


def test_agrees_with_pytrec_eval_on_random_inputs():
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = random.Random(20240601)
    specs = {m: m for m in FAMILIES}
    specs |= {"Rprec_mult": "Rprec_mult.0.05,0.5,3.0", "set_F": "set_F.0.5",
              "recall": "recall.1,2,50", "relative_P": "relative_P.1,3,7"}
    rename = {"set_F": "set_F_0.5"}  # pytrec_eval names it without parameters
    compared = 0
    for _ in range(60):
        qrels, run = {}, {}
        for q in range(rng.randint(1, 4)):
            docs = [f"d{i}" for i in range(rng.randint(1, 30))]
            qrels[f"q{q}"] = {d: rng.choice([-1, 0, 0, 1, 2, 3]) for d in docs
                              if rng.random() < 0.6} or {docs[0]: 1}
            run[f"q{q}"] = {d: float(rng.randint(0, 5)) for d in docs
                            if rng.random() < 0.7} or {docs[0]: 1.0}
        level = rng.choice([1, 2])
        for family, spec in specs.items():
            theirs = pytrec_eval.RelevanceEvaluator(
                qrels, {spec}, relevance_level=level).evaluate(run)
            ours, _ = _evaluate(qrels, run, [spec], relevance_level=level, version=9)
            for qid, values in theirs.items():
                for name, value in values.items():
                    assert ours[qid][rename.get(name, name)] == pytest.approx(
                        value, rel=1e-12, abs=1e-15), (spec, qid, name)
                    compared += 1
    assert compared > 1000
