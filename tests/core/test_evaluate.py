"""evaluate() with ragbench measures gives trec_eval's numbers: each measure is
checked per query against trec_eval's own expected output for its equivalent."""

from __future__ import annotations

import pytest

from ragbench.core import evaluate, evaluate_trec, read_trec_qrels, read_trec_run
from ragbench.core.errors import EvaluationError, MeasureError
from ragbench.core.qrels import Qrels
from ragbench.core.run import Run


def trec_values(path, name):
    out = {}
    for line in path.read_text().splitlines():
        measure, qid, value = line.split()
        if measure == name:
            out[qid] = value
    return out


@pytest.fixture(scope="module")
def collection(trec_eval_dir):
    return (read_trec_qrels(trec_eval_dir / "qrels.test"),
            read_trec_run(trec_eval_dir / "results.test"))


@pytest.mark.parametrize(("measure", "trec"), [
    ("nDCG@10", "ndcg_cut_10"), ("nDCG", "ndcg"), ("P@5", "P_5"), ("P", "set_P"),
    ("R@100", "recall_100"), ("R", "set_recall"), ("AP", "map"), ("AP@100", "map_cut_100"),
    ("RR", "recip_rank"), ("Rprec", "Rprec"), ("Bpref", "bpref"), ("infAP", "infAP"),
    ("Success@10", "success_10"), ("RBP", "rbp"), ("NumRet", "num_ret"),
    ("NumRel", "num_rel"), ("NumRelRet", "num_rel_ret"),
])
def test_measure_equals_its_trec_eval_equivalent(trec_eval_dir, collection, measure, trec):
    ev = evaluate(*collection, [measure])
    expected = trec_values(trec_eval_dir / "out.test.aq", trec)
    col = ev.columns[0]
    got = {q: (f"{v:.4f}" if col.value_type == "float" else str(int(v)))
           for q, v in zip(ev.query_ids, col.per_query)}
    got["all"] = f"{col.summary:.4f}" if col.value_type == "float" else str(col.summary)
    assert got == expected


def test_rel_parameter_is_trec_eval_l(trec_eval_dir):
    qrels = read_trec_qrels(trec_eval_dir / "qrels.rel_level")
    run = read_trec_run(trec_eval_dir / "results.test")
    ev = evaluate(qrels, run, ["P(rel=2)@5", "AP(rel=2)"])
    expected_p = trec_values(trec_eval_dir / "out.test.aql", "P_5")
    expected_ap = trec_values(trec_eval_dir / "out.test.aql", "map")
    assert {q: f"{v:.4f}" for q, v in zip(ev.query_ids, ev["P(rel=2)@5"].per_query)} == \
        {q: v for q, v in expected_p.items() if q != "all"}
    assert f"{ev['AP(rel=2)'].summary:.4f}" == expected_ap["all"]


def test_cutoff_measures_without_trec_eval_name_follow_minus_M(collection):
    # RR@10 is recip_rank over the top 10 only: trec_eval -M10.
    ev = evaluate(*collection, ["RR@10", "Judged@10"])
    cut = evaluate_trec(*collection, ["recip_rank", "unj.10"], max_docs=10)
    assert ev["RR@10"].per_query.tolist() == cut["recip_rank"].per_query.tolist()
    # Judged@10 is the complement of trec_eval's unj_10 (all rankings have >= 10 docs).
    assert [round(1 - v, 12) for v in cut["unj_10"].per_query] == \
        [round(v, 12) for v in ev["Judged@10"].per_query]


def test_hand_calculated_small_case():
    # Ranking d3 (rel 2), d1 (unjudged), d2 (rel 0), d4 (rel 1); d5 (rel 1) not retrieved.
    qrels = Qrels.from_dict({"q": {"d2": 0, "d3": 2, "d4": 1, "d5": 1}})
    run = Run.from_dict({"q": {"d3": 4.0, "d1": 3.0, "d2": 2.0, "d4": 1.0}})
    ev = evaluate(qrels, run, ["P@2", "AP", "RR", "R@4", "Judged@4", "P(rel=2)@2"])
    s = ev.summary()
    assert s["P@2"] == pytest.approx(1 / 2)             # d3 relevant, d1 not
    assert s["AP"] == pytest.approx((1 / 1 + 2 / 4) / 3)  # relevant at ranks 1, 4; R = 3
    assert s["RR"] == pytest.approx(1.0)
    assert s["R@4"] == pytest.approx(2 / 3)
    assert s["Judged@4"] == pytest.approx(3 / 4)        # d1 unjudged
    assert s["P(rel=2)@2"] == pytest.approx(1 / 2)      # only d3 has grade >= 2


def test_errors_are_clear():
    qrels = Qrels.from_dict({"q": {"d": 1}})
    with pytest.raises(EvaluationError, match="no query in common"):
        evaluate(qrels, Run.from_dict({"other": {"d": 1.0}}), ["AP"])
    with pytest.raises(MeasureError, match="no measure given"):
        evaluate(qrels, Run.from_dict({"q": {"d": 1.0}}), [])
