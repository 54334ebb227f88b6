"""rbp and rbp_resid (trec_eval 10 only): expected outputs, hand calculations,
and a line-by-line port of m_rbp.c / m_rbp_resid.c on random rankings."""

from __future__ import annotations

import random

import pytest

from ragbench.core.qrels import Qrels
from ragbench.core.ranking import judge
from ragbench.core.run import Run
from trec_cases import per_query as _evaluate

FAMILIES = ["rbp", "rbp_resid"]

ORACLE_ROWS = {
    "out.test.a": 2,
    "out.test.aq": 4 * 2,
    "out.test.aqc": 4 * 2,
    "out.test.aqcM": 4 * 2,
    "out.test.aql": 4 * 2,  # grades 0..4: gains scaled per query by its top grade
}


@pytest.mark.parametrize("out_file", sorted(ORACLE_ROWS))
def test_matches_trec_eval_expected_output(trec_oracle, out_file):
    expected, actual = trec_oracle.compare(out_file, FAMILIES)
    assert len(expected) == ORACLE_ROWS[out_file]
    assert actual == expected



# Ranked: d (judged -1: unjudged), b (1), a (2), x (not in qrels), c (0).
QRELS = {"q": {"a": 2, "b": 1, "c": 0, "d": -1, "e": 1}}
RUN = {"q": {"d": 5.0, "b": 4.0, "a": 3.0, "x": 2.0, "c": 1.0}}


def test_hand_calculated():
    q = _evaluate(QRELS, RUN, ["rbp", "rbp_resid"])["q"]  # one parameter set per family
    q.update(_evaluate(QRELS, RUN, ["rbp_resid.p=0.5", "rbp.p=0.5"])["q"])
    # Gains 0, 1, 2 lie outside [0, 1]: scaled to 0, 0.5, 1.
    # rbp = (1 - p) * (0.5 * p**1 + 1 * p**2)
    assert q["rbp"] == pytest.approx(0.1 * (0.5 * 0.9 + 1 * 0.81))
    assert q["rbp_p=0.5"] == pytest.approx(0.5 * (0.5 * 0.5 + 1 * 0.25))
    # resid = p**5 + (1 - p) * (p**0 + p**3): ranks 1 (d) and 4 (x) unjudged.
    assert q["rbp_resid"] == pytest.approx(0.9**5 + 0.1 * (1 + 0.9**3))
    assert q["rbp_resid_p=0.5"] == pytest.approx(0.5**5 + 0.5 * (1 + 0.5**3))


def test_gain_parameters_and_scaling():
    q = _evaluate(QRELS, RUN, ["rbp.1=3"])["q"]
    # Gains 0, 3, 2 -> / 3: b 1.0 at rank 2, a 2/3 at rank 3.
    assert q["rbp_1=3"] == pytest.approx(0.1 * (1.0 * 0.9 + 2 / 3 * 0.81))
    q = _evaluate(QRELS, RUN, ["rbp.0=-1"])["q"]
    # Gains -1, 1, 2 -> (g + 1) / 3: c 0, b 2/3, a 1; unjudged docs stay at 0.
    assert q["rbp_0=-1"] == pytest.approx(0.1 * (2 / 3 * 0.9 + 1 * 0.81))


def test_binary_gains_are_not_scaled():
    q = _evaluate({"q": {"a": 1, "b": 0}}, {"q": {"b": 2.0, "a": 1.0}}, FAMILIES)["q"]
    assert q["rbp"] == pytest.approx(0.1 * 0.9)
    assert q["rbp_resid"] == 0.0  # nothing unjudged


def test_all_unjudged_leaves_everything_open():
    # resid = p**n + (1 - p) * sum_{t<n} p**t = 1
    q = _evaluate({"q": {"z": 1}}, {"q": {"a": 3.0, "b": 2.0, "c": 1.0}}, FAMILIES)["q"]
    assert q["rbp"] == 0.0
    assert q["rbp_resid"] == pytest.approx(1.0)


def test_empty_ranking():
    q = _evaluate({"q1": {"a": 1}, "q2": {"a": 1}}, {"q2": {"a": 1.0}}, FAMILIES,
                  complete=True)
    assert q["q1"] == {"rbp": 0.0, "rbp_resid": 0.0}


def _c_rbp(rels, rel_levels, p):
    """m_rbp.c and m_rbp_resid.c with default gains, for one query."""
    levels = max((i + 1 for i, n in enumerate(rel_levels) if n), default=0)
    top = max([0.0, *range(levels)])
    gain = {i: (i / top if top > 1 else float(i)) for i in range(levels)}
    total, resid, unj, cur = 0.0, 0.0, 0, 1.0
    for r in rels:
        g = gain.get(r, 0.0)
        if g != 0:
            total += g * cur
        if r < 0:
            unj += 1
            resid += cur
        cur *= p
    return (1.0 - p) * total, (cur + (1 - p) * resid if unj else 0.0)


@pytest.mark.parametrize("p", [0.9, 0.5, 0.99])
@pytest.mark.parametrize("seed", range(3))
def test_agrees_with_a_port_of_the_c(seed, p):
    rng = random.Random(seed)
    qrels, run = {}, {}
    for q in range(20):
        docs = [f"d{i}" for i in range(60)]
        qrels[f"q{q}"] = {d: rng.choice([-1, 0, 0, 1, 2, 3])
                          for d in rng.sample(docs, rng.randint(1, 40))}
        run[f"q{q}"] = {d: float(rng.randint(0, 20)) for d in rng.sample(docs, 50)}
    rr = judge(Qrels.from_dict(qrels), Run.from_dict(run))
    ours = _evaluate(qrels, run, [f"rbp.p={p}", f"rbp_resid.p={p}"])
    for i, qid in enumerate(rr.query_ids):
        rels = rr.rel[rr.offsets[i]:rr.offsets[i + 1]].tolist()
        want_rbp, want_resid = _c_rbp(rels, rr.rel_levels[i].tolist(), p)
        assert ours[qid][f"rbp_p={p}"] == pytest.approx(want_rbp, rel=1e-13, abs=1e-15)
        assert ours[qid][f"rbp_resid_p={p}"] == pytest.approx(want_resid, rel=1e-13,
                                                              abs=1e-15)
