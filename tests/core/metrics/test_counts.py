"""Counting families (runid, num_*, num_nonrel_judged_ret, relstring) against
trec_eval 10.0's expected outputs, hand-calculated cases and pytrec_eval."""

from __future__ import annotations

import random

import pytest

from ragbench.core.evaluate import evaluate_trec
from ragbench.core.io.trec_eval_text import format_trec_eval
from ragbench.core.qrels import Qrels
from ragbench.core.run import Run

FAMILIES = ["runid", "num_q", "num_ret", "num_rel", "num_rel_ret",
            "num_nonrel_judged_ret", "relstring"]

# 'all' rows: runid, num_q, num_ret, num_rel, num_rel_ret (+ num_nonrel_judged_ret
# with all_trec); per query (-q): the three num_* with a per-query row,
# num_nonrel_judged_ret and relstring, for 3 queries.
ORACLE_ROWS = {
    "out.test": 5,
    "out.comment.test": 5,
    "out.test.a": 6,
    "out.test.aq": 6 + 3 * 5,
    "out.test.aqc": 6 + 3 * 5,
    "out.test.aqcM": 6 + 3 * 5,
    "out.test.aql": 6 + 3 * 5,
}


@pytest.mark.parametrize("out_file", sorted(ORACLE_ROWS))
def test_matches_trec_eval_expected_output(trec_oracle, out_file):
    expected, actual = trec_oracle.compare(out_file, FAMILIES)
    assert len(expected) == ORACLE_ROWS[out_file]
    assert actual == expected


def test_relstring_printed_as_trec_eval_does(trec_oracle):
    # out.test.aql, -mrelstring.20 -l2: the row is named relstring_20, quoted,
    # with '-' for docs not in the qrels, and no 'all' row.
    expected, actual = trec_oracle.compare("out.test.aql", ["relstring"])
    assert actual[("relstring_20", "301")] == "'0000011000000--10101'"
    assert not any(qid == "all" for _, qid in expected)


def _evaluate(qrels, run, specs, **kw):
    return evaluate_trec(Qrels.from_dict(qrels), Run.from_dict(run, name="r"), specs, **kw)


# Ranked: a (-1 in qrels: unjudged), b (1), c (12), e (not in qrels), f (0), g (3).
QRELS = {"q": {"a": -1, "b": 1, "c": 12, "f": 0, "g": 3, "h": 1}, "z": {"y": 1}}
RUN = {"q": {"a": 6.0, "b": 5.0, "c": 4.0, "e": 3.0, "f": 2.0, "g": 1.0}}


def test_relstring_characters_and_lengths():
    ev = _evaluate(QRELS, RUN, ["relstring"])
    # digit for grades 0-9, '>' above 9, '-' not in qrels, '.' negative grade
    assert ev.per_query()["q"]["relstring"] == "'.1>-03'"
    ev = _evaluate(QRELS, RUN, ["relstring.2.7"])  # (long)2.7 = 2
    assert ev.per_query()["q"]["relstring_2.7"] == "'.1'"
    ev = _evaluate(QRELS, RUN, ["relstring.0"])
    assert ev.per_query()["q"]["relstring_0"] == "''"
    assert ev.summary() == {}
    report = format_trec_eval(_evaluate(QRELS, RUN, ["relstring"]), per_query=True)
    assert report == "relstring             \tq\t'.1>-03'\n"


def test_relstring_for_query_missing_from_run():
    # trec_eval 10 -c ranks one stand-in document not in the qrels for z ('-'),
    # then blanks the string only for the row named plain 'relstring'.
    ev = _evaluate(QRELS, RUN, ["relstring"], complete=True)
    assert ev.per_query()["z"]["relstring"] == "''"
    ev = _evaluate(QRELS, RUN, ["relstring.3"], complete=True)
    assert ev.per_query()["z"]["relstring_3"] == "'-'"


def test_num_nonrel_judged_ret():
    # Judged (grade >= 0) below the level: level 1 -> f; level 2 -> b, f.
    # The unjudged a and the unpooled e never count.
    ev = _evaluate(QRELS, RUN, ["num_nonrel_judged_ret", "num_rel_ret"], complete=True)
    assert ev.per_query()["q"] == {"num_nonrel_judged_ret": 1, "num_rel_ret": 3}
    assert ev.per_query()["z"] == {"num_nonrel_judged_ret": 0, "num_rel_ret": 0}
    assert ev.summary() == {"num_nonrel_judged_ret": 1, "num_rel_ret": 3}
    ev = _evaluate(QRELS, RUN, ["num_nonrel_judged_ret"], relevance_level=2)
    assert ev.per_query()["q"]["num_nonrel_judged_ret"] == 2


def test_num_nonrel_judged_ret_agrees_with_pytrec_eval():
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = random.Random(7)
    compared = 0
    for _ in range(40):
        qrels, run = {}, {}
        for q in range(rng.randint(1, 4)):
            docs = [f"d{i}" for i in range(rng.randint(1, 30))]
            qrels[f"q{q}"] = {d: rng.choice([-1, 0, 0, 1, 2]) for d in docs
                              if rng.random() < 0.6} or {docs[0]: 1}
            run[f"q{q}"] = {d: float(rng.randint(0, 5)) for d in docs
                            if rng.random() < 0.7} or {docs[0]: 1.0}
        level = rng.choice([1, 2])
        theirs = pytrec_eval.RelevanceEvaluator(
            qrels, {"num_nonrel_judged_ret"}, relevance_level=level).evaluate(run)
        ours = _evaluate(qrels, run, ["num_nonrel_judged_ret"], relevance_level=level,
                         version=9).per_query()
        for qid, values in theirs.items():
            assert ours[qid]["num_nonrel_judged_ret"] == values["num_nonrel_judged_ret"]
            compared += 1
    assert compared > 50
