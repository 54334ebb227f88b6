"""map, gm_map, recip_rank, iprec_at_recall, 11pt_avg, map_cut, set_map against
trec_eval 10.0's expected outputs, pytrec_eval (trec_eval 9.x) and hand
calculation."""

from __future__ import annotations

import math
import random
from collections import defaultdict

import numpy as np
import pytest

from ragbench.core.evaluate import evaluate_trec
from ragbench.core.io import read_trec_qrels, read_trec_run
from ragbench.core.metrics.average_precision import (
    segment_running_sum,
    segment_suffix_max,
    segment_total,
)
from trec_cases import evaluate_dicts as _evaluate

FAMILIES = ["map", "gm_map", "recip_rank", "iprec_at_recall", "11pt_avg", "map_cut",
            "set_map"]

# Rows per file, so that a filter gone wrong cannot pass by comparing two empty sets.
# 'all' only: map, gm_map, recip_rank, 11 iprec = 14 (official); all_trec adds
# 11pt_avg, 9 map_cut, set_map = 25. Per query (3 queries) all but gm_map = 24.
ORACLE_ROWS = {
    "out.test": 14,
    "out.comment.test": 14,
    "out.test.a": 25,
    "out.test.aq": 25 + 3 * 24,
    "out.test.aqc": 25 + 3 * 24,  # -c: query 302 missing from the run scores 0
    "out.test.aqcM": 25 + 3 * 24,
    "out.test.aql": 25 + 3 * 24,  # -l2
    "out.test.meas_params": 4 * 6,  # 5 iprec_at_recall cutoffs + 11pt_avg_.25,.5,.75
}


@pytest.mark.parametrize("out_file", sorted(ORACLE_ROWS))
def test_matches_trec_eval_expected_output(trec_oracle, out_file):
    expected, actual = trec_oracle.compare(out_file, FAMILIES)
    assert len(expected) == ORACLE_ROWS[out_file]
    assert actual == expected



# Ranked (scores 6..1): a (1), x (not in qrels), c (1), b (0), e (-1: pooled,
# unjudged), d (1). f (1) is never retrieved. R = 4 (a, c, d, f), 3 of them
# retrieved, at ranks 1, 3, 6: precisions 1/1, 2/3, 3/6.
QRELS = {"q1": {"a": 1, "b": 0, "c": 1, "d": 1, "e": -1, "f": 1}, "q2": {"z": 1}}
RUN = {"q1": {"a": 6.0, "x": 5.0, "c": 4.0, "b": 3.0, "e": 2.0, "d": 1.0}}
AP_Q1 = (1 + 2 / 3 + 3 / 6) / 4  # = 13/24


def test_hand_calculated_ranking():
    per_q, _ = _evaluate(QRELS, RUN, FAMILIES + ["map_cut.1,2,3,6,7"])
    q1 = per_q["q1"]
    assert q1["map"] == AP_Q1
    assert q1["recip_rank"] == 1.0
    assert q1["map_cut_2"] == 1 / 4  # only rank 1 within the top 2
    assert q1["map_cut_3"] == (1 + 2 / 3) / 4
    assert q1["map_cut_6"] == q1["map_cut_7"] == AP_Q1  # beyond the ranking: all of it
    assert q1["set_map"] == 3 ** 2 / (6 * 4)  # num_rel_ret^2 / (num_ret * num_rel)


# Interpolated precision at the k-th relevant doc, max of later precisions:
# IP(1) = max(1, 2/3, 1/2) = 1, IP(2) = 2/3, IP(3) = 1/2.
# trec_eval 10 cutoffs lround(p * 4) for p = 0, .1, ..., 1: 0 0 1 1 2 2 2 3 3 4 4
# trec_eval 9 (long)(p * 4 + 0.9):                        0 1 1 2 2 2 3 3 4 4 4
# A cutoff above num_rel_ret = 3 scores 0; cutoff 0 takes IP(1).
IPREC_V10 = [1, 1, 1, 1, 2 / 3, 2 / 3, 2 / 3, 1 / 2, 1 / 2, 0, 0]
IPREC_V9 = [1, 1, 1, 2 / 3, 2 / 3, 2 / 3, 1 / 2, 1 / 2, 0, 0, 0]
POINTS = [f"{p / 10:.2f}" for p in range(11)]


@pytest.mark.parametrize(("version", "want"), [(10, IPREC_V10), (9, IPREC_V9)])
def test_iprec_at_recall_and_11pt_avg_by_version(version, want):
    per_q, _ = _evaluate(QRELS, RUN, ["iprec_at_recall", "11pt_avg"], version=version)
    q1 = per_q["q1"]
    assert [q1[f"iprec_at_recall_{p}"] for p in POINTS] == want
    # 7/11 (v10) and 6/11 (v9); trec_eval sums from the last point down
    assert q1["11pt_avg"] == sum(reversed(want)) / 11
    assert q1["11pt_avg"] == pytest.approx({10: 7 / 11, 9: 6 / 11}[version], abs=1e-15)


def test_11pt_avg_takes_points_in_the_order_given():
    # trec_eval does not sort 11pt_avg's points (iprec_at_recall's it does), and
    # walks them from the last while climbing the ranking. With "0,1" the cutoff
    # 4 > num_rel_ret scores 0 and cutoff 0 takes IP(1) = 1: (0 + 1) / 2. With
    # "1,0" cutoff 0 is met first, so the walk can no longer reach cutoff 4 and
    # both take IP(1): (1 + 1) / 2. (pytrec_eval's wrapper sorts the points; its
    # extension module does not, and agrees: see the random test below.)
    per_q, summary = _evaluate(QRELS, RUN, ["11pt_avg.1,0"])
    assert per_q["q1"]["11pt_avg_1,0"] == 1.0
    per_q, _ = _evaluate(QRELS, RUN, ["11pt_avg.0,1"])
    assert per_q["q1"]["11pt_avg_0,1"] == 0.5
    assert list(summary) == ["11pt_avg_1,0"]


def test_query_missing_from_run_with_complete():
    # -c: q2 gets trec_eval's stand-in ranking (one unjudged doc): every value 0.
    per_q, summary = _evaluate(QRELS, RUN, FAMILIES, complete=True)
    assert set(per_q["q2"].values()) == {0.0}
    assert "gm_map" not in per_q["q1"]  # trec_eval prints gm_map for 'all' only
    assert summary["map"] == AP_Q1 / 2
    # geometric mean with q2's 0 floored at 1e-5
    assert summary["gm_map"] == pytest.approx(math.sqrt(AP_Q1 * 1e-5), rel=1e-14)
    assert summary["iprec_at_recall_0.00"] == 1 / 2


def test_no_relevant_documents():
    per_q, summary = _evaluate({"q": {"a": 0}}, {"q": {"a": 2.0, "b": 1.0}}, FAMILIES)
    assert set(per_q["q"].values()) == {0.0}
    assert summary["gm_map"] == pytest.approx(1e-5, rel=1e-12)


def test_empty_rankings_from_max_docs_zero():
    per_q, _ = _evaluate(QRELS, RUN, FAMILIES, max_docs=0)
    assert set(per_q["q1"].values()) == {0.0}


def test_ties_are_broken_by_docno_descending():
    # Equal scores rank d3, d2, d1: the relevant d1 is at rank 3.
    per_q, _ = _evaluate({"q": {"d1": 1, "d3": 0}}, {"q": {"d1": 1.0, "d2": 1.0, "d3": 1.0}},
                         ["map", "recip_rank", "map_cut.1,3"])
    assert per_q["q"] == {"map": 1 / 3, "recip_rank": 1 / 3, "map_cut_1": 0.0,
                          "map_cut_3": 1 / 3}


def test_graded_relevance_level():
    # -l2: only grade >= 2 is relevant; c (grade 2) at rank 2 of [a (1), c (2)].
    per_q, _ = _evaluate({"q": {"a": 1, "c": 2}}, {"q": {"a": 2.0, "c": 1.0}},
                         ["map", "recip_rank"], relevance_level=2)
    assert per_q["q"] == {"map": 1 / 2, "recip_rank": 1 / 2}


def _c_sum(values) -> float:
    """``for (...) s += v;`` (Python's sum() compensates from 3.12 on)."""
    total = 0.0
    for v in values:
        total += float(v)
    return total


def test_sums_are_sequential_like_trec_eval():
    # numpy's pairwise sum and a C loop differ in the last bits; trec_eval's
    # printed 4th decimal depends on the loop's.
    rng = np.random.default_rng(7)
    values = rng.random(1000) / 7
    assert float(values[3:].sum()) != _c_sum(values[3:])  # the difference is real here
    # few long segments
    offsets = np.array([0, 0, 3, 1000])
    assert segment_total(values, offsets).tolist() == [0.0, _c_sum(values[:3]),
                                                       _c_sum(values[3:])]
    assert segment_running_sum(values, offsets)[-1] == _c_sum(values[3:])
    # many short segments take the other path
    offsets = np.array([0, *range(1, 200), 1000])
    want = [_c_sum(values[lo:hi]) for lo, hi in zip(offsets[:-1], offsets[1:])]
    assert segment_total(values, offsets).tolist() == want


def test_segment_suffix_max():
    values = np.array([0.1, 0.5, 0.2, 0.9, 0.3, 0.4, 0.8])
    offsets = np.array([0, 3, 3, 7])
    assert segment_suffix_max(values, offsets).tolist() == [0.5, 0.5, 0.2, 0.9, 0.8, 0.8, 0.8]


# ---- trec_eval 9.x through pytrec_eval ----------------------------------------
def _dicts(qrels_path, run_path):
    qrels, run = defaultdict(dict), defaultdict(dict)
    for line in open(qrels_path):
        if line.strip() and not line.startswith("#"):
            q, _, d, g = line.split()
            qrels[q][d] = int(g)
    for line in open(run_path):
        q, _, d, _, s, _ = line.split()[:6]
        run[q][d] = float(s)
    return qrels, run


@pytest.mark.parametrize(("qrels_file", "run_file", "level"), [
    ("qrels.test", "results.test", 1),
    ("qrels.rel_level", "results.test", 2),
    ("qrels.comment.test", "results.comment.test", 1),
])
def test_version_9_agrees_with_pytrec_eval(trec_eval_dir, qrels_file, run_file, level):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    measures = ["map", "recip_rank", "iprec_at_recall", "11pt_avg", "map_cut", "set_map"]
    qrels, run = _dicts(trec_eval_dir / qrels_file, trec_eval_dir / run_file)
    theirs = pytrec_eval.RelevanceEvaluator(qrels, set(measures),
                                            relevance_level=level).evaluate(run)
    q, r = read_trec_qrels(trec_eval_dir / qrels_file), read_trec_run(trec_eval_dir / run_file)
    ours = evaluate_trec(q, r, measures, relevance_level=level, version=9).per_query()
    ours10 = evaluate_trec(q, r, measures, relevance_level=level).per_query()
    compared = differ_in_10 = 0
    for qid, values in theirs.items():
        for name, value in values.items():
            assert abs(ours[qid][name] - value) <= 1e-9, (qid, name)
            compared += 1
            if abs(ours10[qid][name] - value) > 1e-9:
                assert name.startswith(("iprec_at_recall", "11pt_avg")), (qid, name)
                differ_in_10 += 1
    assert compared == len(theirs) * 24  # 11 iprec, 9 map_cut, map, rr, 11pt_avg, set_map
    assert differ_in_10 > 0  # the Dec 2023 cutoff change shows on these files


def test_version_9_agrees_with_pytrec_eval_on_random_inputs():
    pytest.importorskip("pytrec_eval")
    # The extension module, not pytrec_eval's wrapper: the wrapper sorts
    # parameters as strings, which hides 11pt_avg's order dependence.
    from pytrec_eval_ext import RelevanceEvaluator

    points = "0.5,0.25,0.9,0,1,0.33,1.5,-0.2,0.5"
    specs = ["map", "recip_rank", "iprec_at_recall", "iprec_at_recall.0.05,0.33,0.5,0.67,1",
             "map_cut.1,2,3,5,10", "set_map", f"11pt_avg.{points}"]
    rng = random.Random(20240602)
    compared = 0
    for _ in range(60):
        qrels, run = {}, {}
        for q in range(rng.randint(1, 4)):
            docs = [f"d{i}" for i in range(rng.randint(1, 40))]
            qrels[f"q{q}"] = {d: rng.choice([-1, 0, 0, 1, 2, 3]) for d in docs
                              if rng.random() < 0.6} or {docs[0]: 1}
            run[f"q{q}"] = {d: float(rng.randint(0, 5)) for d in docs
                            if rng.random() < 0.7} or {docs[0]: 1.0}
        level = rng.choice([1, 2])
        for spec in specs:
            theirs = RelevanceEvaluator(qrels, {spec}, level, False).evaluate(run)
            ours, _ = _evaluate(qrels, run, [spec], relevance_level=level, version=9)
            for qid, values in theirs.items():
                for name, value in values.items():
                    name = f"11pt_avg_{points}" if name == "11pt_avg" else name
                    assert abs(ours[qid][name] - value) <= 1e-12, (spec, qid, name)
                    compared += 1
    assert compared > 1500
