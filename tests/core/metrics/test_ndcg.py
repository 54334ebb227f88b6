"""Cumulative-gain families (ndcg, dcg, ideal_dcg, ndcg_cut, ndcg_rel, Rndcg,
binG, G) and ndcg_exp: trec_eval 10.0's expected outputs, hand calculations,
pytrec_eval (trec_eval 9.x), a line-by-line port of trec_eval's C loops for gain
parameters (which no expected output exercises), and ranx for Burges gain."""

from __future__ import annotations

import random
from math import log2

import numpy as np
import pytest

from ragbench.core.errors import MeasureError
from ragbench.core.evaluate import evaluate_trec
from ragbench.core.metrics.ndcg import ndcg_exp
from ragbench.core.qrels import Qrels
from ragbench.core.ranking import judge
from ragbench.core.run import Run
from trec_cases import evaluate_dicts as _evaluate

FAMILIES = ["ndcg", "ndcg_cut", "ndcg_rel", "Rndcg", "binG", "G"]

# binG, G, ndcg, ndcg_rel, Rndcg and 9 ndcg_cut = 14 rows per query or 'all'
# (3 queries + all); meas_params: ndcg_1=3,2=9,4=4.5 and ndcg_cut_10,20,23.
ORACLE_ROWS = {
    "out.test.a": 14,
    "out.test.aq": 4 * 14,
    "out.test.aqc": 4 * 14,
    "out.test.aqcM": 4 * 14,
    "out.test.aql": 4 * 14,
    "out.test.meas_params": 4 * 4,
}


@pytest.mark.parametrize("out_file", sorted(ORACLE_ROWS))
def test_matches_trec_eval_expected_output(trec_oracle, out_file):
    expected, actual = trec_oracle.compare(out_file, FAMILIES)
    assert len(expected) == ORACLE_ROWS[out_file]
    assert actual == expected


def test_cutoff_names_follow_trec_eval(trec_oracle):
    # -mndcg_cut.10,20,23.4: atol turns 23.4 into 23.
    _, actual = trec_oracle.compare("out.test.meas_params", ["ndcg_cut", "ndcg"])
    assert {name for name, _ in actual} == {"ndcg_cut_10", "ndcg_cut_20", "ndcg_cut_23",
                                            "ndcg_1=3,2=9,4=4.5"}



# q: a=2, b=1, c=0, d judged -1 (unjudged), e=1 (never retrieved). Ranked:
# d, b, a, x (not in qrels), c -> relevance list [-2, 1, 2, -1, 0].
QRELS = {"q": {"a": 2, "b": 1, "c": 0, "d": -1, "e": 1}}
RUN = {"q": {"d": 5.0, "b": 4.0, "a": 3.0, "x": 2.0, "c": 1.0}}
DCG = 1 / log2(3) + 2 / log2(4)  # b at rank 2, a at rank 3
IDEAL = [2, 1, 1]  # levels best first: a; b, e
IDCG = 2 / log2(2) + 1 / log2(3) + 1 / log2(4)


def test_hand_calculated_graded_ranking():
    q, _ = _evaluate(QRELS, RUN, FAMILIES + ["dcg", "ideal_dcg", "ndcg_cut.2"])
    q = q["q"]
    assert q["dcg"] == pytest.approx(DCG)
    assert q["ideal_dcg"] == pytest.approx(IDCG)
    assert q["ndcg"] == pytest.approx(DCG / IDCG)
    assert q["ndcg_cut_2"] == pytest.approx((1 / log2(3)) / (2 + 1 / log2(3)))
    # binG: relevant b and a each have one non-relevant doc (d) above them;
    # num_rel = 3 (a, b, e).
    assert q["binG"] == pytest.approx((1 / log2(3) + 1 / log2(3)) / 3)
    # G: cost per rank max(ideal gain, 1) = 2, 1, 1, 1, 1 -> cumulated 2, 3, 4 ...;
    # results' gain cumulated 0, 1, 3 ... b: 1 / log2(2 + 3 - 1); a: 2 / log2(2 + 4 - 3).
    assert q["G"] == pytest.approx((1 / log2(4) + 2 / log2(3)) / sum(IDEAL))
    # ndcg_rel: R = 3; b: DCG@2 / IDCG@2, a: DCG@3 / IDCG@3, one more (e) at DCG / IDCG.
    idcg2 = 2 + 1 / log2(3)
    assert q["ndcg_rel"] == pytest.approx(((1 / log2(3)) / idcg2 + 2 * DCG / IDCG) / 3)
    # Rndcg: ideal gain changes at rank 1 (2 -> 1; DCG@1 = 0), ends at R = 3, and
    # num_ret 5 > R + 1 adds the whole ranking: (0 + DCG/IDCG + DCG/IDCG) / 3.
    assert q["Rndcg"] == pytest.approx(2 * DCG / IDCG / 3)


def test_relevance_level_moves_only_the_binary_measures():
    q, _ = _evaluate(QRELS, RUN, ["ndcg", "binG", "Rndcg"], relevance_level=2)
    q = q["q"]
    assert q["ndcg"] == pytest.approx(DCG / IDCG)  # gains stay the levels
    # binG: only a is relevant; two non-relevant docs (d, b) above it; num_rel 1.
    assert q["binG"] == pytest.approx(1 / log2(4))


def test_gain_parameters():
    # -m ndcg.1=3,2=9: gains b, e -> 3, a -> 9; ideal [9, 3, 3].
    q, _ = _evaluate(QRELS, RUN, ["ndcg.1=3,2=9", "dcg.1=3,2=9", "ideal_dcg.1=3,2=9"])
    q = q["q"]
    dcg = 3 / log2(3) + 9 / log2(4)
    idcg = 9 + 3 / log2(3) + 3 / log2(4)
    assert q["dcg_1=3,2=9"] == pytest.approx(dcg)
    assert q["ideal_dcg_1=3,2=9"] == pytest.approx(idcg)
    assert q["ndcg_1=3,2=9"] == pytest.approx(dcg / idcg)


def test_negative_gain_and_gain_for_unjudged():
    # 2=-1 makes a cost; -1=0.5 gives documents absent from the qrels a gain
    # (trec_eval accepts any integer level). Ideal: only b, e with gain 1.
    q, _ = _evaluate(QRELS, RUN, ["dcg.2=-1,-1=0.5", "ideal_dcg.2=-1,-1=0.5"])
    q = q["q"]
    assert q["dcg_2=-1,-1=0.5"] == pytest.approx(1 / log2(3) - 1 / log2(4) + 0.5 / log2(5))
    assert q["ideal_dcg_2=-1,-1=0.5"] == pytest.approx(1 + 1 / log2(3))


def test_gain_order_uses_trec_evals_truncating_comparator():
    # comp_rel_gain returns (int)(0.5 - 0) == 0: level 1 (gain 0.5) and level 0
    # (gain 0) compare equal, the stable sort keeps level 0 last, the ideal walk
    # starts at gain 0 and stops at once: ideal DCG 0, so ndcg 0 though dcg > 0.
    q, _ = _evaluate({"q": {"a": 1, "b": 0}}, {"q": {"a": 2.0, "b": 1.0}},
                     ["ndcg.1=0.5", "dcg.1=0.5"])
    assert q["q"]["dcg_1=0.5"] == pytest.approx(0.5)
    assert q["q"]["ndcg_1=0.5"] == 0.0


def test_non_integer_gain_names_are_ignored_in_10_but_not_in_9():
    qrels, run = {"q": {"a": 1, "b": 0}}, {"q": {"b": 2.0, "a": 1.0}}
    q10, _ = _evaluate(qrels, run, ["dcg.p=0.5"])
    assert q10["q"]["dcg_p=0.5"] == pytest.approx(1 / log2(3))
    # 9.x: atol("p") = 0, so level 0 (b, rank 1) gains 0.5, stored as a C float.
    q9, _ = _evaluate(qrels, run, ["dcg.p=0.1"], version=9)
    assert q9["q"]["dcg_p=0.1"] == pytest.approx(float(np.float32(0.1)) + 1 / log2(3),
                                                 abs=1e-12)


def test_empty_ranking_and_no_relevant_documents():
    qrels = {"q1": {"a": 1}, "q2": {"a": 0, "b": 0}}
    run = {"q2": {"a": 1.0}}
    q, _ = _evaluate(qrels, run, FAMILIES, complete=True)
    assert set(q["q1"].values()) == {0.0}  # not retrieved at all (-c)
    assert set(q["q2"].values()) == {0.0}  # nothing relevant


def test_ties_are_broken_by_docno_descending():
    # Equal scores: trec_eval ranks "b" before "a".
    q, _ = _evaluate({"q": {"a": 0, "b": 1}}, {"q": {"a": 1.0, "b": 1.0}},
                     ["ndcg", "ndcg_cut.1"])
    assert q["q"]["ndcg"] == 1.0
    assert q["q"]["ndcg_cut_1"] == 1.0


def test_rndcg_is_nan_like_trec_eval_when_no_gain_is_positive():
    # -l0 makes the grade-0 doc relevant (num_rel 1) but its gain is 0: trec_eval
    # divides 0 by 0 points.
    q, _ = _evaluate({"q": {"a": 0}}, {"q": {"a": 1.0}}, ["Rndcg"], relevance_level=0)
    assert np.isnan(q["q"]["Rndcg"])


def test_bad_parameters_are_refused():
    with pytest.raises(MeasureError):
        _evaluate(QRELS, RUN, ["ndcg.1"])
    with pytest.raises(MeasureError):
        _evaluate(QRELS, RUN, ["ndcg_cut.0"])


# ---- trec_eval 9.x through pytrec_eval ---------------------------------------


def _random_case(seed: int, nq: int = 25):
    rng = random.Random(seed)
    qrels, run = {}, {}
    for q in range(nq):
        docs = [f"d{i}" for i in range(40)]
        qrels[f"q{q}"] = {d: rng.choice([-1, 0, 0, 0, 1, 1, 2, 3, 5])
                          for d in rng.sample(docs, rng.randint(1, 30))}
        run[f"q{q}"] = {d: float(rng.randint(0, 10))  # many ties
                        for d in rng.sample(docs, rng.randint(1, 35))}
    return qrels, run


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("level", [1, 2])
def test_agrees_with_pytrec_eval(seed, level):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    qrels, run = _random_case(seed)
    theirs = pytrec_eval.RelevanceEvaluator(qrels, set(FAMILIES),
                                            relevance_level=level).evaluate(run)
    ours, _ = _evaluate(qrels, run, FAMILIES, relevance_level=level, version=9)
    compared = 0
    for qid, values in theirs.items():
        for name, value in values.items():
            assert f"{ours[qid][name]:.4f}" == f"{value:.4f}", (qid, name)
            compared += 1
    assert compared == len(theirs) * 14


# ---- gain parameters against a line-by-line port of the C -------------------


def _c_gains(pairs, rel_levels):
    """gain_init.c setup_gains; integer gains, so the sort is a plain stable one."""
    num_rel_levels = max((i + 1 for i, n in enumerate(rel_levels) if n), default=0)
    table = [[int(k), v, 0] for k, v in pairs if k.lstrip("+-").isdigit()]
    for i in range(num_rel_levels):
        for row in table:
            if row[0] == i:
                row[2] = rel_levels[i]
                break
        else:
            table.append([i, float(i), rel_levels[i]])
    return sorted(table, key=lambda r: r[1])


def _c_gain(table, rel):
    return next((r[1] for r in table if r[0] == rel), 0.0)


class _Ideal:
    """The ideal walk shared by m_ndcg.c, m_G.c, m_ndcg_rel.c, m_Rndcg.c."""

    def __init__(self, table):
        self.table, self.level, self.n = table, len(table) - 1, 0
        self.gain = table[-1][1] if table else 0.0

    def step(self):
        self.n += 1
        while self.level >= 0 and self.n > self.table[self.level][2]:
            self.n, self.level = 1, self.level - 1
            self.gain = self.table[self.level][1] if self.level >= 0 else 0.0
        return self.gain


def _div(a, b):
    """C double division: x/0 is inf or nan, not an exception."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(a) / np.float64(b))


def _c_measures(rels, table, num_rel):
    """te_calc_ndcg, te_calc_G, te_calc_ndcg_rel, te_calc_Rndcg for one query."""
    out = {}
    # ndcg
    idl, dcg, idcg, i = _Ideal(table), 0.0, 0.0, 0
    while i < len(rels) and idl.gain > 0:
        g = _c_gain(table, rels[i])
        dcg += g / log2(i + 2) if g else 0.0
        if idl.step() > 0:
            idcg += idl.gain / log2(i + 2)
        i += 1
    for j in range(i, len(rels)):
        g = _c_gain(table, rels[j])
        dcg += g / log2(j + 2) if g else 0.0
    i = max(i, len(rels))
    while idl.gain > 0:
        if idl.step() > 0:
            idcg += idl.gain / log2(i + 2)
        i += 1
    out["ndcg"] = dcg / idcg if idcg > 0 else 0.0
    # G
    idl, res_g, s_res, s_ideal, s_cost, i = _Ideal(table), 0.0, 0.0, 0.0, 0.0, 0
    while i < len(rels) and idl.gain > 0:
        g = _c_gain(table, rels[i])
        s_res += g
        ig = idl.step()
        s_ideal += ig if ig > 0 else 0.0
        s_cost += ig if ig >= 1.0 else 1.0
        res_g += g / log2(2 + s_cost - s_res) if g else 0.0
        i += 1
    for j in range(i, len(rels)):
        g = _c_gain(table, rels[j])
        s_res += g
        s_cost += 1.0
        res_g += g / log2(2 + s_cost - s_res) if g else 0.0
    while idl.gain > 0:
        ig = idl.step()
        s_ideal += ig if ig > 0 else 0.0
    out["G"] = res_g / s_ideal if s_ideal > 0 else 0.0
    # ndcg_rel
    idl, dcg, idcg, total, nrr, nr, i = _Ideal(table), 0.0, 0.0, 0.0, 0, 0, 0
    while i < len(rels) and idl.gain > 0:
        g = _c_gain(table, rels[i])
        dcg += g / log2(i + 2) if g else 0.0
        if idl.step() > 0:
            nr += 1
            idcg += idl.gain / log2(i + 2)
        if g > 0:
            total, nrr = total + _div(dcg, idcg), nrr + 1
        i += 1
    for j in range(i, len(rels)):
        g = _c_gain(table, rels[j])
        dcg += g / log2(j + 2) if g else 0.0
        if g > 0:
            total, nrr = total + _div(dcg, idcg), nrr + 1
    i = max(i, len(rels))
    while idl.gain > 0:
        if idl.step() > 0:
            nr += 1
            idcg += idl.gain / log2(i + 2)
        i += 1
    total += _div((nr - nrr) * dcg, idcg)
    out["ndcg_rel"] = total / nr if total > 0 else 0.0
    # Rndcg
    if num_rel == 0:
        out["Rndcg"] = 0.0
        return out
    idl, dcg, idcg, total, points, i = _Ideal(table), 0.0, 0.0, 0.0, 0, 0
    old = idl.gain
    while i < len(rels) and idl.gain > 0:
        g = _c_gain(table, rels[i])
        ig = idl.step()
        if old != ig:
            if idcg > 0:
                total, points = total + dcg / idcg, points + 1
            old = ig
        dcg += g / log2(i + 2) if g else 0.0
        idcg += ig / log2(i + 2) if ig > 0 else 0.0
        i += 1
    if i < len(rels):
        for j in range(i, len(rels)):
            g = _c_gain(table, rels[j])
            dcg += g / log2(j + 2) if g else 0.0
        if idcg > 0:
            total, points = total + dcg / idcg, points + 1
        i = len(rels)
    while idl.gain > 0:
        ig = idl.step()
        if old != ig:
            if idcg > 0:
                total, points = total + dcg / idcg, points + 1
            old = ig
        idcg += ig / log2(i + 2) if ig > 0 else 0.0
        i += 1
    out["Rndcg"] = total / points if points else float("nan")
    return out


@pytest.mark.parametrize("params", ["1=3,2=9,4=4", "0=1,3=2", "1=2,2=2,5=-3", "2=-1,-1=1",
                                    "5=0,3=7,1=7", "p=3,1=4"])
@pytest.mark.parametrize("seed", range(3))
def test_gain_parameters_agree_with_a_port_of_the_c(params, seed):
    qrels, run = _random_case(100 + seed, nq=15)
    qrels["empty"] = {"z": 2, "y": 1}  # judged, not retrieved (-c)
    rr = judge(Qrels.from_dict(qrels), Run.from_dict(run), complete=True)
    pairs = [tuple(p.split("=")) for p in params.split(",")]
    pairs = [(k, float(v)) for k, v in pairs]
    names = ["ndcg", "G", "ndcg_rel", "Rndcg"]
    ev = evaluate_trec(Qrels.from_dict(qrels), Run.from_dict(run),
                       [f"{n}.{params}" for n in names], complete=True).per_query()
    for i, qid in enumerate(rr.query_ids):
        rels = rr.rel[rr.offsets[i]:rr.offsets[i + 1]].tolist()
        table = _c_gains(pairs, rr.rel_levels[i].tolist())
        want = _c_measures(rels, table, int(rr.num_rel[i]))
        for n in names:
            got = ev[qid][f"{n}_{params}"]
            if np.isnan(want[n]):
                assert np.isnan(got), (qid, n)
            else:
                assert got == pytest.approx(want[n], rel=1e-12, abs=1e-12), (qid, n)


# ---- Burges gain ---------------------------------------------------------------


def test_ndcg_exp_hand_calculated():
    rr = judge(Qrels.from_dict(QRELS), Run.from_dict(RUN))
    # gains 2**rel - 1: b (rank 2) 1, a (rank 3) 3; ideal 3, 1, 1.
    dcg = 1 / log2(3) + 3 / log2(4)
    idcg = 3 / log2(2) + 1 / log2(3) + 1 / log2(4)
    assert ndcg_exp(rr, None)[0] == pytest.approx(dcg / idcg)
    assert ndcg_exp(rr, 2)[0] == pytest.approx((1 / log2(3)) / (3 + 1 / log2(3)))
    assert ndcg_exp(rr, 1)[0] == 0.0
    with pytest.raises(MeasureError):
        ndcg_exp(rr, 0)


@pytest.mark.filterwarnings("ignore:unsafe cast")  # inside ranx's numba kernels
@pytest.mark.parametrize("k", [3, 10, 0])
def test_ndcg_exp_agrees_with_ranx(k):
    ranx = pytest.importorskip("ranx")
    rng = random.Random(7)
    qrels, run = {}, {}
    for q in range(12):
        docs = [f"d{i}" for i in range(30)]
        qrels[f"q{q}"] = {d: rng.choice([0, 1, 2, 3]) for d in rng.sample(docs, 12)}
        qrels[f"q{q}"]["d0"] = 1  # every query has something relevant
        scores = rng.sample(range(1000), 20)  # distinct: no tie-breaking questions
        run[f"q{q}"] = {d: float(s) for d, s in zip(rng.sample(docs, 20), scores)}
    metric = f"ndcg_burges@{k}" if k else "ndcg_burges"
    theirs = ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), metric, return_mean=False)
    rr = judge(Qrels.from_dict(qrels), Run.from_dict(run))
    ours = ndcg_exp(rr, k or None)
    order = sorted(qrels)  # ranx reports queries in sorted order too
    assert [rr.query_ids.index(q) for q in order] == list(range(len(order)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
