"""unj (trec_eval 10's unjudged-at-k): expected outputs and hand calculations."""

from __future__ import annotations

import pytest

from trec_cases import per_query as _evaluate

ORACLE_ROWS = {
    "out.test.a": 3,  # unj_5, unj_10, unj_20
    "out.test.aq": 4 * 3,
    "out.test.aqc": 4 * 3,
    "out.test.aqcM": 4 * 3,
    "out.test.aql": 4 * 3,
}


@pytest.mark.parametrize("out_file", sorted(ORACLE_ROWS))
def test_matches_trec_eval_expected_output(trec_oracle, out_file):
    expected, actual = trec_oracle.compare(out_file, ["unj"])
    assert len(expected) == ORACLE_ROWS[out_file]
    assert actual == expected



def test_hand_calculated():
    # Ranked: d (judged -1), b (1), a (2), x (not in qrels), c (0): d and x are
    # unjudged; a grade of 0 is a judgment.
    qrels = {"q": {"a": 2, "b": 1, "c": 0, "d": -1}}
    run = {"q": {"d": 5.0, "b": 4.0, "a": 3.0, "x": 2.0, "c": 1.0}}
    q = _evaluate(qrels, run, ["unj"])["q"]
    assert q == {"unj_5": 2 / 5, "unj_10": 2 / 10, "unj_20": 2 / 20}
    q = _evaluate(qrels, run, ["unj.4,1,3"])["q"]  # cutoffs are sorted
    assert q == {"unj_1": 1 / 1, "unj_3": 1 / 3, "unj_4": 2 / 4}


def test_short_ranking_counts_missing_ranks_as_judged():
    # m_unjudged.c's example: 15 retrieved, 4 unjudged -> unj_20 = 4/20.
    judged = {f"d{i}": 0 for i in range(11)}
    run = {f"d{i}": float(20 - i) for i in range(15)}
    q = _evaluate({"q": judged}, {"q": run}, ["unj"])["q"]
    assert q["unj_20"] == 0.2
    assert q["unj_10"] == 0.0  # d0..d9 all judged
    assert q["unj_5"] == 0.0


def test_empty_ranking():
    q = _evaluate({"q1": {"a": 1}, "q2": {"a": 1}}, {"q2": {"b": 1.0}}, ["unj"],
                  complete=True)
    assert q["q1"] == {"unj_5": 0.0, "unj_10": 0.0, "unj_20": 0.0}
    assert q["q2"]["unj_5"] == 1 / 5
